"""Benchmark ``autodyn humanize``: throughput, memory, start-up, and decoding paths compared.

Run from the repository root::

    python scripts/bench_humanize.py                      # all 210 ASAP scores, bundled model
    python scripts/bench_humanize.py --limit 20 --preset small

Prints one JSON object. ``run`` is the end-to-end humanize of every file (the
same ``humanize.files.humanize_files`` the CLI calls, writing into a temporary folder).
``--engine`` picks how the model runs, as ``autodyn humanize --engine`` does
(auto: the numpy tagger on a CPU). ``decoding`` times, on the same sample of
windows of those files, the shipping path (the numpy engine on a CPU for a
tagger, else ``decode_cached``; both are timed when both apply) against the
uncached reference (``decode_reference``, the tests' reference decoder in
``tests/helpers.py``) and against paper-style free greedy generation of all
three tokens of every note (``free_decoding.decode_free_greedy`` on a causal
twin of the same size), and checks that shipping and reference
velocities are identical. Times
on a shared machine are noisy; the ratios, measured in one run, are not.
``startup`` times fresh processes: ``autodyn --help``, the imports of
``autodyn humanize``, and ``autodyn humanize`` on the bundled example and on
the file closest to five minutes (with ``--model``'s weights). The reference
re-runs the decoder once per note, so the comparison uses a few windows
(``--compare-windows``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
if "--spinning-threads" not in sys.argv:  # before torch loads, as `autodyn humanize` does
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (cli.common.calm_threads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `autodyn humanize` (numpy engine)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from free_decoding import decode_free_greedy, decode_reference, free_generation_twin  # noqa: E402

from autodynamics_cli.encoding import tokens as T  # noqa: E402
from autodynamics_cli.encoding.grid import note_steps  # noqa: E402
from autodynamics_cli.encoding.windows import plan_windows  # noqa: E402
from autodynamics_cli.formats.kinds import Kind  # noqa: E402
from autodynamics_cli.humanize.files import humanize_files  # noqa: E402
from autodynamics_cli.humanize.inputs import Plan, Source  # noqa: E402
from autodynamics_cli.inference.choose import TORCH_FROM_BYTES, cpu_cores  # noqa: E402
from autodynamics_cli.inference.model import Model, load_model  # noqa: E402
from autodynamics_cli.inference.numpy_engine import NumpyEngine  # noqa: E402
from autodynamics_cli.inference.predict import HOP_STEPS, model_features, window_inputs  # noqa: E402
from autodynamics_cli.inference.torch_engine import decode_cached  # noqa: E402
from autodynamics_cli.midi.read import read_midi  # noqa: E402
from autodynamics_cli.model.config import PRESETS  # noqa: E402
from autodynamics_cli.model.numpy_net import NumpyTagger  # noqa: E402
from autodynamics_cli.model.torch_net import AutoDynamics  # noqa: E402
from autodynamics_cli.musicxml import read_musicxml  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "asap-scores"


def list_files(data: Path, limit: int | None, musicxml: bool = False) -> list[Path]:
    """The folder's MIDI files (``metadata.csv`` order when there is one), or its ``.mxl``
    scores with ``musicxml``; ``limit`` evenly spread."""
    meta = data / "metadata.csv"
    if musicxml:
        files = sorted(data.rglob("*.mxl"))
    elif meta.is_file():
        with meta.open(newline="") as f:
            files = [data / row["midi_filename"] for row in csv.DictReader(f)]
    else:
        files = sorted(p for p in data.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if limit and limit < len(files):
        files = [files[i] for i in np.linspace(0, len(files) - 1, limit).round().astype(int)]
    return files


def to_numpy(model: AutoDynamics) -> NumpyEngine:
    state = {k: v.float().cpu().numpy() for k, v in model.state_dict().items()}
    return NumpyEngine(NumpyTagger(model.cfg, state), workers=cpu_cores())


def make_model(args: argparse.Namespace, device: torch.device, work_bytes: int = 0) -> tuple[Model, str]:
    """The model as ``autodyn humanize --engine`` would run it on ``work_bytes`` of MIDI."""
    if args.preset:
        torch.manual_seed(0)
        model = AutoDynamics(PRESETS[args.preset]).to(device).eval()
        numpy = args.engine == "numpy" or (
            args.engine == "auto"
            and device.type == "cpu"
            and not model.cfg.causal_decoder
            and work_bytes <= TORCH_FROM_BYTES
        )
        loaded = Model(to_numpy(model)) if numpy else Model.from_network(model, device)
        return loaded, f"preset {args.preset} (random weights)"
    return load_model(args.model, device=device.type, engine=args.engine, work_bytes=work_bytes), args.model


def timed(fn, *a, repeat: int = 1, **kw):
    """``fn``'s result and its best wall time over ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn(*a, **kw)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return out, best


def run_files(args: argparse.Namespace, files: list[Path], device: torch.device) -> dict:
    """Humanize every file once, as ``autodyn humanize FILES -o DIR`` does."""
    t0 = time.perf_counter()
    model, name = make_model(args, device, sum(f.stat().st_size for f in files))
    load_s = time.perf_counter() - t0
    first: list[float] = []
    with tempfile.TemporaryDirectory(prefix="autodyn-bench-") as out:
        # every ASAP score is called midi_score.mid: number the outputs
        kind = Kind.MUSICXML if args.musicxml else Kind.MIDI
        plans = [
            Plan(Source(f), Path(out) / f"{i:04d}_{f.stem}{f.suffix if args.musicxml else '.mid'}", kind=kind)
            for i, f in enumerate(files)
        ]

        def done(r) -> None:
            if r.ok and not first:
                first.append(time.perf_counter() - t0)

        results = humanize_files(
            model, plans, args.batch_size, on_done=done, hop=args.hop, read_ahead=not args.no_read_ahead
        )
        wall = time.perf_counter() - t0
    failed = [r.input for r in results if not r.ok]
    return {
        "model": name,
        "parameters": model.num_parameters(),
        "engine": model.engine_name,
        "wall_s": wall,
        "model_load_s": load_s,
        "first_output_s": first[0] if first else None,
        "failed": failed,
        "notes": sum(r.notes for r in results if r.ok),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }, model


def sample_windows(model: Model, scores: list, k: int, hop: int = HOP_STEPS) -> list:
    """``k`` windows spread evenly over all windows of the files, as the CLI cuts them."""
    cfg = model.cfg
    items = []
    for s in scores:
        notes = s.notes
        if len(notes) == 0:
            continue
        on, _ = note_steps(notes.onset, notes.offset)
        windows = plan_windows(on, notes.pitch, cfg.roll_steps, hop, T.max_notes(cfg.max_decoder_len))
        items.extend(window_inputs(notes, windows, cfg.roll_steps, model_features(cfg, notes)))
    if k < len(items):
        items = [items[i] for i in np.linspace(0, len(items) - 1, k).round().astype(int)]
    return items


def compare_decoding(
    model: AutoDynamics,
    items: list,
    device: torch.device,
    batch_size: int,
    engine: NumpyEngine | None = None,
    ship_numpy: bool = False,
) -> dict:
    """Shipping vs reference vs paper-style free generation, same windows, same run.

    The shipping path is ``engine`` (the numpy tagger) with ``ship_numpy``, else
    the torch path; with ``engine`` both are timed and compared. The batched paths are timed best of two; the
    reference, slow and already a long average over many decoder passes, once.
    """
    torch_vel, torch_s = timed(decode_cached, model, items, device, batch_size, repeat=2)
    ship, ship_s = torch_vel, torch_s
    extra = {}
    if engine is not None:
        np_vel, np_s = timed(engine.velocities, items, batch_size, repeat=2)
        extra = {
            "torch_s": torch_s,
            "numpy_s": np_s,
            "numpy_vs_torch_speedup": torch_s / np_s,
            "numpy_identical_to_torch": all(
                a.tolist() == b.tolist() for a, b in zip(np_vel, torch_vel, strict=True)
            ),
        }
        if ship_numpy:
            ship, ship_s = np_vel, np_s
    ref_s = 0.0
    identical = True
    for item, got in zip(items, ship, strict=True):
        ref, s = timed(decode_reference, model, item, device)
        ref_s += s
        identical &= ref.tolist() == got.tolist()
    twin = free_generation_twin(model)
    _, free_s = timed(decode_free_greedy, twin, items, device, batch_size, repeat=2)
    notes = sum(len(w) for w in items)
    path = (
        "numpy engine, one pass"
        if engine is not None and ship_numpy
        else "stepwise (KV cache)"
        if model.cfg.velocity_feedback
        else "one pass"
    )
    return {
        "windows": len(items),
        "notes": notes,
        "shipping_s": ship_s,
        "reference_s": ref_s,
        "free_greedy_s": free_s,
        "speedup_vs_reference": ref_s / ship_s,
        "speedup_vs_free_greedy": free_s / ship_s,
        "identical_to_reference": identical,
        "shipping_path": path,
        **extra,
    }


def _time_process(cmd: list[str], repeat: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=ROOT)
        best = min(best, time.perf_counter() - t)
    return best


def startup(model: str, five_minutes: Path | None, repeat: int = 3) -> dict:
    """Fresh-process times (best of ``repeat``)."""
    py = sys.executable
    example = ROOT / "examples" / "minuet_in_g.mid"
    with tempfile.TemporaryDirectory(prefix="autodyn-bench-") as out:

        def humanize(src: Path, *extra: str) -> list[str]:
            return [
                py,
                "-m",
                "autodynamics_cli",
                "humanize",
                str(src),
                "-o",
                str(Path(out) / "x.mid"),
                "--overwrite",
                "-q",
                "--model",
                model,
                *extra,
            ]

        times = (
            {}
            if five_minutes is None
            else {
                "five_minute_file": str(five_minutes),
                "humanize_five_minute_file_s": _time_process(humanize(five_minutes), repeat),
                "humanize_five_minute_file_torch_engine_s": _time_process(
                    humanize(five_minutes, "--engine", "torch"), repeat
                ),
            }
        )
        return {
            "python_s": _time_process([py, "-c", "pass"], repeat),
            "help_s": _time_process([py, "-m", "autodynamics_cli", "--help"], repeat),
            "version_s": _time_process([py, "-m", "autodynamics_cli", "--version"], repeat),
            "humanize_imports_s": _time_process(
                [
                    py,
                    "-c",
                    "import autodynamics_cli.cli.app, autodynamics_cli.humanize.files, "
                    "autodynamics_cli.inference.numpy_engine",
                ],
                repeat,
            ),
            "torch_import_s": _time_process([py, "-c", "import torch"], repeat),
            "humanize_example_s": _time_process(humanize(example), repeat),
            **times,
        }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of MIDI files")
    p.add_argument("--limit", type=int, default=None, help="use N files, evenly spread")
    p.add_argument("--model", default="default", help="weights file or 'default'")
    p.add_argument("--preset", choices=sorted(PRESETS), help="random weights of this preset instead")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument(
        "--engine",
        default="auto",
        choices=["auto", "numpy", "torch"],
        help="as `autodyn humanize --engine` (auto: numpy for a tagger on the CPU)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--hop",
        type=int,
        default=None,
        help="window hop in 50 ms steps (default 128; 256: disjoint windows, faster, approximate)",
    )
    p.add_argument(
        "--compare-windows", type=int, default=8, help="windows for the decoding-path comparison (0: skip it)"
    )
    p.add_argument("--no-startup", action="store_true", help="skip the fresh-process timings")
    p.add_argument(
        "--musicxml",
        action="store_true",
        help="humanize the folder's .mxl scores back into .mxl instead (no decoding or start-up parts)",
    )
    p.add_argument(
        "--spinning-threads",
        action="store_true",
        help="leave OpenMP's wait policy at its default (idle threads spin a while)",
    )
    p.add_argument(
        "--no-read-ahead", action="store_true", help="parse each group of files only when the model needs it"
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    files = list_files(args.data, args.limit, args.musicxml)

    run, model = run_files(args, files, device)
    if args.musicxml:  # the scores as played (their MIDI), for the minutes of music
        scores = [read_midi(f, read_musicxml(f).midi) for f in files]
        args.compare_windows, args.no_startup = 0, True
    else:
        scores = [read_midi(f) for f in files]
    minutes = sum(s.duration for s in scores) / 60
    run.update(
        {
            "files": len(files),
            "minutes_of_music": minutes,
            "realtime_factor": minutes / (run["wall_s"] / 60),
            "notes_per_s": run["notes"] / run["wall_s"],
        }
    )
    result = {
        "benchmark": "bench_humanize",
        "data": str(args.data),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "hop": args.hop or HOP_STEPS,
        "read_ahead": not args.no_read_ahead,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "run": run,
    }
    if args.compare_windows:
        items = sample_windows(model, scores, args.compare_windows, args.hop or HOP_STEPS)
        torch_args = argparse.Namespace(**{**vars(args), "engine": "torch"})
        torch_model = make_model(torch_args, device)[0].network()
        engine = None
        ship_numpy = model.engine_name == "numpy"
        if device.type == "cpu" and not torch_model.cfg.causal_decoder:
            engine = model.engine if ship_numpy else to_numpy(torch_model)
        result["decoding"] = compare_decoding(
            torch_model, items, device, args.batch_size, engine, ship_numpy=ship_numpy
        )
    if not args.no_startup:
        near5 = min(zip(files, scores, strict=True), key=lambda fs: abs(fs[1].duration - 300))[0]
        result["startup"] = startup(args.model, near5)
    print(json.dumps(result, indent=1))  # noqa: T201
    return result


if __name__ == "__main__":
    main()

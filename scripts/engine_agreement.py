"""Do the numpy and torch engines give the same velocities? Counts the notes where they differ.

Both engines read a tagger's velocities with ``readout.close_readout`` and
settle close calls with the same float64 ``referee.Referee``, so they agree
whenever each engine's float32 readout (the expected velocity, or for argmax the gap
between the top two logits) lies within ``readout.CLOSE_CALL`` of the float64 one.
Three checks:

- ``scores``: the bundled model (or ``--model``) on real scores, through
  ``predict_velocities`` as ``autodyn humanize`` runs it, with both engines; per file,
  the notes that differ, and in all the windows the referee read again.
  ``--save`` keeps the velocities, ``--baseline`` counts the notes that changed
  against a saved run (of this script, e.g. under an older checkout on PYTHONPATH).
- ``errors``: on the same windows, how far each engine's float32 readouts lie from the
  float64 ones: what ``CLOSE_CALL`` must exceed.
- ``random``: random tiny taggers (readout mean and argmax) on random generated notes.

    python scripts/engine_agreement.py scores --every 6
    python scripts/engine_agreement.py errors --every 6
    python scripts/engine_agreement.py random --models 8 --files 4
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from autodynamics_cli.inference import numpy_engine as NE
from autodynamics_cli.inference import readout as RO
from autodynamics_cli.inference import referee as RF
from autodynamics_cli.inference import torch_engine as TE
from autodynamics_cli.inference.model import Model, load_model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.midi.notes import Notes
from autodynamics_cli.midi.read import read_midi

SCORES = Path(__file__).resolve().parents[2] / "shared" / "data" / "asap-scores"


def score_files(folder: Path, every: int) -> list[Path]:
    return sorted(folder.rglob("midi_score.mid"))[::every]


def count_referee_calls() -> dict[str, int]:
    """Counts ``Referee.velocities`` calls (windows read again), by engine module."""
    counts = {"windows": 0}
    if not hasattr(RF, "Referee"):  # a checkout before the referee, for --save
        return counts
    original = RF.Referee.velocities

    def counted(self, window):
        counts["windows"] += 1
        return original(self, window)

    RF.Referee.velocities = counted
    return counts


def scores(args: argparse.Namespace) -> None:
    files = score_files(args.folder, args.every)
    engines = {name: load_model(args.model, device="cpu", engine=name) for name in ("numpy", "torch")}
    calls = count_referee_calls()
    baseline = dict(np.load(args.baseline)) if args.baseline else {}
    saved, total = (
        {},
        {
            "files": 0,
            "notes": 0,
            "windows_read_again": 0,
            "files_differ": 0,
            "notes_differ": 0,
            "max_diff": 0,
            "changed_vs_baseline": {"numpy": 0, "torch": 0},
        },
    )
    for path in files:
        notes = read_midi(path).notes
        vel, seconds = {}, {}
        for name, engine in engines.items():
            t0 = time.perf_counter()
            vel[name] = predict_velocities(engine, [notes])[0]
            seconds[name] = round(time.perf_counter() - t0, 2)
        key = str(path.relative_to(args.folder))
        diff = np.abs(vel["numpy"] - vel["torch"])
        total["files"] += 1
        total["notes"] += len(notes)
        total["files_differ"] += int(diff.any())
        total["notes_differ"] += int((diff > 0).sum())
        total["max_diff"] = max(total["max_diff"], int(diff.max(initial=0)))
        changed = {}
        for name in engines:
            saved[f"{key}|{name}"] = vel[name]
            before = baseline.get(f"{key}|{name}")
            if before is not None:
                changed[name] = int((before != vel[name]).sum()) if len(before) == len(notes) else -1
                total["changed_vs_baseline"][name] += max(changed[name], 0)
        print(
            json.dumps(
                {
                    "file": key,
                    "notes": len(notes),
                    "differ": int((diff > 0).sum()),
                    "seconds": seconds,
                    **({"changed": changed} if changed else {}),
                }
            ),
            flush=True,
        )
    total["windows_read_again"] = calls["windows"]
    print(json.dumps(total))
    if args.save:
        np.savez_compressed(args.save, **saved)


def _record(module, sink: list) -> None:
    """Wraps ``module.close_readout`` to keep each batch's logits (float32 numpy) in ``sink``."""
    original = module.close_readout

    def record(vel_logits, kind, *a):
        sink.append(np.asarray(vel_logits, dtype=np.float32))
        return original(vel_logits, kind, *a)

    module.close_readout = record


def _readout_values(logits: np.ndarray) -> np.ndarray:
    """What the readouts round or compare: the expected velocity, and the gap between the top two."""
    return np.stack([RO.expected_velocity(logits), RO.top_gap(logits)], -1)


def errors(args: argparse.Namespace) -> None:
    """How far each engine's float32 readouts lie from the float64 referee's, on every window."""
    from autodynamics_cli.encoding.windows import BATCH_OVERHEAD_TOKENS, batch_windows

    engines = {name: load_model(args.model, device="cpu", engine=name) for name in ("numpy", "torch")}
    engines["numpy"].engine.workers = 1  # batches run in order, so the recorded logits line up
    cfg = engines["numpy"].cfg
    net64 = engines["numpy"].engine.net.astype(np.float64)
    RF.Referee.velocities = lambda self, w: np.zeros(len(w), dtype=np.int64)  # only logits matter here
    sink: list = []
    _record(NE, sink)
    _record(TE, sink)
    diffs: dict[str, list] = {"numpy": [], "torch": []}
    items: list = []  # the windows the engine was last given

    def keeping(velocities):
        return lambda ws, *a: (items.__setitem__(slice(None), ws), velocities(ws, *a))[1]

    for engine in engines.values():
        engine.engine.velocities = keeping(engine.engine.velocities)
    for path in score_files(args.folder, args.every):
        notes = read_midi(path).notes
        exact: dict[int, np.ndarray] = {}
        for name, engine in engines.items():
            sink.clear()
            predict_velocities(engine, [notes])
            size = min(32, NE.PARALLEL_BATCH) if name == "numpy" else 32
            batches = batch_windows(items, cfg.max_decoder_len, size, BATCH_OVERHEAD_TOKENS["cpu"])
            for idx, logits in zip(batches, sink, strict=True):
                got = _readout_values(logits)
                for row, i in enumerate(idx):
                    w = items[i]
                    if i not in exact:
                        exact[i] = _readout_values(
                            net64.velocity_logits(*RF.decoder_inputs([w]), net64.encode(w.roll[None]))
                        )[0]
                    diffs[name].append(np.abs(got[row, : len(w)] - exact[i]))
        print(
            json.dumps(
                {
                    "file": str(path.relative_to(args.folder)),
                    "windows": len(exact),
                    "worst": {k: np.concatenate(v).max(0).tolist() for k, v in diffs.items()},
                }
            ),
            flush=True,
        )
    summary = {}
    for name, d in diffs.items():
        d = np.concatenate(d)
        summary[name] = {
            f"{what} q{q}": float(np.quantile(d[:, k], q))
            for k, what in enumerate(("mean", "argmax gap"))
            for q in (0.5, 0.999, 0.99999, 1.0)
        }
    print(
        json.dumps(
            {
                "window_notes": sum(len(d) for d in diffs["numpy"]),
                "close_call": RO.CLOSE_CALL,
                "distance from float64": summary,
            }
        )
    )


# --- random tiny taggers on random notes -----------------------------------------------------


def random_notes(rng: np.random.Generator, n: int) -> Notes:
    """``n`` random piano notes over about n/4 seconds, in two tracks, with varying velocities."""
    onset = np.sort(rng.uniform(0, n / 4, n))
    zeros = np.zeros(n, dtype=np.int64)
    return Notes(
        onset=onset,
        offset=onset + rng.uniform(0.05, 2.0, n),
        pitch=rng.integers(21, 109, n),
        velocity=rng.integers(20, 120, n),
        channel=zeros,
        track=rng.integers(0, 2, n),
        byte_offset=zeros,
    )


def random_tagger(seed: int, readout: str, sharpen: float):
    """A random tiny tagger (note tokens or not), its head scaled by ``sharpen``."""
    from autodynamics_cli.model.config import PRESETS, ModelConfig
    from autodynamics_cli.model.torch_net import AutoDynamics

    torch.manual_seed(seed)
    cfg = ModelConfig(
        **{
            **PRESETS["tiny"].to_dict(),
            "velocity_feedback": False,
            "dropout": 0.0,
            "causal_decoder": False,
            "note_features": True,
            "input_velocity": True,
            "note_tokens": seed % 2 == 0,
            "readout": readout,
        }
    )
    model = AutoDynamics(cfg).eval()
    with torch.no_grad():
        model.head.weight.mul_(sharpen)
    return model


def random_runs(args: argparse.Namespace) -> None:
    from autodynamics_cli.model.numpy_net import NumpyTagger

    calls = count_referee_calls()
    total = {"runs": 0, "notes": 0, "runs_differ": 0, "notes_differ": 0, "max_diff": 0}
    rng = np.random.default_rng(args.seed)
    for seed in range(args.models):
        for readout in ("mean", "argmax"):
            model = random_tagger(seed, readout, args.sharpen)
            state = {k: v.numpy() for k, v in model.state_dict().items()}
            engines = (Model(NE.NumpyEngine(NumpyTagger(model.cfg, state))), Model.from_network(model))
            notes = [random_notes(rng, int(rng.integers(1, args.max_notes))) for _ in range(args.files)]
            vn, vt = (predict_velocities(e, notes) for e in engines)
            for a, b in zip(vn, vt, strict=True):
                diff = np.abs(a - b)
                total["runs"] += 1
                total["notes"] += len(a)
                total["runs_differ"] += int(diff.any())
                total["notes_differ"] += int((diff > 0).sum())
                total["max_diff"] = max(total["max_diff"], int(diff.max(initial=0)))
    total["windows_read_again"] = calls["windows"]
    print(json.dumps(total))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("scores", "errors"):
        p = sub.add_parser(name)
        p.add_argument("--folder", type=Path, default=SCORES, help="searched for midi_score.mid files")
        p.add_argument("--every", type=int, default=1, help="every k-th file, sorted by path")
        p.add_argument("--model", default=None, help="weights file (default: the bundled model)")
    sub.choices["scores"].add_argument("--save", type=Path, help="write the velocities (.npz)")
    sub.choices["scores"].add_argument("--baseline", type=Path, help="count changes against this .npz")
    p = sub.add_parser("random")
    p.add_argument("--models", type=int, default=8, help="random models per readout")
    p.add_argument("--files", type=int, default=4, help="random files per model")
    p.add_argument("--max-notes", type=int, default=600)
    p.add_argument("--sharpen", type=float, default=30.0, help="scales the random head's weights")
    p.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    {"scores": scores, "errors": errors, "random": random_runs}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

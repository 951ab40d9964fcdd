"""The ``autodyn`` command line.

Torch and the model are imported inside the commands that need them, so
``autodyn --help`` and ``--version`` start fast. ``main`` is the one place
that turns ``AutodynError`` into a one-line message and an exit code; set
``AUTODYN_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from autodynamics_cli import __version__
from autodynamics_cli.errors import AutodynError

app = typer.Typer(
    name="autodyn",
    help="Give flat MIDI files human piano dynamics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err = Console(stderr=True, highlight=False)


def debug_enabled() -> bool:
    return os.environ.get("AUTODYN_DEBUG", "") not in ("", "0")


def _calm_threads() -> None:
    """Let torch's idle OpenMP threads sleep instead of spin; call before torch is imported.

    Spinning threads fight every other program for the cores: on a busy
    two-core machine humanizing took twice as long with them (README, Speed).
    A user's own ``OMP_WAIT_POLICY`` wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # the numpy engine runs one batch per core itself: one BLAS thread each
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _size(path: Path | None) -> int:
    """A file's size, 0 for standard input or a file that cannot be read (it fails later, alone)."""
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Engine(str, Enum):
    auto = "auto"
    numpy = "numpy"
    torch = "torch"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autodyn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Give flat MIDI files human piano dynamics."""


@app.command()
def humanize(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT", help="MIDI files or folders ('-': standard input).", show_default=False)],
    output: Annotated[str | None, typer.Option(
        "-o", "--output", metavar="PATH",
        help="Output file, or folder (several inputs, a folder input, an existing folder, a "
             "trailing '/'); '-': standard output. Default: {stem}_humanized.mid beside each input.")
    ] = None,
    recursive: Annotated[bool, typer.Option(
        "-r", "--recursive", help="Also humanize MIDI files in subfolders of folder inputs.")] = False,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", envvar="AUTODYN_MODEL", show_default=False,
        help="A name from `autodyn models` (default: 'default', the bundled model), "
             "a .safetensors file, or a Hub repo owner/name (optionally /FILE and @REVISION).")] = None,
    device: Annotated[Device, typer.Option(help="Where the model runs.")] = Device.auto,
    engine: Annotated[Engine, typer.Option(
        help="numpy: run a tagger model (the bundled one) on the CPU without torch, which starts "
             "seconds sooner, same velocities; torch; auto: numpy where it can, unless the job "
             "is over 512 KB of MIDI (there torch's faster kernels repay its import).")
    ] = Engine.auto,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    skip_existing: Annotated[bool, typer.Option(
        help="Leave files whose output exists alone (resume a batch).")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per decoder batch.")] = 32,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print a JSON report of every file on standard output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    keep_dynamics: Annotated[bool | None, typer.Option(
        "--keep-dynamics/--no-keep-dynamics", show_default="auto",
        help="Follow the input's loudness over time; the model shapes the notes within it. "
             "Auto: on when the input's velocities vary (written dynamics), off when constant.")
    ] = None,
    strength: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="0 keeps the input velocities, 1 is the full result.")] = 1.0,
    velocity_range: Annotated[tuple[int, int] | None, typer.Option(
        "--range", metavar="LO HI", help="Map the result into LO..HI (1-127), loudness order kept.")
    ] = None,
    tracks: Annotated[list[str] | None, typer.Option(
        "--tracks", metavar="LIST", help="Humanize only these tracks: numbers from 1 (file order) or names, "
                         "comma-separated or repeated.")] = None,
    channels: Annotated[str | None, typer.Option(
        metavar="LIST", help="Humanize only these MIDI channels, 1-16: e.g. '1', '1,2' or '1-4'.")] = None,
    temperature: Annotated[float, typer.Option(
        min=0.0, help="Above 0: sample velocities for a different take (0: greedy).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for --temperature; same seed, same file.")] = 0,
    read_staves: Annotated[bool, typer.Option(
        help="Read each track (or channel) as a staff, ranked by mean pitch, as notation "
             "programs export them; off for files whose tracks are not staves (one per voice, "
             "say). Only models trained with staves read them.")] = True,
) -> None:
    """Predict a velocity for every note; only note velocities change."""
    _calm_threads()
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from autodynamics_cli.batch import (
        STDIO,
        Summary,
        expand_inputs,
        humanize_files,
        json_report,
        plan_outputs,
    )
    from autodynamics_cli.controls import HumanizeOptions
    from autodynamics_cli.engine import load_engine
    from autodynamics_cli.errors import UsageError
    from autodynamics_cli.midi_io import MAX_FILE_BYTES

    options = HumanizeOptions(
        keep_dynamics=keep_dynamics, strength=strength,
        velocity_range=_velocity_range(velocity_range), tracks=_split_list(tracks),
        channels=_parse_channels(channels), temperature=temperature, seed=seed,
        read_staves=read_staves)
    t0 = time.perf_counter()
    if overwrite and skip_existing:
        raise UsageError("--overwrite and --skip-existing contradict each other; give one")
    exclude = Path(output) if output not in (None, STDIO) else None
    plans = plan_outputs(expand_inputs(inputs, recursive, exclude), output, overwrite, skip_existing)
    to_stdout = any(p.to_stdout for p in plans)
    if to_stdout and as_json:
        raise UsageError("--json prints on standard output, which carries the MIDI data here; "
                         "use -o FILE")
    if to_stdout and sys.stdout.isatty():
        raise UsageError("refusing to write MIDI data to a terminal; redirect standard output "
                         "or use -o FILE")
    stdin_data = None
    if any(p.source.path is None for p in plans):
        if sys.stdin.isatty():
            raise UsageError("'-' reads a MIDI file from standard input, which is a terminal")
        stdin_data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    work = sum(_size(p.source.path) for p in plans if p.runs)
    net, dev = (load_engine(model, device.value, engine.value, temperature, work)
                if any(p.runs for p in plans) else (None, None))

    results = []
    show_bar = len(plans) > 1 and not quiet and not as_json and err.is_terminal
    stop = _SigtermAsInterrupt()
    try:
        with stop, Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=err, disable=not show_bar, transient=True) as bar:
            task = bar.add_task("humanizing", total=len(plans))

            def report(r) -> None:
                results.append(r)
                bar.advance(task)
                if r.error:
                    err.print(f"error: {r.error}", markup=False, soft_wrap=True)
                elif r.warning and not quiet:
                    err.print(f"warning: {r.warning}", markup=False, soft_wrap=True)

            humanize_files(net, plans, dev, batch_size, debug_enabled(), on_done=report,
                           overwrite=overwrite, stdin_data=stdin_data,
                           stdout=sys.stdout.buffer if to_stdout else None, options=options)
    except KeyboardInterrupt:
        pass
    interrupted = stop.signum is not None
    s = Summary.of(results)
    code = 128 + stop.signum if interrupted else (1 if s.failed else 0)
    if as_json:
        sys.stdout.write(json.dumps(json_report(results, len(plans), interrupted, code), indent=1) + "\n")
        sys.stdout.flush()
    if interrupted:
        err.print(f"interrupted after {s.files} of {len(plans)} file(s); finished outputs are kept and "
                  f"no partial file is left (rerun with --skip-existing to go on)",
                  markup=False, soft_wrap=True)
    elif not quiet and not (len(plans) == 1 and s.failed):  # one failed file: its error line says all
        line = f"humanized {s.written} of {s.files} file(s), {s.notes:,} notes, in " \
               f"{time.perf_counter() - t0:.1f} s"
        if s.skipped:
            line += f"; {s.skipped} skipped (output exists)"
        if s.kept_dynamics:
            line += f"; kept the input's dynamics in {s.kept_dynamics} file(s)"
        if s.untouched:
            line += f"; {s.untouched:,} drum, out-of-range or unselected notes left as they were"
        if len(plans) == 1 and results and results[0].ok and results[0].output:
            line += " -> " + ("standard output" if results[0].output == STDIO else results[0].output)
        err.print(line, markup=False, soft_wrap=True)
        if s.failed:
            err.print(f"failed: {len(s.failed)} file(s):", markup=False)
            for r in s.failed:
                err.print(f"  {r.error}", markup=False, soft_wrap=True)
    if code:
        raise typer.Exit(code)


class _SigtermAsInterrupt:
    """Treat SIGTERM (``kill``, ``timeout``) like Ctrl-C inside the block, so the same cleanup runs.

    ``signum`` tells which one stopped the block (None: neither); the exit code is 128 + it.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old = None

    def _on_sigterm(self, signum: int, _frame) -> None:
        self.signum = signum
        raise KeyboardInterrupt

    def __enter__(self) -> _SigtermAsInterrupt:
        try:
            self._old = signal.signal(signal.SIGTERM, self._on_sigterm)
        except ValueError:  # not the main thread: leave SIGTERM alone
            self._old = None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        if exc_type is KeyboardInterrupt and self.signum is None:
            self.signum = signal.SIGINT


def _split_list(values: list[str] | None) -> tuple[str, ...] | None:
    items = tuple(x.strip() for v in values or [] for x in v.split(",") if x.strip())
    return items or None


def _parse_channels(text: str | None) -> tuple[int, ...] | None:
    """'1', '1,2' or '1-4' (MIDI channels as musicians count them, 1 to 16)."""
    if text is None:
        return None
    chans: list[int] = []
    for part in _split_list([text]) or ():
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise typer.BadParameter(f"{part!r} is not a channel number or range",
                                     param_hint="--channels") from None
        if not 1 <= a <= b <= 16:
            raise typer.BadParameter(f"{part!r}: channels are numbered 1 to 16", param_hint="--channels")
        chans.extend(range(a, b + 1))
    return tuple(sorted(set(chans))) or None


def _velocity_range(r: tuple[int, int] | None) -> tuple[int, int] | None:
    if r is not None and not 1 <= r[0] <= r[1] <= 127:
        raise typer.BadParameter(f"needs 1 <= LO <= HI <= 127, got {r[0]} {r[1]}", param_hint="--range")
    return r


@app.command()
def plot(
    files: Annotated[list[Path], typer.Argument(
        help="A MIDI file, or two to compare (e.g. the input and its humanized output).",
        show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Figure to write (.png, .svg, .pdf).")],
    start: Annotated[float | None, typer.Option(help="Plot from this time (seconds).")] = None,
    end: Annotated[float | None, typer.Option(help="Plot up to this time (seconds).")] = None,
    width: Annotated[float, typer.Option(min=1.0, help="Figure width, inches.")] = 10.0,
    height: Annotated[float, typer.Option(min=1.0, help="Figure height, inches.")] = 6.0,
    dpi: Annotated[int, typer.Option(min=10, help="Pixels per inch.")] = 100,
) -> None:
    """Draw piano rolls coloured by velocity and each note's velocity over time."""
    if len(files) > 2:
        raise typer.BadParameter("give one file, or two to compare", param_hint="FILES")
    from autodynamics_cli.plot import plot_files

    plot_files(files, output, start=start, end=end, width=width, height=height, dpi=dpi)
    err.print(f"wrote {output}", markup=False)


class Loss(str, Enum):
    mse = "mse"
    ce = "ce"
    ev = "ev"


class Optimizer(str, Enum):
    adafactor = "adafactor"
    adamw = "adamw"


class Readout(str, Enum):
    argmax = "argmax"
    mean = "mean"


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="MAESTRO folder, folder with metadata.csv, "
                                            "or folder of MIDI files.")],
    out: Annotated[Path, typer.Option(help="Run folder (checkpoints, metrics, best weights).")
                   ] = Path("runs/default"),
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.ckpt.")] = False,
    preset: Annotated[str, typer.Option(help="Model size: default, small, paper-small, paper-base.")
                      ] = "default",
    loss: Annotated[Loss, typer.Option(
        help="mse: the paper's; ce: cross-entropy; ev: squared error of the expected velocity "
             "(what the mean readout reports; needs it).")] = Loss.mse,
    corr_weight: Annotated[float, typer.Option(
        min=0, help="Add, per window, this weight x notes x (1 - r): r of the expected velocity "
                    "with the pianist's over the window's notes (0: off).")] = 0.0,
    optimizer: Annotated[Optimizer, typer.Option()] = Optimizer.adafactor,
    lr: Annotated[float, typer.Option(help="Constant learning rate.")] = 1e-3,
    warmup_steps: Annotated[int, typer.Option(min=0, help="Linear warm-up steps.")] = 0,
    decay_from: Annotated[int | None, typer.Option(
        min=0, help="Cosine-decay the learning rate from this step to a tenth at --max-steps "
                    "(also with --resume, to anneal a constant-rate run).")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    max_train_notes: Annotated[int | None, typer.Option(
        min=1, help="Cap notes per training window (shorter sequences train faster).")] = None,
    max_steps: Annotated[int, typer.Option(min=1)] = 100_000,
    max_minutes: Annotated[float | None, typer.Option(
        help="Stop after this long (checkpointed; continue with --resume).")] = None,
    velocity_mask_prob: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Chance to hide each previous velocity from the decoder; "
                               "1 makes it a one-pass tagger.")] = 1.0,
    aux_weight: Annotated[float, typer.Option(help="Loss weight of pitch/duration tokens.")] = 0.2,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9, help="Dropout (the paper's 0.2).")] = 0.2,
    readout: Annotated[Readout | None, typer.Option(
        help="Velocity readout stored with the model (default: the preset's).")] = None,
    scores: Annotated[Path | None, typer.Option(
        help="Folder of scores (SCORES/<piece folder>/midi_score.mid) aligned to the performances.")
                      ] = None,
    alignments: Annotated[Path | None, typer.Option(
        help="Folder of alignment CSVs (<performance path with / as __>.csv); "
             "adds score-input windows.")] = None,
    score_share: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Fraction of windows drawn from aligned scores.")] = 0.5,
    drop_dynamics: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Chance to hide a score window's notated velocities.")] = 0.3,
    note_tokens: Annotated[bool, typer.Option(
        help="Tagger with one decoder position per note instead of three (a third of the "
             "decoder's work); needs --velocity-mask-prob 1.")] = False,
    onset_lead: Annotated[bool, typer.Option(
        help="Also read each note's onset lead (timing finer than a 50 ms step: in played "
             "performances the louder notes of a chord come first).")] = False,
    staff: Annotated[bool, typer.Option(
        help="Also read each note's staff (top or bottom part of a notation export, whose "
             "tracks or channels are its staves) and its rank in its staff's chord.")] = False,
    drop_staff: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Chance to hide a window's staves (as in a one-track file); "
                               "with --staff.")] = 0.2,
    init_from: Annotated[Path | None, typer.Option(
        help="Start a new run from this weights file (same shapes; e.g. a three-token tagger "
             "for a --note-tokens one; or fewer layers, the added ones starting as identity).")
                         ] = None,
    enc_layers: Annotated[int | None, typer.Option(
        min=1, help="Encoder layers (default: the preset's).")] = None,
    dec_layers: Annotated[int | None, typer.Option(
        min=1, help="Decoder layers (default: the preset's).")] = None,
    eval_seconds: Annotated[float, typer.Option(
        help="Validate on each performance's first N seconds (0: whole).")] = 60.0,
    eval_minutes: Annotated[float, typer.Option(help="Validate every N minutes.")] = 10.0,
    checkpoint_minutes: Annotated[float, typer.Option()] = 5.0,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
    workers: Annotated[int, typer.Option(
        min=0, help="Processes that parse the data and build training batches (for a GPU "
        "machine's cores; 0: the training process alone). The run does not depend on it.")] = 0,
    device: Annotated[Device, typer.Option()] = Device.auto,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train a model on performances; the best validation checkpoint is OUT/best.safetensors."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from autodynamics_cli.train import TrainConfig
    from autodynamics_cli.train import train as run_training

    cfg = TrainConfig(
        data=str(data), out=str(out), preset=preset, loss=loss.value, optimizer=optimizer.value,
        corr_weight=corr_weight, lr=lr, warmup_steps=warmup_steps, decay_from=decay_from,
        batch_size=batch_size, max_train_notes=max_train_notes,
        max_steps=max_steps, max_minutes=max_minutes, velocity_mask_prob=velocity_mask_prob,
        aux_weight=aux_weight, dropout=dropout, readout=readout.value if readout else None,
        scores=str(scores) if scores else None, alignments=str(alignments) if alignments else None,
        score_share=score_share, drop_dynamics=drop_dynamics, drop_staff=drop_staff,
        eval_seconds=eval_seconds or None, eval_minutes=eval_minutes,
        checkpoint_minutes=checkpoint_minutes, threads=threads, workers=workers, device=device.value,
        seed=seed,
        overrides={k: v for k, v in {"note_tokens": True if note_tokens else None,
                                     "onset_lead": True if onset_lead else None,
                                     "staff": True if staff else None,
                                     "n_enc_layers": enc_layers,
                                     "n_dec_layers": dec_layers}.items() if v is not None},
        init_from=str(init_from) if init_from else None)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[info]}"), console=err) as bar:
        task = bar.add_task("training", total=max_steps, info="loading data")

        def report(m: dict) -> None:
            if m["event"] == "start":
                bar.update(task, completed=m["step"], info=f"{m['parameters'] / 1e6:.1f}M params")
            elif m["event"] == "train":
                bar.update(task, completed=m["step"],
                           info=f"loss {m['loss']:.3f}  {m['windows_per_s']:.1f} windows/s")
            elif m["event"] == "validation":
                parts = []
                if "mse" in m and "baseline_mse" in m:
                    parts.append(f"performances MSE {m['mse']:.1f} (constant 64: "
                                 f"{m['baseline_mse']:.1f}), r {m['r']:.3f}")
                if "score_mse" in m:
                    parts.append(f"scores MSE {m['score_mse']:.1f} (constant 64: "
                                 f"{m['score_baseline_mse']:.1f}), r {m['score_r']:.3f}")
                bar.console.print(f"step {m['step']}: validation " + "; ".join(parts)
                                  + (" best" if m.get("best") else ""), markup=False)

        last = run_training(cfg, resume=resume, report=report)
    err.print(f"stopped at step {last['step']}; run folder: {out}", markup=False)


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="A training run folder.")],
    output: Annotated[Path, typer.Option(
        "-o", "--output", help="A .safetensors file to write, or a folder to fill with "
                               "model.safetensors and a README.md model card, ready for `hf upload`.")],
    readout: Annotated[Readout | None, typer.Option(help="Override the stored readout.")] = None,
    last: Annotated[bool, typer.Option(
        "--last", help="The latest checkpoint's weights (the end of a decay) instead of the best "
                       "validation's.")] = False,
    eval_json: Annotated[Path | None, typer.Option(
        "--eval-json", help="An `autodyn eval --json` result to put in the model card (folder only).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model card title (folder only; default: its name).")
                    ] = None,
) -> None:
    """Write a run's best (or --last) weights as a small fp16 file, or a folder to upload to the Hub."""
    import json

    from autodynamics_cli.modelcard import write_model_folder
    from autodynamics_cli.registry import HUB_DEFAULT_FILE
    from autodynamics_cli.train import export_run

    if output.suffix == ".safetensors":
        if eval_json or name:
            raise typer.BadParameter("--eval-json and --name need a folder as --output")
        export_run(run, output, readout.value if readout else None, last=last)
        err.print(f"wrote {output}", markup=False)
        return
    if output.exists() and not output.is_dir():
        raise typer.BadParameter(f"{output} exists and is not a folder", param_hint="--output")
    evaluation = None
    if eval_json:
        try:
            evaluation = json.loads(eval_json.read_text())
        except (OSError, ValueError) as e:
            raise AutodynError(f"{eval_json}: not a readable `autodyn eval --json` file ({e})") from None
    output.mkdir(parents=True, exist_ok=True)
    export_run(run, output / HUB_DEFAULT_FILE, readout.value if readout else None, last=last)
    write_model_folder(output / HUB_DEFAULT_FILE, output, name, evaluation)
    err.print(f"wrote {output}/{HUB_DEFAULT_FILE} and {output}/README.md; upload with: "
              f"hf upload OWNER/NAME {output} .", markup=False, soft_wrap=True)


def _short(text: str | None, path: bool = False) -> str:
    """A table cell: a licence without its parenthesis, a data path by its last part."""
    if not text:
        return "-"
    if path and "/" in text:
        return Path(text).name or text
    return text.split(" (", 1)[0]


@app.command()
def models(
    json_out: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
    download: Annotated[str | None, typer.Option(
        "--download", metavar="MODEL",
        help="Fetch a known name or Hub repo into the Hugging Face cache (for offline use), "
             "check it, and print its path.")] = None,
) -> None:
    """List bundled, known and cached models: size, parameters, training data, licence."""
    import json
    from dataclasses import asdict

    from autodynamics_cli.registry import list_models, resolve
    from autodynamics_cli.weights import inspect_weights

    out = Console(highlight=False, soft_wrap=True)
    if download:
        path = resolve(download)
        problem = inspect_weights(path).incompatibility()
        if problem:
            raise AutodynError(f"{download}: {problem}")
        out.print(str(path), markup=False)
        return
    rows = list_models()
    current = os.environ.get("AUTODYN_MODEL") or "default"
    if json_out:
        out.print(json.dumps([{**asdict(r), "current_default": r.name == current} for r in rows],
                             indent=1), markup=False)
        return
    from rich.table import Table

    table = Table(title="autodyn models (* = used when no --model is given)", title_justify="left")
    for col, just in (("name", "left"), ("kind", "left"), ("size", "right"), ("parameters", "right"),
                      ("training data", "left"), ("licence", "left"), ("status", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for r in rows:
        status = r.problem or ("ready" if r.available else "not downloaded")
        table.add_row(("* " if r.name == current else "") + r.name, r.kind,
                      f"{r.size_bytes / 1e6:.1f} MB" if r.size_bytes else "-",
                      f"{r.parameters / 1e6:.1f}M" if r.parameters else "-",
                      _short(r.training_data, path=True), _short(r.license), status)
    out.print(table)
    if current not in {r.name for r in rows}:
        out.print(f"AUTODYN_MODEL={current}", markup=False)


@app.command("eval")
def eval_cmd(
    data: Annotated[Path, typer.Option(help="Dataset folder (as for train).")],
    split: Annotated[str, typer.Option(help="Which split to score.")] = "validation",
    model: Annotated[str | None, typer.Option(
        "--model", "-m", envvar="AUTODYN_MODEL", show_default=False,
        help="A model name, .safetensors file or Hub repo (as for humanize).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write all results here.")] = None,
    max_seconds: Annotated[float | None, typer.Option(
        help="Score only each performance's first N seconds.")] = None,
    scores: Annotated[Path | None, typer.Option(
        help="Score input: humanize each score of this folder once and compare with every "
             "performer (needs --alignments).")] = None,
    alignments: Annotated[Path | None, typer.Option(help="Alignment CSV folder (as for train).")
                          ] = None,
    read_dynamics: Annotated[bool, typer.Option(
        help="Let the model read the scores' notated velocities (off: measure without).")] = True,
    read_staves: Annotated[bool, typer.Option(
        help="Let a --staff model read the scores' staves (off: as one-track exports).")] = True,
    device: Annotated[Device, typer.Option()] = Device.auto,
) -> None:
    """Humanize flat performances (or, with --scores, the scores) and compare with real pianists."""
    _calm_threads()
    import json
    from dataclasses import asdict

    from rich.progress import Progress
    from rich.table import Table

    from autodynamics_cli.data import list_dataset
    from autodynamics_cli.device import resolve_device
    from autodynamics_cli.evaluate import evaluate, summarize
    from autodynamics_cli.weights import load_model

    dev = resolve_device(device.value)
    net = load_model(model, dev)
    if scores or alignments:
        if not (scores and alignments):
            raise AutodynError("score evaluation needs both --scores and --alignments")
        _eval_scores(net, data, scores, alignments, split, dev, max_seconds, model, json_out,
                     read_dynamics, read_staves)
        return
    entries = [e for e in list_dataset(data) if e.split == split]
    if not entries:
        raise AutodynError(f"{data}: no performances in split {split!r}")
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"scoring {split}", total=len(entries))
        scores = evaluate(net, entries, dev, max_seconds=max_seconds,
                          on_done=lambda _s: bar.advance(task))
    s = summarize(scores)
    table = Table(title=f"{split}: {s['performances']} performances, {s['pieces']} pieces, "
                        f"{s['notes']:,} notes (mean over pieces)")
    for col in ("", "MSE", "MAE", "Pearson r"):
        table.add_column(col, justify="right")
    table.add_row("model", f"{s['mse']:.1f}", f"{s['mae']:.2f}", f"{s['r']:.3f}")
    table.add_row("constant 64", f"{s['baseline_mse']:.1f}", f"{s['baseline_mae']:.2f}", "")
    Console(highlight=False).print(table)
    if json_out:
        json_out.write_text(json.dumps({"summary": s, "model": model or "default",
                                        "performances": [asdict(x) for x in scores]}, indent=1))


def _eval_scores(net, data: Path, scores: Path, alignments: Path, split: str, dev, max_seconds,
                 model: str | None, json_out: Path | None, read_dynamics: bool,
                 read_staves: bool) -> None:
    import json
    from dataclasses import asdict

    from rich.progress import Progress
    from rich.table import Table

    from autodynamics_cli.data import list_aligned
    from autodynamics_cli.evaluate import SCORE_METRICS, evaluate_scores, summarize

    entries = [e for e in list_aligned(data, scores, alignments) if e.split == split]
    if not entries:
        raise AutodynError(f"{alignments}: no aligned performances in split {split!r}")
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"scoring {split} scores", total=len(entries))
        rows = evaluate_scores(net, entries, dev, max_seconds, on_done=lambda _s: bar.advance(task),
                               read_dynamics=read_dynamics, read_staves=read_staves)
    s = summarize(rows, SCORE_METRICS)
    stepped = summarize([r for r in rows if r.notated_dynamics], SCORE_METRICS)
    table = Table(title=f"{split}, score input: {s['performances']} performances, {s['pieces']} "
                        f"pieces, {s['notes']:,} matched notes (mean over pieces)")
    for col in ("", "MSE", "MAE", "Pearson r"):
        table.add_column(col, justify="right")
    table.add_row("model", f"{s['mse']:.1f}", f"{s['mae']:.2f}", f"{s['r']:.3f}")
    table.add_row("notated velocities", f"{s['notated_mse']:.1f}", "", f"{s['notated_r']:.3f}")
    table.add_row("constant 64", f"{s['baseline_mse']:.1f}", f"{s['baseline_mae']:.2f}", "")
    table.add_row("another performer", f"{s['other_mse']:.1f}", "", f"{s['other_r']:.3f}")
    table.add_row("mean of the other performers", f"{s['others_mean_mse']:.1f}", "",
                  f"{s['others_mean_r']:.3f}")
    table.add_row(f"model, {stepped['pieces']} scores with notated dynamics",
                  f"{stepped['mse']:.1f}", f"{stepped['mae']:.2f}", f"{stepped['r']:.3f}")
    Console(highlight=False).print(table)
    if json_out:
        json_out.write_text(json.dumps({"summary": s, "summary_notated_dynamics": stepped,
                                        "read_dynamics": read_dynamics,
                                        "read_staves": read_staves,
                                        "model": model or "default", "input": "score",
                                        "performances": [asdict(x) for x in rows]}, indent=1))


def main() -> None:
    """Console entry point: run the app, turning known errors into one line and exit 1."""
    try:
        app()
    except AutodynError as e:
        if debug_enabled():
            raise
        err.print(f"error: {e}", markup=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)

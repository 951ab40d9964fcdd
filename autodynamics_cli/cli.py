"""The ``autodyn`` command line.

Torch and the model are imported inside the commands that need them, so
``autodyn --help`` and ``--version`` start fast. ``main`` is the one place
that turns ``AutodynError`` into a one-line message and an exit code; set
``AUTODYN_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import os
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
)
err = Console(stderr=True, highlight=False)


def debug_enabled() -> bool:
    return os.environ.get("AUTODYN_DEBUG", "") not in ("", "0")


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


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
    inputs: Annotated[list[Path], typer.Argument(help="MIDI files to humanize.",
                                                 show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output",
        help="Output file (one input) or directory (several inputs). "
             "Default: {stem}_humanized.mid beside each input.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", envvar="AUTODYN_MODEL", show_default=False,
        help="A name from `autodyn models` (default: 'default', the bundled model), "
             "a .safetensors file, or a Hub repo owner/name (optionally /FILE and @REVISION).")] = None,
    device: Annotated[Device, typer.Option(help="Where the model runs.")] = Device.auto,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per decoder batch.")] = 32,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
) -> None:
    """Predict a velocity for every note; only note velocities change."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from autodynamics_cli.batch import Summary, humanize_files, plan_outputs
    from autodynamics_cli.device import resolve_device
    from autodynamics_cli.weights import load_model

    t0 = time.perf_counter()
    plans = plan_outputs(inputs, output, overwrite)
    dev = resolve_device(device.value)
    net = load_model(model, dev)
    show_bar = len(plans) > 1 and not quiet and err.is_terminal
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=err, disable=not show_bar, transient=True) as bar:
        task = bar.add_task("humanizing", total=len(plans))

        def report(r) -> None:
            bar.advance(task)
            if r.error:
                err.print(f"error: {r.error}", markup=False, soft_wrap=True)
            elif r.warning and not quiet:
                err.print(f"warning: {r.warning}", markup=False, soft_wrap=True)

        results = humanize_files(net, plans, dev, batch_size, debug_enabled(), on_done=report)
    s = Summary.of(results)
    if not quiet:
        ok = s.files - len(s.failed)
        line = f"humanized {ok} of {s.files} file(s), {s.notes:,} notes, in " \
               f"{time.perf_counter() - t0:.1f} s"
        if s.untouched:
            line += f"; {s.untouched:,} drum or out-of-range notes left as they were"
        if len(plans) == 1 and results and results[0].ok:
            line += f" -> {results[0].output}"
        err.print(line, markup=False, soft_wrap=True)
    if s.failed:
        if len(s.failed) > 1 or len(plans) > 1:
            err.print(f"failed ({len(s.failed)}): " + ", ".join(str(r.input) for r in s.failed),
                      markup=False, soft_wrap=True)
        raise typer.Exit(1)


class Loss(str, Enum):
    mse = "mse"
    ce = "ce"


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
    loss: Annotated[Loss, typer.Option(help="mse: the paper's; ce: cross-entropy.")] = Loss.mse,
    optimizer: Annotated[Optimizer, typer.Option()] = Optimizer.adafactor,
    lr: Annotated[float, typer.Option(help="Constant learning rate.")] = 1e-3,
    warmup_steps: Annotated[int, typer.Option(min=0, help="Linear warm-up steps.")] = 0,
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
    readout: Annotated[Readout, typer.Option(help="Velocity readout stored with the model.")
                       ] = Readout.argmax,
    eval_seconds: Annotated[float, typer.Option(
        help="Validate on each performance's first N seconds (0: whole).")] = 60.0,
    eval_minutes: Annotated[float, typer.Option(help="Validate every N minutes.")] = 10.0,
    checkpoint_minutes: Annotated[float, typer.Option()] = 5.0,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
    device: Annotated[Device, typer.Option()] = Device.auto,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train a model on performances; the best validation checkpoint is OUT/best.safetensors."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from autodynamics_cli.train import TrainConfig
    from autodynamics_cli.train import train as run_training

    cfg = TrainConfig(
        data=str(data), out=str(out), preset=preset, loss=loss.value, optimizer=optimizer.value,
        lr=lr, warmup_steps=warmup_steps, batch_size=batch_size, max_train_notes=max_train_notes,
        max_steps=max_steps, max_minutes=max_minutes, velocity_mask_prob=velocity_mask_prob,
        aux_weight=aux_weight, readout=readout.value,
        eval_seconds=eval_seconds or None, eval_minutes=eval_minutes,
        checkpoint_minutes=checkpoint_minutes, threads=threads, device=device.value, seed=seed)
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
                bar.console.print(f"step {m['step']}: validation MSE {m['mse']:.1f} "
                                  f"(constant 64: {m['baseline_mse']:.1f}), r {m['r']:.3f}"
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
    eval_json: Annotated[Path | None, typer.Option(
        "--eval-json", help="An `autodyn eval --json` result to put in the model card (folder only).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model card title (folder only; default: its name).")
                    ] = None,
) -> None:
    """Write a run's best weights as a small fp16 file, or as a folder to upload to the Hub."""
    import json

    from autodynamics_cli.modelcard import write_model_folder
    from autodynamics_cli.registry import HUB_DEFAULT_FILE
    from autodynamics_cli.train import export_best

    if output.suffix == ".safetensors":
        if eval_json or name:
            raise typer.BadParameter("--eval-json and --name need a folder as --output")
        export_best(run, output, readout.value if readout else None)
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
    export_best(run, output / HUB_DEFAULT_FILE, readout.value if readout else None)
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
    device: Annotated[Device, typer.Option()] = Device.auto,
) -> None:
    """Humanize each performance with flat velocities and compare with the real ones."""
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


def main() -> None:
    """Console entry point: run the app, turning known errors into one line and exit 1."""
    try:
        app()
    except AutodynError as e:
        if debug_enabled():
            raise
        err.print(f"error: {e}", markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)

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


def _calm_threads() -> None:
    """Let torch's idle OpenMP threads sleep instead of spin; call before torch is imported.

    Spinning threads fight every other program for the cores: on a busy
    two-core machine humanizing took twice as long with them (README, Speed).
    A user's own ``OMP_WAIT_POLICY`` wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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
        "--model", "-m", help="Weights file (.safetensors) or 'default'.")] = None,
    device: Annotated[Device, typer.Option(help="Where the model runs.")] = Device.auto,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per decoder batch.")] = 32,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
) -> None:
    """Predict a velocity for every note; only note velocities change."""
    _calm_threads()
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
        aux_weight=aux_weight, readout=readout.value if readout else None,
        scores=str(scores) if scores else None, alignments=str(alignments) if alignments else None,
        score_share=score_share, drop_dynamics=drop_dynamics,
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
    output: Annotated[Path, typer.Option("-o", "--output", help="Weights file to write.")],
    readout: Annotated[Readout | None, typer.Option(help="Override the stored readout.")] = None,
) -> None:
    """Write a run's best weights as a small fp16 file to ship or share."""
    from autodynamics_cli.train import export_best

    export_best(run, output, readout.value if readout else None)
    err.print(f"wrote {output}", markup=False)


@app.command("eval")
def eval_cmd(
    data: Annotated[Path, typer.Option(help="Dataset folder (as for train).")],
    split: Annotated[str, typer.Option(help="Which split to score.")] = "validation",
    model: Annotated[str | None, typer.Option("--model", "-m", help="Weights file or 'default'.")
                     ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write all results here.")] = None,
    max_seconds: Annotated[float | None, typer.Option(
        help="Score only each performance's first N seconds.")] = None,
    scores: Annotated[Path | None, typer.Option(
        help="Score input: humanize each score of this folder once and compare with every "
             "performer (needs --alignments).")] = None,
    alignments: Annotated[Path | None, typer.Option(help="Alignment CSV folder (as for train).")
                          ] = None,
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
        _eval_scores(net, data, scores, alignments, split, dev, max_seconds, model, json_out)
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
                 model: str | None, json_out: Path | None) -> None:
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
        rows = evaluate_scores(net, entries, dev, max_seconds, on_done=lambda _s: bar.advance(task))
    s = summarize(rows, SCORE_METRICS)
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
    Console(highlight=False).print(table)
    if json_out:
        json_out.write_text(json.dumps({"summary": s, "model": model or "default", "input": "score",
                                        "performances": [asdict(x) for x in rows]}, indent=1))


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

"""``autodyn train``: a recipe and options in, a training run with a progress bar out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from autodynamics_cli.cli.common import Device, err


def train(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Training recipe (TOML: the settings below in snake_case, and the recipe-only "
            "ones); options given here override it. A run folder's recipe.toml repeats "
            "its run.",
        ),
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="DIR",
            help="MAESTRO folder, folder with metadata.csv, or folder of MIDI files "
            "(needed here or in the recipe). Repeat it to learn from several; a recording "
            "two folders share is read once.",
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(metavar="DIR", help="Run folder (checkpoints, metrics, best weights, recipe.toml)."),
    ] = Path("runs/default"),
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.ckpt.")] = False,
    preset: Annotated[
        str, typer.Option(metavar="NAME", help="Model size: default, small, paper-small, paper-base.")
    ] = "default",
    init_from: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Start a new run from this weights file (same shapes, or fewer layers or "
            "features: the added ones start as identity).",
        ),
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Folder of scores (SCORES/<piece folder>/midi_score.mid) aligned to the performances.",
        ),
    ] = None,
    alignments: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Folder of alignment CSVs (<performance path with / as __>.csv); adds score-input windows.",
        ),
    ] = None,
    markings: Annotated[
        bool,
        typer.Option(
            help="Also read each note's markings from its score's MusicXML (dynamics, hairpins, accents, "
            "articulations, slurs, fermatas, tempo words; SCORES/<piece>/xml_score.mxl with its "
            "xml_note_map.csv); needs the [musicxml] extra. MIDI input reads them as unknown."
        ),
    ] = False,
    lr: Annotated[float, typer.Option(metavar="RATE", help="Learning rate.")] = 1e-3,
    decay_from: Annotated[
        int | None,
        typer.Option(
            metavar="STEP",
            min=0,
            help="Cosine-decay the learning rate from this step to a tenth at --max-steps "
            "(also with --resume, to anneal a constant-rate run).",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(metavar="N", min=1)] = 16,
    max_steps: Annotated[int, typer.Option(metavar="N", min=1)] = 100_000,
    max_minutes: Annotated[
        float | None,
        typer.Option(metavar="MINUTES", help="Stop after this long (checkpointed; continue with --resume)."),
    ] = None,
    eval_seconds: Annotated[
        float,
        typer.Option(metavar="SECONDS", help="Validate on each performance's first N seconds (0: whole)."),
    ] = 60.0,
    eval_minutes: Annotated[float, typer.Option(metavar="MINUTES", help="Validate every N minutes.")] = 10.0,
    checkpoint_minutes: Annotated[
        float,
        typer.Option(
            metavar="MINUTES",
        ),
    ] = 5.0,
    threads: Annotated[int | None, typer.Option(metavar="N", help="torch CPU threads.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=0,
            help="Processes that parse the data and build training batches (for a GPU "
            "machine's cores; 0: the training process alone). The run does not depend on it.",
        ),
    ] = 0,
    device: Annotated[Device, typer.Option()] = Device.auto,
    seed: Annotated[
        int,
        typer.Option(
            metavar="N",
        ),
    ] = 0,
) -> None:
    """Train a model on performances; the best validation checkpoint is OUT/best.safetensors.

    A recipe (--config FILE) sets these options and the research settings (loss, optimizer,
    dropout, model switches: docs/cli.md, "Recipes"); options given here override it.
    """
    from autodynamics_cli.inference.choose import require_torch
    from autodynamics_cli.model.config import PRESETS
    from autodynamics_cli.training.recipe import resolve

    require_torch("autodyn train needs it", "train")

    given = {
        name: value
        for name, value in ctx.params.items()
        if name not in ("config", "resume")
        and getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"
    }
    if "preset" in given and preset not in PRESETS:
        raise typer.BadParameter(
            f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})", param_hint="--preset"
        )
    cfg = resolve(config, given)
    last = run_with_progress(cfg, resume)
    err.print(f"stopped at step {last['step']}; run folder: {cfg.out}", markup=False)


def run_with_progress(cfg, resume: bool) -> dict:
    """Train with a progress bar and a line per validation; the last metrics."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from autodynamics_cli.training.loop import train as run_training

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=err,
    ) as bar:
        task = bar.add_task("training", total=cfg.max_steps, info="loading data")

        def report(m: dict) -> None:
            if m["event"] == "start":
                bar.update(task, completed=m["step"], info=f"{m['parameters'] / 1e6:.1f}M params")
                bar.console.print(
                    f"{m['train_pieces']} training pieces ({m['train_score_pieces']} scores), "
                    f"{m['train_notes']:,} notes, read in {m['data_seconds']:.1f} s",
                    markup=False,
                    highlight=False,
                )
            elif m["event"] == "train":
                bar.update(
                    task,
                    completed=m["step"],
                    info=f"loss {m['loss']:.3f}  {m['windows_per_s']:.1f} windows/s",
                )
            elif m["event"] == "validation":
                parts = []
                if "mse" in m and "baseline_mse" in m:
                    parts.append(
                        f"performances MSE {m['mse']:.1f} (constant 64: "
                        f"{m['baseline_mse']:.1f}), r {m['r']:.3f}"
                    )
                if "score_mse" in m:
                    parts.append(
                        f"scores MSE {m['score_mse']:.1f} (constant 64: "
                        f"{m['score_baseline_mse']:.1f}), r {m['score_r']:.3f}"
                    )
                bar.console.print(
                    f"step {m['step']}: validation " + "; ".join(parts) + (" best" if m.get("best") else ""),
                    markup=False,
                )

        return run_training(cfg, resume=resume, report=report)

"""``autodyn calibrate``: fit a model's piece calibration on a dataset and write it into a weights file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from autodynamics_cli.cli.common import Device, calm_threads, err

if TYPE_CHECKING:
    from rich.progress import TaskID

    from autodynamics_cli.training.calibrate import CalibrationFit, KindFit

STAGES = {
    "scores": "network on scores",
    "musicxmls": "network on MusicXML scores",
    "performances": "network on performances",
    "fit": "fitting",
}


def calibrate(
    run_or_weights: Annotated[
        str,
        typer.Argument(
            metavar="RUN_OR_WEIGHTS",
            help="A training run folder (its best.safetensors), a weights file or a model name.",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            metavar="OUT.safetensors",
            help="The weights with the fitted calibration in their metadata (may be the input).",
        ),
    ],
    data: Annotated[
        list[Path],
        typer.Option(
            metavar="DIR",
            help="Performances with a metadata.csv (as for train; repeat it for several); "
            "their train split is fitted.",
        ),
    ],
    scores: Annotated[
        Path, typer.Option(metavar="DIR", help="Folder of scores (SCORES/<piece folder>/midi_score.mid).")
    ],
    alignments: Annotated[
        Path,
        typer.Option(metavar="DIR", help="Folder of alignment CSVs (<performance path with / as __>.csv)."),
    ],
    device: Annotated[
        Device, typer.Option(help="Where the network runs (cuda: torch on a GPU).")
    ] = Device.auto,
    cache: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Keep the network's output per file here, so that a rerun takes seconds."
        ),
    ] = None,
    folds: Annotated[
        int, typer.Option(metavar="K", min=2, help="Grouped cross-validation folds over the train pieces.")
    ] = 10,
    factor: Annotated[
        float,
        typer.Option(
            metavar="SHARE",
            min=0.1,
            max=2.0,
            help="Default share of the predicted spread stored with the calibration.",
        ),
    ] = 0.9,
    musicxml: Annotated[
        bool,
        typer.Option(
            help="Also fit a calibration for MusicXML input on the scores' MusicXML files "
            "(needs the [musicxml] extra)."
        ),
    ] = True,
) -> None:
    """Fit the piece calibration (each piece's level and range) on the train split; write a copy."""
    calm_threads()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from autodynamics_cli.training.calibrate import FitSettings
    from autodynamics_cli.training.calibrate import calibrate as run_calibration

    if output.suffix != ".safetensors":
        raise typer.BadParameter("give a .safetensors file", param_hint="--output")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        fit = run_calibration(
            run_or_weights,
            output,
            data,
            scores,
            alignments,
            device=device.value,
            cache=cache,
            settings=FitSettings(folds=folds),
            factor=factor,
            musicxml=musicxml,
            on_progress=progress,
        )
    typer.echo(summary(fit, folds))
    err.print(f"wrote {output}", markup=False, soft_wrap=True)


def summary(fit: CalibrationFit, folds: int) -> str:
    """The fitted coefficients and the cross-validation errors, a few lines per input kind."""
    lines = []
    kinds = [("score input", fit.scores), ("MusicXML input", fit.musicxml), ("played input", fit.played)]
    for label, kind in kinds:
        if kind is None:
            lines.append(f"{label}: not fitted (takes the score input's calibration)")
            continue
        lines.append(f"{label}: {kind.fitted_on}")
        lines += _describe(kind, folds)
    lines.append(f"default share of the predicted spread: {fit.calibration.factor:g}")
    return "\n".join(lines)


def _describe(kind: KindFit, folds: int) -> list[str]:
    cal = kind.calibrator
    k = min(folds, kind.table.pieces())  # each piece in one fold
    out = []
    for name, r, path in (
        ("level - network mean", cal.level, cal.level_path),
        ("log(pianist std / network std)", cal.spread, cal.spread_path),
    ):
        icpt, slopes = r.coefficients()
        terms = "".join(f" {'-' if v < 0 else '+'} {abs(v):.4g} {f}" for f, v in slopes.items())
        out.append(f"  {name} = {icpt:.4g}{terms}" + (f"  (ridge alpha {r.alpha:g})" if slopes else ""))
        cv = f"{path[0][2]:.4g} intercept only" + (f", {path[-1][2]:.4g} fitted" if slopes else "")
        out.append(f"    {k}-fold CV MSE: {cv}")
    return out

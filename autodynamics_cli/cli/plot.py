"""``autodyn plot``: draw one file, or a file before and after humanizing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from autodynamics_cli.cli.common import err


def plot(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE",
            help="A MIDI file, or up to four to compare (the input and its humanized output, or "
            "outputs at several --expression settings).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", metavar="FIGURE", help="Figure to write (.png, .svg, .pdf).")
    ],
    start: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Plot from this time (seconds).")
    ] = None,
    end: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Plot up to this time (seconds).")
    ] = None,
    width: Annotated[float, typer.Option(metavar="INCHES", min=1.0, help="Figure width, inches.")] = 10.0,
    height: Annotated[float, typer.Option(metavar="INCHES", min=1.0, help="Figure height, inches.")] = 6.0,
    dpi: Annotated[int, typer.Option(metavar="DPI", min=10, help="Pixels per inch.")] = 100,
) -> None:
    """Draw piano rolls coloured by velocity and each note's velocity over time."""
    from autodynamics_cli.humanize.plot import MAX_FILES, plot_files

    if len(files) > MAX_FILES:
        raise typer.BadParameter(f"give one file, or up to {MAX_FILES} to compare", param_hint="FILES")

    plot_files(files, output, start=start, end=end, width=width, height=height, dpi=dpi)
    err.print(f"wrote {output}", markup=False)

"""``autodyn models``: what models there are, and fetching one for offline use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from typing import Literal


def _short(text: str | None, path: bool = False) -> str:
    """A table cell: a licence without its parenthesis, a data path by its last part."""
    if not text:
        return "-"
    if path and "/" in text:
        return Path(text).name or text
    return text.split(" (", 1)[0]


def models(
    json_out: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
    download: Annotated[
        str | None,
        typer.Option(
            "--download",
            metavar="MODEL",
            help="Fetch a known name or Hub repo into the Hugging Face cache (for offline use), "
            "check it, and print its path.",
        ),
    ] = None,
) -> None:
    """List bundled, known and cached models: size, parameters, training data, licence."""
    import json
    from dataclasses import asdict

    from autodynamics_cli.errors import AutodynError
    from autodynamics_cli.model.registry import list_models, resolve
    from autodynamics_cli.model.weights_file import inspect_weights

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
        out.print(
            json.dumps([{**asdict(r), "current_default": r.name == current} for r in rows], indent=1),
            markup=False,
        )
        return
    from rich.table import Table

    # fits 80 columns: every column keeps its width but the data description, cut short last
    table = Table(
        title="autodyn models (* = used when no --model is given)",
        title_justify="left",
        box=None,
        pad_edge=False,
        collapse_padding=True,
        show_edge=False,
    )
    cells = [
        [
            ("* " if r.name == current else "") + r.name,
            r.kind,
            f"{r.size_bytes / 1e6:.1f} MB" if r.size_bytes else "-",
            f"{r.parameters / 1e6:.1f}M" if r.parameters else "-",
            _short(r.license),
            r.problem or ("ready" if r.available else "not downloaded"),
            _short(r.training_data, path=True),
        ]
        for r in rows
    ]
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("name", "left"),
        ("kind", "left"),
        ("size", "right"),
        ("params", "right"),
        ("licence", "left"),
        ("status", "left"),
    )
    widths = [min(max([len(col), *(len(c[i]) for c in cells)]), 30) for i, (col, _) in enumerate(columns)]
    for i, ((col, just), width) in enumerate(zip(columns, widths, strict=True)):
        table.add_column(col, justify=just, no_wrap=i != 5, min_width=width)
    table.add_column("training data", overflow="ellipsis", no_wrap=True, min_width=8)
    room = max(8, out.width - sum(widths) - len(widths))  # one space between columns
    for c in cells:  # cut here: rich would squeeze the status column before this one
        c[-1] = c[-1] if len(c[-1]) <= room else c[-1][: room - 1] + "…"
    for c in cells:
        table.add_row(*c)
    out.print(table)
    if current not in {r.name for r in rows}:
        out.print(f"AUTODYN_MODEL={current}", markup=False)

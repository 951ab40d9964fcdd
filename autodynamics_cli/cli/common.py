"""What every command shares: the error console, the enums of shared options, debug and threads."""

from __future__ import annotations

import os
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, highlight=False)

# --model, as every command that runs a model takes it
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        metavar="MODEL",
        envvar="AUTODYN_MODEL",
        show_default=False,
        help="A name from `autodyn models` (default: 'default', the bundled model), "
        "a .safetensors file, or a Hub repo owner/name (optionally /FILE and @REVISION).",
    ),
]


def debug_enabled() -> bool:
    return os.environ.get("AUTODYN_DEBUG", "") not in ("", "0")


def calm_threads() -> None:
    """Let torch's idle OpenMP threads sleep instead of spin; call before torch is imported.

    Spinning threads fight every other program for the cores: on a busy
    two-core machine humanizing took twice as long with them (docs/speed.md).
    A user's own ``OMP_WAIT_POLICY`` wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # the numpy engine runs one batch per core itself: one BLAS thread each
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Engine(str, Enum):
    auto = "auto"
    numpy = "numpy"
    torch = "torch"


class Readout(str, Enum):
    argmax = "argmax"
    mean = "mean"


class OutputFormat(str, Enum):
    mid = "mid"
    musicxml = "musicxml"


def split_list(values: list[str] | None) -> tuple[str, ...] | None:
    items = tuple(x.strip() for v in values or [] for x in v.split(",") if x.strip())
    return items or None


def parse_channels(text: str | None) -> tuple[int, ...] | None:
    """'1', '1,2' or '1-4' (MIDI channels as musicians count them, 1 to 16)."""
    if text is None:
        return None
    chans: list[int] = []
    for part in split_list([text]) or ():
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise typer.BadParameter(
                f"{part!r} is not a channel number or range", param_hint="--channels"
            ) from None
        if not 1 <= a <= b <= 16:
            raise typer.BadParameter(f"{part!r}: channels are numbered 1 to 16", param_hint="--channels")
        chans.extend(range(a, b + 1))
    return tuple(sorted(set(chans))) or None


def parse_range(r: tuple[int, int] | None) -> tuple[int, int] | None:
    if r is not None and not 1 <= r[0] <= r[1] <= 127:
        raise typer.BadParameter(f"needs 1 <= LO <= HI <= 127, got {r[0]} {r[1]}", param_hint="--range")
    return r

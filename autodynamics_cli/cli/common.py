"""What every command shares: the error console, the enums of shared options, debug and threads."""

from __future__ import annotations

import os
from enum import Enum

from rich.console import Console

err = Console(stderr=True, highlight=False)


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

"""Choose the torch device for ``--device auto|cpu|cuda``."""

from __future__ import annotations

import torch

from autodynamics_cli.errors import AutodynError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise AutodynError("--device cuda was asked for, but no CUDA GPU is available")
    if name not in ("cpu", "cuda"):
        raise AutodynError(f"unknown device {name!r} (use auto, cpu or cuda)")
    return torch.device(name)

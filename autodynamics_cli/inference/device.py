"""Choose the torch device for ``--device auto|cpu|cuda``, tell when torch is needed at all, count cores."""

from __future__ import annotations

import glob
import os
import shutil
from typing import TYPE_CHECKING

from autodynamics_cli.errors import AutodynError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else CPU."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise AutodynError("--device cuda was asked for, but no CUDA GPU is available")
    if name not in ("cpu", "cuda"):
        raise AutodynError(f"unknown device {name!r} (use auto, cpu or cuda)")
    return torch.device(name)


def cuda_possible() -> bool:
    """False when this machine surely has no usable NVIDIA GPU, so ``auto`` means CPU.

    Answers without importing torch (seconds on a small CPU): no NVIDIA driver
    (``/proc/driver/nvidia``, ``/dev/nvidia*``, ``nvidia-smi``) or
    ``CUDA_VISIBLE_DEVICES`` hiding every GPU. True means "ask torch".
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return (os.path.exists("/proc/driver/nvidia/version") or bool(glob.glob("/dev/nvidia[0-9]*"))
            or shutil.which("nvidia-smi") is not None)


def cpu_cores() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

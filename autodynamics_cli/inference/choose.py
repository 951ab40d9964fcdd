"""Engine and device choice, in one place: which engine runs a job, on which torch device.

``choose_engine`` picks the numpy engine for a short job on a CPU with a tagger
model (the bundled one): ``autodyn humanize`` then never imports torch, and the
numpy engine gives the same velocities while importing torch (two to three
seconds on a small CPU) would take longer than the model. Torch's kernels are
somewhat faster (8 to 20%), so a job of more than ``TORCH_FROM_BYTES`` of MIDI
goes through torch, as do causal models, sampling (``--temperature``) and GPUs.
Whether there may be a GPU is answered without importing torch.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
from typing import TYPE_CHECKING

from autodynamics_cli.errors import AutodynError, UsageError

if TYPE_CHECKING:
    import torch

    from autodynamics_cli.model.config import ModelConfig

ENGINES = ("auto", "numpy", "torch")
# Where torch's faster kernels repay its import, measured with the bundled note-token
# tagger on the two-core development CPU (`autodyn humanize DIR -o OUT/ -q --engine E`
# on copies of ASAP scores): 27 files, 318 KB: numpy 26.6 s, torch 27.3 and 28.9 s;
# 81 files, 1,065 KB: numpy 88.5 s, torch 85.6 s. Linear between them, the break-even
# is near 580 KB. Below it numpy also needs less than half of torch's memory.
TORCH_FROM_BYTES = 512 * 1024


def choose_engine(
    cfg: ModelConfig, device: str = "auto", engine: str = "auto", sampling: bool = False, work_bytes: int = 0
) -> str:
    """``numpy`` or ``torch``: which engine runs a model of ``cfg`` for ``--device``/``--engine``.

    ``sampling``: a temperature will be asked for; ``work_bytes``: the size of the
    job's MIDI input, for ``auto``. Raises when the choice cannot run the model.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r} (use {', '.join(ENGINES)})")
    why_not = (
        "the model has a causal decoder, which only torch runs"
        if cfg.causal_decoder
        else "--temperature samples with torch"
        if sampling
        else "--device cuda runs on torch"
        if device == "cuda"
        else None
    )
    if engine == "numpy" and why_not:
        raise UsageError(f"--engine numpy cannot run this: {why_not}")
    on_cpu = device == "cpu" or (device == "auto" and not cuda_possible())
    short = work_bytes <= TORCH_FROM_BYTES
    # auto: without torch installed, numpy runs whatever it can (the light install)
    if engine == "numpy" or (
        engine == "auto" and why_not is None and (on_cpu and short or not torch_installed())
    ):
        return "numpy"
    require_torch(why_not or "--engine torch runs on it", "torch")
    return "torch"


def torch_installed() -> bool:
    """Whether PyTorch can be imported, answered without importing it (seconds on a small CPU)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def require_torch(why: str, extra: str) -> None:
    """A one-line error naming the extra to install, when ``why`` needs torch and it is missing.

    ``pip install autodynamics-cli`` humanizes with the bundled model on numpy alone;
    the torch engine, GPUs, sampling and training come with the ``torch`` and
    ``train`` extras.
    """
    if not torch_installed():
        raise AutodynError(
            f"PyTorch is not installed, and {why}: install autodyn's [{extra}] extra (pip install torch)"
        )


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
    return (
        os.path.exists("/proc/driver/nvidia/version")
        or bool(glob.glob("/dev/nvidia[0-9]*"))
        or shutil.which("nvidia-smi") is not None
    )


def cpu_cores() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

"""Load the model the way it will run: the numpy tagger on a CPU, else torch.

For a short job on a CPU with a tagger model (the bundled one), ``autodyn
humanize`` never imports torch: the numpy engine (``numpy_tagger.py``) gives the
same velocities, and importing torch (two to three seconds on a small CPU) would
take longer than the model. Torch's kernels are somewhat faster (8 to 20%), so a job
of more than ``TORCH_FROM_BYTES`` of MIDI goes through torch, as do causal
models, sampling (``--temperature``) and GPUs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from autodynamics_cli.errors import UsageError

if TYPE_CHECKING:
    import torch

    from autodynamics_cli.model import AutoDynamics
    from autodynamics_cli.numpy_tagger import NumpyTagger

ENGINES = ("auto", "numpy", "torch")
# Where torch's faster kernels repay its import, measured with the bundled note-token
# tagger on the two-core development CPU (`autodyn humanize DIR -o OUT/ -q --engine E`
# on copies of ASAP scores): 27 files, 318 KB: numpy 26.6 s, torch 27.3 and 28.9 s;
# 81 files, 1,065 KB: numpy 88.5 s, torch 85.6 s. Linear between them, the break-even
# is near 580 KB. Below it numpy also needs less than half of torch's memory.
TORCH_FROM_BYTES = 512 * 1024


def cpu_cores() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def load_engine(model: str | None, device: str = "auto", engine: str = "auto",
                temperature: float = 0.0, work_bytes: int = 0
                ) -> tuple[AutoDynamics | NumpyTagger, torch.device | None]:
    """The model for ``--model``/``--device``/``--engine``, and its torch device (None: numpy).

    ``work_bytes``: the size of the MIDI input of the job, for ``auto``.
    """
    from autodynamics_cli.device import cuda_possible, resolve_device
    from autodynamics_cli.weights import load_model_file, read_checked_config, resolve_model_path

    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r} (use {', '.join(ENGINES)})")
    path = resolve_model_path(model)
    cfg = read_checked_config(path)
    why_not = ("the model has a causal decoder" if cfg.causal_decoder else
               "--temperature samples with torch" if temperature > 0 else
               "--device cuda runs on torch" if device == "cuda" else None)
    if engine == "numpy" and why_not:
        raise UsageError(f"--engine numpy cannot run this: {why_not}")
    on_cpu = device == "cpu" or (device == "auto" and not cuda_possible())
    short = work_bytes <= TORCH_FROM_BYTES
    if engine == "numpy" or (engine == "auto" and why_not is None and on_cpu and short):
        from autodynamics_cli.numpy_tagger import NumpyTagger
        from autodynamics_cli.weights import read_numpy_state

        return NumpyTagger(cfg, read_numpy_state(path, cfg), workers=cpu_cores()), None
    dev = resolve_device(device)
    return load_model_file(path, dev), dev

"""One interface for running a model, and the one place that picks the engine and device.

An ``Engine`` turns model inputs (``encoding.windows.WindowInput``) into one
velocity per note; ``TorchEngine`` and ``NumpyEngine`` are its two adapters,
side by side, so ``predict.py`` never asks which one it has.

``load_engine`` picks the numpy engine for a short job on a CPU with a tagger
model (the bundled one): ``autodyn humanize`` then never imports torch, and the
numpy engine gives the same velocities while importing torch (two to three
seconds on a small CPU) would take longer than the model. Torch's kernels are
somewhat faster (8 to 20%), so a job of more than ``TORCH_FROM_BYTES`` of MIDI
goes through torch, as do causal models, sampling (``--temperature``) and GPUs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from autodynamics_cli.encoding.windows import WindowInput
from autodynamics_cli.errors import UsageError
from autodynamics_cli.model.config import ModelConfig

ENGINES = ("auto", "numpy", "torch")
# Where torch's faster kernels repay its import, measured with the bundled note-token
# tagger on the two-core development CPU (`autodyn humanize DIR -o OUT/ -q --engine E`
# on copies of ASAP scores): 27 files, 318 KB: numpy 26.6 s, torch 27.3 and 28.9 s;
# 81 files, 1,065 KB: numpy 88.5 s, torch 85.6 s. Linear between them, the break-even
# is near 580 KB. Below it numpy also needs less than half of torch's memory.
TORCH_FROM_BYTES = 512 * 1024


class Engine(ABC):
    """A loaded model that gives one velocity (1..127) per note of each window."""

    cfg: ModelConfig

    @abstractmethod
    def velocities(self, windows: list[WindowInput], batch_size: int = 32,
                   temperature: float = 0.0) -> list[np.ndarray]:
        """Velocities of each window's notes; ``temperature`` above 0 samples (seeded per window)."""


def load_engine(model: str | None, device: str = "auto", engine: str = "auto",
                temperature: float = 0.0, work_bytes: int = 0) -> Engine:
    """The engine for ``--model``/``--device``/``--engine``.

    ``work_bytes``: the size of the MIDI input of the job, for ``auto``.
    """
    from autodynamics_cli.inference.device import cpu_cores, cuda_possible, resolve_device
    from autodynamics_cli.model.registry import resolve
    from autodynamics_cli.model.weights_file import read_checked_config

    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r} (use {', '.join(ENGINES)})")
    path = resolve(model)
    cfg = read_checked_config(path)
    why_not = ("the model has a causal decoder" if cfg.causal_decoder else
               "--temperature samples with torch" if temperature > 0 else
               "--device cuda runs on torch" if device == "cuda" else None)
    if engine == "numpy" and why_not:
        raise UsageError(f"--engine numpy cannot run this: {why_not}")
    on_cpu = device == "cpu" or (device == "auto" and not cuda_possible())
    short = work_bytes <= TORCH_FROM_BYTES
    if engine == "numpy" or (engine == "auto" and why_not is None and on_cpu and short):
        from autodynamics_cli.inference.numpy_engine import NumpyEngine
        from autodynamics_cli.model.numpy_net import NumpyTagger
        from autodynamics_cli.model.weights_file import read_numpy_state

        return NumpyEngine(NumpyTagger(cfg, read_numpy_state(path, cfg)), workers=cpu_cores())
    from autodynamics_cli.inference.torch_engine import TorchEngine
    from autodynamics_cli.model.weights_file import load_model_file

    dev = resolve_device(device)
    return TorchEngine(load_model_file(path, dev), dev)

"""Load the model the way it will run: the numpy tagger on a CPU, else torch.

``autodyn humanize`` on a CPU with a tagger model (the bundled one) never
imports torch: the numpy engine (``numpy_tagger.py``) gives the same velocities
and the command starts in a fraction of the time. Causal models, sampling
(``--temperature``) and GPUs go through torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autodynamics_cli.errors import UsageError

if TYPE_CHECKING:
    import torch

    from autodynamics_cli.model import AutoDynamics
    from autodynamics_cli.numpy_tagger import NumpyTagger

ENGINES = ("auto", "numpy", "torch")


def load_engine(model: str | None, device: str = "auto", engine: str = "auto",
                temperature: float = 0.0) -> tuple[AutoDynamics | NumpyTagger, torch.device | None]:
    """The model for ``--model``/``--device``/``--engine``, and its torch device (None: numpy)."""
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
    if engine == "numpy" or (engine == "auto" and why_not is None and on_cpu):
        from autodynamics_cli.numpy_tagger import NumpyTagger
        from autodynamics_cli.weights import read_numpy_state

        return NumpyTagger(cfg, read_numpy_state(path, cfg)), None
    dev = resolve_device(device)
    return load_model_file(path, dev), dev

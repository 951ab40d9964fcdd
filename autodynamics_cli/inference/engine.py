"""One interface for running a model: ``Engine``.

An ``Engine`` turns model inputs (``encoding.windows.WindowInput``) into one
velocity per note; ``TorchEngine`` (``torch_engine.py``) and ``NumpyEngine``
(``numpy_engine.py``) are its two adapters, side by side: neither imports the
other, both read velocities with ``readout.py`` and settle close calls with
``referee.py``, and ``predict.py`` never asks which one it has. An engine runs the
network only; ``model.Model`` pairs it with the weights file's calibration and card.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from autodynamics_cli.encoding.windows import WindowInput
from autodynamics_cli.model.config import ModelConfig


class Engine(ABC):
    """A loaded model that gives one velocity (1..127) per note of each window."""

    cfg: ModelConfig
    name: str  # "numpy" or "torch": which adapter runs it

    @abstractmethod
    def velocities(
        self,
        windows: list[WindowInput],
        batch_size: int = 32,
        temperature: float = 0.0,
        on_batch: Callable[[list[int]], None] | None = None,
    ) -> list[np.ndarray]:
        """Velocities of each window's notes; ``temperature`` above 0 samples (seeded per window).

        ``on_batch`` (progress) gets the indices of each batch's windows when they are done,
        possibly from worker threads.
        """

    @abstractmethod
    def num_parameters(self) -> int:
        """The model's size, for reports."""

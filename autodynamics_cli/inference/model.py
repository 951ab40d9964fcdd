"""The one model object: a network on an engine, with its piece calibration and its card.

Every user of a model gets it here: ``autodyn humanize``, ``eval``, ``export``,
``plot``, training's validation, the Python API and the benchmarks. So what is
measured is what ships: ``Model.predict`` applies the weights file's piece
calibration unless told not to (``calibrate=False``, to measure the network alone).

``load_model`` resolves a name (``model.registry``), reads the weights file's
config, calibration and card once, and puts the network on the engine that
``choose.choose_engine`` picks. ``Model.from_network`` wraps a torch network held
in memory (a training run's, whose calibration is fitted after training).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autodynamics_cli.encoding.windows import WindowInput
from autodynamics_cli.inference.choose import choose_engine, cpu_cores, resolve_device
from autodynamics_cli.inference.engine import Engine
from autodynamics_cli.model.calibration import PieceCalibration
from autodynamics_cli.model.config import ModelConfig

if TYPE_CHECKING:
    import torch

    from autodynamics_cli.midi.notes import Notes
    from autodynamics_cli.model.torch_net import AutoDynamics

CARD_KEYS_INTERNAL = ("config", "piece_calibration")  # metadata that is the model, not its card


@dataclass(frozen=True)
class Model:
    """A loaded model: ``engine`` runs the network; ``calibration`` is its second stage.

    ``card``: the weights file's free-form metadata (licence, training data,
    metrics, versions); ``name``: what it was loaded as; ``path``: its weights file
    (None for a network held in memory).
    """

    engine: Engine
    calibration: PieceCalibration | None = None
    card: dict[str, str] = field(default_factory=dict)
    name: str = ""
    path: Path | None = None

    @property
    def cfg(self) -> ModelConfig:
        return self.engine.cfg

    @property
    def engine_name(self) -> str:
        """``numpy`` or ``torch``."""
        return self.engine.name

    def num_parameters(self) -> int:
        return self.engine.num_parameters()

    def velocities(
        self,
        windows: list[WindowInput],
        batch_size: int = 32,
        temperature: float = 0.0,
        on_batch: Callable[[list[int]], None] | None = None,
    ) -> list[np.ndarray]:
        """The network's velocities of each window's notes (``Engine.velocities``)."""
        return self.engine.velocities(windows, batch_size, temperature, on_batch)

    def predict(
        self,
        notes: Notes,
        *,
        markings: np.ndarray | None = None,
        read_dynamics: bool = True,
        read_staves: bool = True,
        temperature: float = 0.0,
        seed: int = 0,
        calibrate: bool = True,
    ) -> np.ndarray:
        """One velocity (1..127) per note of one note table (``inference.predict``)."""
        from autodynamics_cli.inference.predict import predict_velocities

        (vel,) = predict_velocities(
            self,
            [notes],
            read_dynamics=read_dynamics,
            read_staves=read_staves,
            temperature=temperature,
            seed=seed,
            calibrate=calibrate,
            markings=[markings],
        )
        return vel

    def uncalibrated(self) -> Model:
        """The same network without its calibration: what the network alone predicts."""
        return replace(self, calibration=None)

    def network(self) -> AutoDynamics:
        """The torch network (a model on the torch engine): for export and warm starts."""
        net = getattr(self.engine, "model", None)
        if net is None:
            raise TypeError("the torch network is on the torch engine only: load_model(..., engine='torch')")
        return net

    @classmethod
    def from_network(
        cls,
        network: AutoDynamics,
        device: torch.device | str = "cpu",
        calibration: PieceCalibration | None = None,
        card: dict[str, str] | None = None,
        name: str = "",
    ) -> Model:
        """A torch network held in memory (a training run's) on the torch engine."""
        from autodynamics_cli.inference.torch_engine import TorchEngine

        return cls(TorchEngine(network, device), calibration, dict(card or {}), name)


def load_model(
    name: str | Path | None = None,
    *,
    device: str = "auto",
    engine: str = "auto",
    sampling: bool = False,
    work_bytes: int = 0,
) -> Model:
    """The model called ``name`` (``None``/``"default"``: the bundled one), ready to predict.

    ``name``: a known name, a ``.safetensors`` file or folder, or a Hub repo
    ``owner/name[@revision][/file]`` (``model.registry``). ``device``: ``auto``,
    ``cpu`` or ``cuda``; ``engine``: ``auto``, ``numpy`` or ``torch``
    (``choose.choose_engine``: ``auto`` runs a tagger on numpy on a CPU, so torch is
    never imported for it). ``sampling``: the model will be asked for a temperature
    (torch only); ``work_bytes``: the job's MIDI size, for ``auto``.
    """
    from autodynamics_cli.model.registry import resolve
    from autodynamics_cli.model.weights_file import (
        read_checked_calibration,
        read_checked_config,
        read_metadata,
    )

    label = "default" if name is None else str(name)
    path = resolve(None if name is None else str(name))
    cfg = read_checked_config(path)
    calibration = read_checked_calibration(path)
    card = {k: v for k, v in read_metadata(path).items() if k not in CARD_KEYS_INTERNAL}
    if choose_engine(cfg, device, engine, sampling, work_bytes) == "numpy":
        from autodynamics_cli.inference.numpy_engine import NumpyEngine
        from autodynamics_cli.model.numpy_net import NumpyTagger
        from autodynamics_cli.model.weights_file import read_numpy_state

        net: Engine = NumpyEngine(NumpyTagger(cfg, read_numpy_state(path, cfg)), workers=cpu_cores())
    else:
        from autodynamics_cli.inference.torch_engine import TorchEngine
        from autodynamics_cli.model.weights_file import load_network

        dev = resolve_device(device)
        net = TorchEngine(load_network(path, dev), dev)
    return Model(net, calibration, card, label, path)

"""The one model object (inference/model.py): load_model and Model."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import TAGGER, tiny_model

from autodynamics_cli.inference.model import Model, load_model
from autodynamics_cli.model.weights_file import bundled_weights_dir, read_checked_calibration, save_model


def test_the_bundled_model_comes_with_its_calibration_and_card():
    model = load_model()
    assert model.name == "default" and model.engine_name == "numpy"
    assert model.path == bundled_weights_dir() / "default.safetensors"
    assert model.calibration == read_checked_calibration(model.path)
    assert "license" in model.card and "config" not in model.card and "piece_calibration" not in model.card
    assert model.uncalibrated().calibration is None and model.uncalibrated().engine is model.engine


def test_the_torch_network_is_on_the_torch_engine_only(tmp_path: Path):
    path = tmp_path / "t.safetensors"
    save_model(path, tiny_model(**TAGGER))
    with pytest.raises(TypeError, match="torch engine"):
        load_model(path, device="cpu", engine="numpy").network()
    net = load_model(path, device="cpu", engine="torch").network()
    assert net.cfg == load_model(path).cfg


def test_a_network_in_memory_is_a_model_without_calibration():
    net = tiny_model()
    model = Model.from_network(net)
    assert model.engine_name == "torch" and model.calibration is None and model.network() is net
    assert model.num_parameters() == net.num_parameters()

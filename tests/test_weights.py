from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_model
from safetensors.torch import save_file

from autodynamics_cli.errors import ModelError
from autodynamics_cli.model import PRESETS, AutoDynamics
from autodynamics_cli.weights import bundled_weights_dir, load_model, read_metadata, save_model


def test_round_trip_config_and_weights(tmp_path: Path):
    m = tiny_model(feedback=False)
    path = tmp_path / "m.safetensors"
    save_model(path, m, {"licence": "test"})
    meta = read_metadata(path)
    assert meta["licence"] == "test" and meta["layout_version"] == "1"
    back = load_model(str(path))
    assert back.cfg == m.cfg
    for (k, a), (_, b) in zip(m.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_half_precision_file_loads(tmp_path: Path):
    path = tmp_path / "h.safetensors"
    save_model(path, tiny_model(), half=True)
    assert load_model(str(path)).head.weight.dtype == torch.float32


def test_layout_mismatch_is_refused(tmp_path: Path):
    m = tiny_model()
    path = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(path),
              metadata={"config": json.dumps(m.cfg.to_dict()), "layout_version": "0"})
    with pytest.raises(ModelError, match="layout 0"):
        load_model(str(path))


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, b"garbage" * 10])
def test_corrupt_file_is_clear_error(tmp_path: Path, content: bytes):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="bad.safetensors"):
        load_model(str(path))


def test_truncated_file_is_clear_error(tmp_path: Path):
    path = tmp_path / "t.safetensors"
    save_model(path, tiny_model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="t.safetensors"):
        load_model(str(path))


def test_missing_model_name():
    with pytest.raises(ModelError, match="not found"):
        load_model("no/such/model.safetensors")


def test_preset_parameter_counts():
    counts = {k: AutoDynamics(c).num_parameters() for k, c in PRESETS.items() if k != "paper-base"}
    assert 5e6 <= counts["default"] <= 10e6
    assert counts["small"] < counts["default"] < counts["paper-small"]


def test_bundled_default_model_is_shipped_and_loads():
    path = bundled_weights_dir() / "default.safetensors"
    assert path.is_file(), "weights/default.safetensors must ship with the package"
    meta = read_metadata(path)
    assert "CC BY-NC-SA 4.0" in meta.get("license", "")
    model = load_model("default")
    assert model.num_parameters() > 1e6

"""The weights file (model/weights_file.py): round trips, metadata, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import load_network, tiny_model
from safetensors.torch import save_file

from autodynamics_cli.errors import ModelError
from autodynamics_cli.model.weights_file import (
    bundled_weights_dir,
    inspect_weights,
    read_metadata,
    save_model,
)


def test_round_trip_config_and_weights(tmp_path: Path):
    m = tiny_model(feedback=False)
    path = tmp_path / "m.safetensors"
    save_model(path, m, {"licence": "test"})
    meta = read_metadata(path)
    assert meta["licence"] == "test" and meta["layout_version"] == "1"
    back = load_network(str(path))
    assert back.cfg == m.cfg
    for (k, a), (_, b) in zip(m.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_half_precision_file_loads(tmp_path: Path):
    path = tmp_path / "h.safetensors"
    save_model(path, tiny_model(), half=True)
    assert load_network(str(path)).head.weight.dtype == torch.float32


def test_layout_mismatch_is_refused(tmp_path: Path):
    m = tiny_model()
    path = tmp_path / "old.safetensors"
    save_file(
        {k: v.contiguous() for k, v in m.state_dict().items()},
        str(path),
        metadata={"config": json.dumps(m.cfg.to_dict()), "layout_version": "0"},
    )
    with pytest.raises(ModelError, match="layout 0"):
        load_network(str(path))


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, b"garbage" * 10])
def test_corrupt_file_is_clear_error(tmp_path: Path, content: bytes):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="bad.safetensors"):
        load_network(str(path))


def test_truncated_file_is_clear_error(tmp_path: Path):
    path = tmp_path / "t.safetensors"
    save_model(path, tiny_model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="t.safetensors"):
        load_network(str(path))


def test_missing_model_name():
    with pytest.raises(ModelError, match="not found"):
        load_network("no/such/model.safetensors")


def test_bundled_default_model_is_shipped_and_loads():
    path = bundled_weights_dir() / "default.safetensors"
    assert path.is_file(), "weights/default.safetensors must ship with the package"
    meta = read_metadata(path)
    assert "CC BY-NC-SA 4.0" in meta.get("license", "")
    model = load_network("default")
    assert model.num_parameters() > 1e6


def test_metadata_says_who_wrote_it_and_cannot_be_spoofed(tmp_path: Path):
    from autodynamics_cli import __version__
    from autodynamics_cli.encoding import tokens as T

    path = tmp_path / "m.safetensors"
    m = tiny_model()
    save_model(path, m, {"layout_version": "99", "config": "{}", "license": "MIT"})
    meta = read_metadata(path)
    assert meta["layout_version"] == str(T.LAYOUT_VERSION) and meta["autodyn_version"] == __version__
    assert json.loads(meta["config"]) == m.cfg.to_dict() and meta["license"] == "MIT"


def test_header_alone_gives_size_and_parameters(tmp_path: Path):
    path = tmp_path / "m.safetensors"
    m = tiny_model()
    save_model(path, m, half=True)
    info = inspect_weights(path)
    assert info.parameters == m.num_parameters() and info.size_bytes == path.stat().st_size
    assert info.is_autodyn and info.incompatibility() is None


def _rewrite(path: Path, model, meta: dict[str, str]) -> None:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)


def test_newer_layout_says_upgrade_and_missing_layout_is_named(tmp_path: Path):
    m = tiny_model()
    path = tmp_path / "new.safetensors"
    _rewrite(
        path, m, {"config": json.dumps(m.cfg.to_dict()), "layout_version": "7", "autodyn_version": "9.0.0"}
    )
    with pytest.raises(ModelError, match=r"layout 7 \(by autodyn 9.0.0\).*upgrade autodyn"):
        load_network(str(path))
    _rewrite(path, m, {"config": json.dumps(m.cfg.to_dict())})
    with pytest.raises(ModelError, match="no token layout version"):
        load_network(str(path))
    _rewrite(path, m, {"layout_version": "1"})
    with pytest.raises(ModelError, match="not an autodyn model"):
        load_network(str(path))


def test_config_from_a_newer_autodyn_says_upgrade(tmp_path: Path):
    m = tiny_model()
    path = tmp_path / "new.safetensors"
    cfg = {**m.cfg.to_dict(), "a_future_option": True}
    _rewrite(path, m, {"config": json.dumps(cfg), "layout_version": "1", "autodyn_version": "99.0"})
    with pytest.raises(ModelError, match="written by autodyn 99.0, newer than this .*upgrade"):
        load_network(str(path))
    _rewrite(path, m, {"config": "{not json", "layout_version": "1", "autodyn_version": "0.0.1"})
    with pytest.raises(ModelError, match="invalid model config"):
        load_network(str(path))


def test_header_claiming_more_than_the_file_and_nan_weights(tmp_path: Path):
    path = tmp_path / "h.safetensors"
    path.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    with pytest.raises(ModelError, match="not a safetensors weights file, or truncated"):
        load_network(str(path))
    m = tiny_model()
    with torch.no_grad():
        m.head.weight[0, 0] = float("nan")
    save_model(path, m)
    with pytest.raises(ModelError, match="NaN"):
        load_network(str(path))

"""Which engine runs a job (inference/choose.py)."""

from __future__ import annotations

from pathlib import Path

from helpers import TAGGER, cli, piece, tiny_model

from autodynamics_cli.inference.model import load_model
from autodynamics_cli.inference.numpy_engine import NumpyEngine
from autodynamics_cli.inference.torch_engine import TorchEngine
from autodynamics_cli.model.weights_file import save_model


def test_engine_choice(tiny_weights: Path, tmp_path: Path, capsys, monkeypatch):
    causal = str(tiny_weights)
    tagger = tmp_path / "tagger.safetensors"
    save_model(tagger, tiny_model(**TAGGER))
    assert isinstance(load_model(tagger, device="cpu").engine, NumpyEngine)
    assert isinstance(load_model(tagger, device="cpu", engine="torch").engine, TorchEngine)
    assert isinstance(load_model(tagger, device="cpu", sampling=True).engine, TorchEngine)
    assert isinstance(load_model(causal, device="cpu").engine, TorchEngine)
    # a long job repays torch's import: auto picks torch, an explicit numpy stays numpy
    assert isinstance(load_model(tagger, device="cpu", work_bytes=10**7).engine, TorchEngine)
    assert isinstance(load_model(tagger, device="cpu", engine="numpy", work_bytes=10**7).engine, NumpyEngine)
    src = tmp_path / "in.mid"
    src.write_bytes(piece(2))
    code, _, err = cli(
        capsys, monkeypatch, "humanize", src, "-o", tmp_path / "o.mid", "--model", causal, "--engine", "numpy"
    )
    assert code == 2
    assert err == (
        "error: --engine numpy cannot run this: the model has a causal decoder, which only torch runs\n"
    )
    assert not (tmp_path / "o.mid").exists()

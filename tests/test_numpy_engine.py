"""The numpy tagger gives the torch model's velocities, and humanize on a CPU never imports torch."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mido
import numpy as np
import pytest
import torch
from conftest import tiny_model
from midi_factory import off, on, to_bytes, track
from test_decoding import random_window
from test_robustness import cli
from typer.testing import CliRunner

from autodynamics_cli import tokens as T
from autodynamics_cli.cli import app
from autodynamics_cli.decoding import _full_inputs, _stack, decode_cached
from autodynamics_cli.engine import load_engine
from autodynamics_cli.errors import ModelError
from autodynamics_cli.model import PRESETS, AutoDynamics
from autodynamics_cli.model_spec import state_shapes
from autodynamics_cli.numpy_tagger import NumpyTagger, decoder_inputs
from autodynamics_cli.weights import read_numpy_state, save_model

CPU = torch.device("cpu")
runner = CliRunner()
TAGGER = dict(feedback=False, causal_decoder=False, note_features=True, input_velocity=True)


def as_numpy(model: AutoDynamics) -> NumpyTagger:
    return NumpyTagger(model.cfg, {k: v.numpy() for k, v in model.state_dict().items()})


@pytest.mark.parametrize("preset", PRESETS)
def test_state_shapes_describe_the_torch_model(preset):
    for cfg in (PRESETS[preset], replace(PRESETS[preset], note_pitch_embedding=False,
                                         note_features=False, input_velocity=True)):
        model = AutoDynamics(cfg)
        assert state_shapes(cfg) == {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_decoder_inputs_match_the_torch_ones():
    from autodynamics_cli.model import note_keys

    rng = np.random.default_rng(1)
    items = [random_window(rng, n) for n in (6, 13, 9)]
    x = _stack(items, CPU)
    tokens, onsets, roles, features = _full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    got = decoder_inputs(items)
    want = (tokens, onsets, roles, note_keys(tokens, roles, None), features)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w.numpy())


@pytest.mark.parametrize("kw", [
    TAGGER,
    {**TAGGER, "readout": "mean"},
    {**TAGGER, "note_features": False, "input_velocity": False, "note_pitch_embedding": False},
    {**TAGGER, "n_dec_layers": 2, "n_enc_layers": 2},
], ids=["argmax", "mean", "bare", "two-layers"])
def test_numpy_velocities_equal_torch(kw):
    model = tiny_model(seed=7, **kw)
    with torch.no_grad():  # sharpen the logits so a real mismatch changes velocities
        model.head.weight.mul_(50)
    rng = np.random.default_rng(4)
    items = [random_window(rng, n) for n in (1, 5, 17, 9, 20, 3)]
    want = decode_cached(model, items, CPU, batch_size=4)
    engine = as_numpy(model)
    got = engine.velocities(items, batch_size=4)
    assert [g.tolist() for g in got] == [w.tolist() for w in want]
    assert len({v for g in got for v in g.tolist()}) > 5  # the comparison is not between constants
    engine.workers = 2  # batches in two threads: the same velocities
    assert [g.tolist() for g in engine.velocities(items, batch_size=2)] == [g.tolist() for g in got]
    # the logits themselves agree, not only their readout
    x = _stack(items[:3], CPU)
    inputs = _full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    with torch.inference_mode():
        ref = model.velocity_logits(*inputs[:3], model.encode(x.roll), inputs[3]).numpy()
    tokens, onsets, roles, keys, features = decoder_inputs(items[:3])
    mine = engine.velocity_logits(tokens, onsets, roles, keys, features,
                                  engine.encode(np.stack([w.roll for w in items[:3]])))
    real = tokens[:, 2::3] != T.PAD
    np.testing.assert_allclose(mine[real], ref[real], rtol=1e-4, atol=1e-3)


def test_numpy_engine_refuses_a_causal_model():
    with pytest.raises(ValueError, match="taggers only"):
        as_numpy(tiny_model())


def piece(bars: int = 30) -> bytes:
    """Two hands over several windows, with stepped notated dynamics."""
    msgs = []
    for i in range(bars * 4):
        v = 40 if (i // 16) % 2 else 90
        hi, lo = 72 + (i * 5) % 12, 48 + (i * 7) % 12
        msgs += [on(lo, v, time=0), on(hi, v), on(hi + 4, v), off(lo, time=220), off(hi), off(hi + 4)]
    return to_bytes(mido.MidiFile(type=0, ticks_per_beat=240, tracks=[track(*msgs)]))


def test_cli_engines_write_identical_files(tmp_path: Path):
    """The bundled model through numpy and through torch: byte-identical outputs."""
    src = tmp_path / "in.mid"
    src.write_bytes(piece())
    outs = {}
    for engine in ("numpy", "torch"):
        out = tmp_path / f"{engine}.mid"
        r = runner.invoke(app, ["humanize", str(src), "-o", str(out), "--device", "cpu",
                                "--engine", engine])
        assert r.exit_code == 0, r.output
        outs[engine] = out.read_bytes()
    assert outs["numpy"] == outs["torch"] != src.read_bytes()


def test_humanize_on_cpu_does_not_import_torch(tmp_path: Path):
    src = tmp_path / "in.mid"
    src.write_bytes(piece(4))
    code = ("import sys\nfrom autodynamics_cli.cli import main\n"
            f"sys.argv = ['autodyn', 'humanize', {str(src)!r}, '-o', {str(tmp_path / 'o.mid')!r}, "
            "'--device', 'cpu', '-q']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.mid").is_file()


def test_engine_choice(tiny_weights: Path, tmp_path: Path, capsys, monkeypatch):
    causal = str(tiny_weights)
    tagger = tmp_path / "tagger.safetensors"
    save_model(tagger, tiny_model(**TAGGER))
    assert isinstance(load_engine(str(tagger), "cpu")[0], NumpyTagger)
    assert isinstance(load_engine(str(tagger), "cpu", "torch")[0], AutoDynamics)
    assert isinstance(load_engine(str(tagger), "cpu", temperature=0.5)[0], AutoDynamics)
    assert isinstance(load_engine(causal, "cpu")[0], AutoDynamics)
    # a long job repays torch's import: auto picks torch, an explicit numpy stays numpy
    assert isinstance(load_engine(str(tagger), "cpu", work_bytes=10**7)[0], AutoDynamics)
    assert isinstance(load_engine(str(tagger), "cpu", "numpy", work_bytes=10**7)[0], NumpyTagger)
    src = tmp_path / "in.mid"
    src.write_bytes(piece(2))
    code, _, err = cli(capsys, monkeypatch, "humanize", src, "-o", tmp_path / "o.mid",
                       "--model", causal, "--engine", "numpy")
    assert code == 2
    assert err == "error: --engine numpy cannot run this: the model has a causal decoder\n"
    assert not (tmp_path / "o.mid").exists()


def test_numpy_loader_checks_the_weights(tmp_path: Path):
    model = tiny_model(**TAGGER)
    path = tmp_path / "m.safetensors"
    save_model(path, model)
    smaller = replace(model.cfg, d_ff=32)
    with pytest.raises(ModelError, match="do not match their config"):
        read_numpy_state(path, smaller)
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    save_model(path, model)
    with pytest.raises(ModelError, match="NaN"):
        read_numpy_state(path, model.cfg)

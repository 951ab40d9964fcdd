"""The numpy network (model/numpy_net.py) computes what the torch network computes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CPU, TAGGER, as_numpy, random_window, tiny_model

from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.errors import ModelError
from autodynamics_cli.inference.referee import decoder_inputs
from autodynamics_cli.inference.torch_engine import decode_cached, full_inputs, stack_windows
from autodynamics_cli.model.weights_file import read_numpy_state, save_model


@pytest.mark.parametrize(
    "kw",
    [
        TAGGER,
        {**TAGGER, "readout": "mean"},
        {**TAGGER, "note_features": False, "input_velocity": False, "note_pitch_embedding": False},
        {**TAGGER, "n_dec_layers": 2, "n_enc_layers": 2},
    ],
    ids=["argmax", "mean", "bare", "two-layers"],
)
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
    engine.engine.workers = 2  # batches in two threads: the same velocities
    assert [g.tolist() for g in engine.velocities(items, batch_size=2)] == [g.tolist() for g in got]
    # the logits themselves agree, not only their readout
    x = stack_windows(items[:3], CPU)
    inputs = full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    with torch.inference_mode():
        ref = model.velocity_logits(*inputs[:3], model.encode(x.roll), inputs[3]).numpy()
    tokens, onsets, roles, keys, features = decoder_inputs(items[:3])
    net = engine.engine.net
    mine = net.velocity_logits(
        tokens, onsets, roles, keys, features, net.encode(np.stack([w.roll for w in items[:3]]))
    )
    real = tokens[:, 2::3] != T.PAD
    np.testing.assert_allclose(mine[real], ref[real], rtol=1e-4, atol=1e-3)


def test_numpy_engine_refuses_a_causal_model():
    with pytest.raises(ValueError, match="taggers only"):
        as_numpy(tiny_model())


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

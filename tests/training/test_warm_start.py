"""Starting a run from another model's weights (training/warm_start.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import (
    CPU,
    NOTE_TAGGER,
    STAFF_COLUMNS,
    STAFF_TAGGER,
    assert_init_keeps_the_logits,
    load_network,
    random_window,
    save,
    tiny_cfg,
    tiny_model,
    windows_with,
)

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.inference.torch_engine import full_inputs, stack_windows
from autodynamics_cli.model.config import ModelConfig
from autodynamics_cli.model.torch_net import AutoDynamics
from autodynamics_cli.model.weights_file import save_model
from autodynamics_cli.training.loop import train
from autodynamics_cli.training.warm_start import init_weights


def test_train_from_a_three_token_model(dataset: Path, tmp_path: Path):
    three = tmp_path / "three.safetensors"
    src = AutoDynamics(ModelConfig(**{**tiny_model(**{**NOTE_TAGGER, "note_tokens": False}).cfg.to_dict()}))
    torch.manual_seed(0)
    for p in src.parameters():
        torch.nn.init.normal_(p)
    save_model(three, src)
    cfg = tiny_cfg(dataset, tmp_path / "run", 1)
    cfg.overrides = {
        "note_tokens": True,
        "causal_decoder": False,
        "note_features": True,
        "input_velocity": True,
    }
    cfg.lr, cfg.init_from = 0.0, str(three)  # no update: the run's weights are the source's
    train(cfg)
    got = load_network(str(tmp_path / "run" / "best.safetensors"))
    assert got.cfg.note_tokens
    for k, v in src.state_dict().items():
        torch.testing.assert_close(got.state_dict()[k], v, msg=k)
    # weights of another shape are refused with the file's name
    cfg2 = tiny_cfg(dataset, tmp_path / "run2", 1)
    cfg2.init_from = str(three)
    cfg2.preset = "small"
    with pytest.raises(Exception, match="three.safetensors"):
        train(cfg2)


def test_init_from_a_shallower_model_grows_it_as_identity(tmp_path: Path):
    """Added layers start as the identity: the grown model computes what the source did."""
    src = tiny_model(seed=4, **NOTE_TAGGER)
    for p in src.parameters():  # no zeros by chance: every tensor matters
        torch.nn.init.normal_(p, std=0.3)
    save_model(tmp_path / "src.safetensors", src)
    grown = tiny_model(seed=5, n_enc_layers=2, n_dec_layers=3, **NOTE_TAGGER)
    init_weights(grown, tmp_path / "src.safetensors")
    rng = np.random.default_rng(3)
    x = stack_windows([random_window(rng, n) for n in (5, 12)], CPU)
    inputs = full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    with torch.inference_mode():
        want = src.decode(*inputs[:3], src.encode(x.roll), inputs[3])
        got = grown.decode(*inputs[:3], grown.encode(x.roll), inputs[3])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert grown.decoder[2].ff.wi.weight.abs().sum() > 0  # only the residual outputs are zero
    assert grown.decoder[2].ff.wo.weight.abs().sum() == 0
    # a shallower model cannot start from a deeper one
    with pytest.raises(Exception, match="do not fit"):
        init_weights(tiny_model(**NOTE_TAGGER), save(tmp_path / "deep.safetensors", grown))


def test_init_from_a_model_without_the_lead(tmp_path: Path):
    """The lead's rows start at zero: the new model computes what the source did."""
    dst = tiny_model(seed=5, onset_lead=True, **NOTE_TAGGER)
    items = windows_with((NF.LEAD_COLUMN,), 3, (5, 12))
    assert_init_keeps_the_logits(tiny_model(seed=4, **NOTE_TAGGER), dst, items, tmp_path)
    rows = NF.FEATURE_SIZES[NF.LEAD_COLUMN]
    assert dst.feat_emb.weight[-rows:].abs().sum() == 0
    # not the other way round: a model without the lead cannot drop the source's rows
    save_model(tmp_path / "lead.safetensors", dst)
    with pytest.raises(Exception, match="do not fit"):
        init_weights(tiny_model(**NOTE_TAGGER), tmp_path / "lead.safetensors")
    # nor can rows be inserted before the source's (the notated velocity's come before the lead's)
    plain = tiny_model(
        feedback=False, causal_decoder=False, note_features=True, note_tokens=True, onset_lead=True
    )
    save_model(tmp_path / "plain.safetensors", plain)
    with pytest.raises(Exception, match="do not fit"):
        init_weights(tiny_model(onset_lead=True, **NOTE_TAGGER), tmp_path / "plain.safetensors")


def test_init_from_a_model_without_staves(tmp_path: Path):
    """The staff rows start at zero: the new model computes what the source did."""
    dst = tiny_model(seed=5, staff=True, **STAFF_TAGGER)
    items = windows_with(STAFF_COLUMNS, 3, (5, 12))
    assert_init_keeps_the_logits(tiny_model(seed=4, **STAFF_TAGGER), dst, items, tmp_path)
    rows = sum(NF.FEATURE_SIZES[c] for c in STAFF_COLUMNS)
    assert dst.feat_emb.weight[-rows:].abs().sum() == 0


def test_init_from_a_model_without_markings(tmp_path: Path):
    """The markings' rows start at zero: on any markings the new model computes what the source did."""
    dst = tiny_model(seed=5, staff=True, markings=True, **STAFF_TAGGER)
    items = windows_with(NF.MARKING_COLUMNS, 3, (5, 12))
    assert_init_keeps_the_logits(tiny_model(seed=4, staff=True, **STAFF_TAGGER), dst, items, tmp_path)
    rows = sum(NF.FEATURE_SIZES[c] for c in NF.MARKING_COLUMNS)
    assert dst.feat_emb.weight[-rows:].abs().sum() == 0

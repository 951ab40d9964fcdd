"""The torch engine's forced decoding (inference/torch_engine.py) against the reference decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CPU, NOTE_TAGGER, TAGGER, decode_reference, random_window, tiny_model

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.inference.torch_engine import decode_cached, full_inputs, stack_windows

VARIANTS = {"feedback": dict(feedback=True), "masked": dict(feedback=False), "tagger": TAGGER}


def sharp_model(seed: int, variant: str):
    """A tiny model with sharpened logits, so near-ties cannot hide a mismatch."""
    model = tiny_model(seed=seed, **VARIANTS[variant])
    with torch.no_grad():
        model.head.weight.mul_(50)
    return model


@pytest.mark.parametrize("variant", VARIANTS)
def test_cached_equals_reference(variant):
    model = sharp_model(3, variant)
    rng = np.random.default_rng(0)
    items = [random_window(rng, n) for n in (1, 5, 17, 9, 20)]
    fast = decode_cached(model, items, CPU, batch_size=3)
    for item, got in zip(items, fast, strict=True):
        ref = decode_reference(model, item, CPU)
        assert len(got) == len(item)
        assert got.tolist() == ref.tolist()
        assert got.min() >= 1 and got.max() <= 127


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoding_is_deterministic_and_batch_independent(variant):
    model = sharp_model(5, variant)
    rng = np.random.default_rng(2)
    items = [random_window(rng, n) for n in (4, 12, 7)]
    a = decode_cached(model, items, CPU, batch_size=8)
    b = decode_cached(model, items, CPU, batch_size=1)
    assert [x.tolist() for x in a] == [x.tolist() for x in b]


def test_feedback_actually_feeds_back():
    """A model trained with feedback reads its previous velocity: the stepwise
    path must differ from the masked one-pass path for some random model."""
    model = tiny_model(feedback=True, seed=7)
    with torch.no_grad():
        model.head.weight.mul_(50)
        model.tok_emb.weight[T.VEL_OFFSET :].normal_(std=3.0)  # distinct velocity inputs
        for layer in model.decoder:  # make what attention reads matter
            layer.self_attn.o.weight.mul_(30)
    item = random_window(np.random.default_rng(4), 20)
    with_fb = decode_cached(model, [item], CPU)[0]
    model.cfg.velocity_feedback = False
    without = decode_cached(model, [item], CPU)[0]
    assert with_fb.tolist() != without.tolist()


def test_inference_inputs_match_training_layout():
    """torch_engine.full_inputs (batched, torch) and tokens.decoder_inputs (training,
    numpy) must build the same decoder input for the same notes."""
    rng = np.random.default_rng(6)
    item = random_window(rng, 7)
    vel = rng.integers(1, 128, 7)
    seq = T.target_sequence(T.token_pitch(item.pitch_tok), T.token_duration(item.dur_tok), vel)
    for mask in (np.ones(7, dtype=bool), np.zeros(7, dtype=bool)):
        want = T.decoder_inputs(seq, item.rel_onset, mask)
        vel_tok = np.where(mask, T.VEL_MASK, T.velocity_token(vel))
        feats = NF.note_features(item.rel_onset, T.token_pitch(item.pitch_tok))
        item.features = feats
        got = full_inputs(stack_windows([item], torch.device("cpu")), torch.tensor(vel_tok)[None])
        for w, g in zip((*want, T.per_token(feats)), got, strict=True):
            assert len(w) == 3 * 7 + 1 and g.shape[1] == 3 * 7 + 1
            assert g[0].tolist() == w.tolist()


def test_padding_notes_change_nothing():
    """A note-token window's velocities do not depend on the longer windows batched with it."""
    model = tiny_model(seed=5, **NOTE_TAGGER)
    with torch.no_grad():
        model.head.weight.mul_(50)
    rng = np.random.default_rng(7)
    items = [random_window(rng, n) for n in (3, 20)]
    alone = decode_cached(model, items[:1], CPU)
    together = decode_cached(model, items, CPU, batch_size=2)
    assert alone[0].tolist() == together[0].tolist()


@pytest.mark.parametrize("readout", ["argmax", "mean"])
def test_shipping_tagger_equals_reference_with_either_readout(readout):
    """The shipping preset's layout (tagger, note features, mean readout) on the fast path."""
    model = tiny_model(
        seed=4,
        feedback=False,
        causal_decoder=False,
        note_features=True,
        input_velocity=True,
        readout=readout,
        n_dec_layers=2,
    )
    with torch.no_grad():
        model.head.weight.mul_(20)
    rng = np.random.default_rng(5)
    items = [random_window(rng, n) for n in (2, 19, 7, 20, 11, 1, 15)]
    fast = decode_cached(model, items, CPU, batch_size=3)
    assert [f.tolist() for f in fast] == [decode_reference(model, w, CPU).tolist() for w in items]

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_model

from autodynamics_cli import note_features as NF
from autodynamics_cli import tokens as T
from autodynamics_cli.decoding import WindowInput, decode_cached, decode_reference
from autodynamics_cli.humanize import predict_velocities
from autodynamics_cli.midi_io import Notes
from autodynamics_cli.pianoroll import encode_roll

CPU = torch.device("cpu")


def random_window(rng: np.random.Generator, n: int) -> WindowInput:
    on = np.sort(rng.integers(0, 256, n))
    pitch = rng.integers(21, 109, n)
    order = T.note_order(on, pitch)
    on, pitch = on[order], pitch[order]
    dur = rng.integers(1, 40, n)
    return WindowInput(roll=encode_roll(on, on + dur, pitch, 0), pitch_tok=T.pitch_token(pitch),
                       dur_tok=T.duration_token(dur), rel_onset=on,
                       features=NF.note_features(on, pitch, rng.integers(1, 128, n)))


TAGGER = dict(feedback=False, causal_decoder=False, note_features=True, input_velocity=True)
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


@pytest.mark.parametrize("variant", ["masked", "tagger"])
def test_predict_one_velocity_per_note_long_piece(variant):
    model = tiny_model(seed=1, **VARIANTS[variant])
    rng = np.random.default_rng(3)
    n = 3000
    onset = np.sort(rng.uniform(0, 600, n))  # ten minutes
    notes = Notes(onset=onset, offset=onset + rng.uniform(0, 2, n), pitch=rng.integers(21, 109, n),
                  velocity=np.full(n, 64), channel=np.zeros(n, int), track=np.zeros(n, int),
                  byte_offset=np.arange(n))
    (vel,) = predict_velocities(model, [notes], CPU)
    assert vel.shape == (n,) and vel.min() >= 1 and vel.max() <= 127


def test_note_keys_follow_each_note():
    from autodynamics_cli.model import note_keys

    seq = T.target_sequence(np.array([60, 72]), np.array([2, 3]), np.array([70, 80]))
    toks, _, roles = T.decoder_inputs(seq, np.array([0, 4]))
    keys = note_keys(torch.tensor(toks)[None], torch.tensor(roles)[None], None)[0]
    # BOS, p1 d1 v1 (note 1), p2 d2 v2 (note 2)
    assert keys.tolist() == [0, 39, 39, 39, 51, 51, 51]
    # the same keys when the sequence arrives in cached steps of three
    tail = torch.full((1, 2), T.PAD)
    got = []
    for s in range(0, 6, 3):
        step_t, step_r = torch.tensor(toks[s : s + 3])[None], torch.tensor(roles[s : s + 3])[None]
        got += note_keys(step_t, step_r, tail)[0].tolist()
        tail = torch.cat([tail, step_t], dim=1)[:, -2:]
    assert got == [0, 39, 39, 39, 51, 51]


def test_inference_inputs_match_training_layout():
    """decoding._full_inputs (batched, torch) and tokens.decoder_inputs (training,
    numpy) must build the same decoder input for the same notes."""
    from autodynamics_cli.decoding import _full_inputs, _stack

    rng = np.random.default_rng(6)
    item = random_window(rng, 7)
    vel = rng.integers(1, 128, 7)
    seq = T.target_sequence(T.token_pitch(item.pitch_tok), T.token_duration(item.dur_tok), vel)
    for mask in (np.ones(7, dtype=bool), np.zeros(7, dtype=bool)):
        want = T.decoder_inputs(seq, item.rel_onset, mask)
        vel_tok = np.where(mask, T.VEL_MASK, T.velocity_token(vel))
        feats = NF.note_features(item.rel_onset, T.token_pitch(item.pitch_tok))
        item.features = feats
        got = _full_inputs(_stack([item], torch.device("cpu")), torch.tensor(vel_tok)[None])
        for w, g in zip((*want, T.per_token(feats)), got, strict=True):
            assert len(w) == 3 * 7 + 1 and g.shape[1] == 3 * 7 + 1
            assert g[0].tolist() == w.tolist()

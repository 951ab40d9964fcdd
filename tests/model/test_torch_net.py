"""The torch network (model/torch_net.py): note keys, the velocity-only fast path, note tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CPU, NOTE_TAGGER, random_window, tiny_model

from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.inference.torch_engine import full_inputs, stack_windows
from autodynamics_cli.model.torch_net import note_keys


def test_note_keys_follow_each_note():
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


@pytest.mark.parametrize("variant", ["causal", "tagger"])
def test_velocity_logits_match_the_full_decoder(variant):
    """The pruned last layer and velocity-only head give the full pass's numbers."""
    kw = {
        "causal": dict(feedback=False),
        "tagger": dict(feedback=False, causal_decoder=False, note_features=True, input_velocity=True),
    }[variant]
    model = tiny_model(seed=2, n_dec_layers=2, **kw)
    rng = np.random.default_rng(1)
    x = stack_windows([random_window(rng, n) for n in (6, 13, 9)], CPU)
    with torch.inference_mode():
        inputs = full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
        mem = model.encode(x.roll)
        full = model.decode(*inputs[:3], mem, inputs[3])[:, 2::3, T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY]
        fast = model.velocity_logits(*inputs[:3], mem, inputs[3])
    assert fast.shape == full.shape
    real = (x.pitch != T.PAD)[..., None].expand_as(full)  # padding rows of a tagger may differ
    torch.testing.assert_close(fast[real], full[real], rtol=1e-5, atol=1e-5)


def test_one_decoder_row_per_note():
    """The note-token tagger: one decoder position per note."""
    model = tiny_model(seed=3, **NOTE_TAGGER)
    rng = np.random.default_rng(2)
    x = stack_windows([random_window(rng, n) for n in (4, 11, 7)], CPU)
    inputs = full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    with torch.inference_mode():
        mem = model.encode(x.roll)
        full = model.decode(*inputs[:3], mem, inputs[3])
        fast = model.velocity_logits(*inputs[:3], mem, inputs[3])
    assert full.shape[:2] == x.pitch.shape  # not 3n + 1 positions
    real = x.pitch != T.PAD
    torch.testing.assert_close(fast[real], full[..., T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY][real])

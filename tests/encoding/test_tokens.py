from __future__ import annotations

import numpy as np

from autodynamics_cli.encoding import tokens as T


def test_vocabulary_ranges_do_not_overlap():
    assert T.pitch_token(21) == T.PITCH_OFFSET and T.pitch_token(108) == T.DUR_OFFSET - 1
    assert T.duration_token(1) == T.DUR_OFFSET
    assert T.duration_token(10_000) == T.VEL_OFFSET - 1  # capped
    assert T.velocity_token(1) == T.VEL_OFFSET and T.velocity_token(127) == T.VOCAB_SIZE - 1


def test_round_trip():
    rng = np.random.default_rng(0)
    p, d, v = rng.integers(21, 109, 50), rng.integers(1, 129, 50), rng.integers(1, 128, 50)
    seq = T.target_sequence(p, d, v)
    assert seq[-1] == T.EOS and len(seq) == 151
    assert (T.token_pitch(seq[0:-1:3]) == p).all()
    assert (T.token_duration(seq[1:-1:3]) == d).all()
    assert (T.token_velocity(seq[2:-1:3]) == v).all()


def test_decoder_inputs_shift_and_mask():
    seq = T.target_sequence(np.array([60, 64]), np.array([2, 3]), np.array([70, 80]))
    toks, onsets, roles = T.decoder_inputs(seq, np.array([5, 9]), np.array([True, False]))
    assert toks[0] == T.BOS and (toks[1:] == np.where(np.arange(1, 7) == 3, T.VEL_MASK, seq[:-1])).all()
    assert onsets.tolist() == [0, 5, 5, 5, 9, 9, 9]
    assert roles.tolist() == [0, 1, 2, 3, 1, 2, 3]
    # the position that predicts v_i has d_i as input
    pos = T.velocity_positions(2)
    assert (T.token_velocity(seq[pos]) == [70, 80]).all()
    assert (toks[pos] == T.duration_token([2, 3])).all()


def test_note_order_onset_then_pitch():
    order = T.note_order(np.array([3, 1, 1, 0]), np.array([50, 70, 60, 80]))
    assert order.tolist() == [3, 2, 1, 0]


def test_max_notes():
    assert T.max_notes(1024) == 341 and T.max_notes(2048) == 682

from __future__ import annotations

import numpy as np

from autodynamics_cli.encoding.grid import ROLL_STEPS, note_steps, seconds_to_steps
from autodynamics_cli.encoding.pianoroll import encode_roll


def test_seconds_to_steps_on_grid():
    assert seconds_to_steps(np.array([0.0, 0.05, 0.1, 0.149, 12.8])).tolist() == [0, 1, 2, 2, 256]


def test_onset_held_and_short_notes():
    on, end = note_steps(np.array([0.0, 0.10, 0.30]), np.array([0.20, 0.11, 0.30]))
    assert on.tolist() == [0, 2, 6] and end.tolist() == [4, 3, 7]
    roll = encode_roll(on, end, np.array([21, 60, 108]), start=0)
    assert roll.shape == (ROLL_STEPS, 88) and roll.dtype == np.uint8
    assert roll[:5, 0].tolist() == [2, 1, 1, 1, 0]
    assert roll[1:4, 39].tolist() == [0, 2, 0]  # shorter than a step: onset only
    assert roll[6, 87] == 2  # zero-length note still marks its onset
    assert roll.sum() == 2 + 1 + 1 + 1 + 2 + 2


def test_note_started_before_window_shows_held_and_window_clips():
    roll = encode_roll(np.array([10, 300]), np.array([30, 400]), np.array([60, 61]), start=20)
    assert roll[:10, 39].tolist() == [1] * 10 and roll[10, 39] == 0
    assert roll[:, 40].sum() == 0  # starts after the window


def test_restrike_overrides_held():
    roll = encode_roll(np.array([0, 2]), np.array([5, 4]), np.array([60, 60]), start=0)
    assert roll[:5, 39].tolist() == [2, 1, 2, 1, 1]


def _roll_by_loop(on, end, pitch, start, n_steps=ROLL_STEPS):
    """The straightforward per-note encoding that ``encode_roll`` vectorises."""
    roll = np.zeros((n_steps, 88), dtype=np.uint8)
    for o, e, p in zip(on - start, np.minimum(end - start, n_steps), pitch - 21, strict=True):
        if e > 0 and o < n_steps:
            roll[max(o, 0) : e, p] = np.maximum(roll[max(o, 0) : e, p], 1)
    for o, e, p in zip(on - start, np.minimum(end - start, n_steps), pitch - 21, strict=True):
        if e > 0 and 0 <= o < n_steps:
            roll[o, p] = 2
    return roll


def test_vectorised_roll_equals_per_note_loop():
    rng = np.random.default_rng(0)
    for trial in range(30):
        n = int(rng.integers(0, 300))
        on = rng.integers(-100, 400, n)
        end = on + rng.integers(1, 200, n)
        pitch = rng.integers(21, 109 if trial % 2 else 30, n)  # odd trials: many overlaps per key
        start = int(rng.integers(-20, 150))
        assert np.array_equal(encode_roll(on, end, pitch, start), _roll_by_loop(on, end, pitch, start))

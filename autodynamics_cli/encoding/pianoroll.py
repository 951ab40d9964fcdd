"""Piano-roll encoding of a window of notes: the encoder's input.

A window is ``grid.ROLL_STEPS`` steps of ``grid.STEP_SECONDS`` by 88 keys. A cell is
2 where a note starts in that step, 1 where a note is held, 0 elsewhere. A
note shorter than one step still marks its onset; a note that began before the
window shows as held.
"""

from __future__ import annotations

import numpy as np

from autodynamics_cli.encoding.grid import LOWEST_KEY, N_KEYS, ROLL_STEPS


def encode_roll(
    on_step: np.ndarray, end_step: np.ndarray, pitch: np.ndarray, start: int, n_steps: int = ROLL_STEPS
) -> np.ndarray:
    """The ``(n_steps, 88)`` uint8 roll of notes relative to a window starting at ``start``.

    ``pitch`` is a MIDI pitch (21..108). Notes outside the window are ignored.
    """
    key = np.asarray(pitch, dtype=np.int64) - LOWEST_KEY
    s = np.asarray(on_step, dtype=np.int64) - start
    e = np.minimum(np.asarray(end_step, dtype=np.int64) - start, n_steps)
    visible = (e > 0) & (s < n_steps)
    # a cell is held while more notes of its key have started than ended: count
    # starts minus ends per (step, key) and sum over time, with no loop per note
    size = (n_steps + 1) * N_KEYS
    k = key[visible]
    delta = np.bincount(np.maximum(s[visible], 0) * N_KEYS + k, minlength=size) - np.bincount(
        e[visible] * N_KEYS + k, minlength=size
    )
    held = np.cumsum(delta.reshape(n_steps + 1, N_KEYS)[:n_steps], axis=0) > 0
    roll = held.astype(np.uint8)
    starts = visible & (s >= 0)
    roll[s[starts], key[starts]] = 2
    return roll

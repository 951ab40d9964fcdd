"""The time-and-key grid every model input is drawn on, defined once.

A window is ``ROLL_STEPS`` steps of ``STEP_SECONDS`` (12.8 s) by the piano's
``N_KEYS`` keys from ``LOWEST_KEY`` (A0) to ``HIGHEST_KEY`` (C8). MIDI reading
uses the key range to tell piano notes from the rest; the roll, the tokens and
the model's shape use all of it.
"""

from __future__ import annotations

import numpy as np

STEP_SECONDS = 0.05
ROLL_STEPS = 256  # 12.8 s
N_KEYS = 88
LOWEST_KEY = 21  # A0
HIGHEST_KEY = LOWEST_KEY + N_KEYS - 1  # C8


def seconds_to_steps(seconds: np.ndarray) -> np.ndarray:
    """Step index of each time; a tiny epsilon keeps exact grid times on their step."""
    return np.floor(np.asarray(seconds, dtype=np.float64) / STEP_SECONDS + 1e-6).astype(np.int64)


def note_steps(onset: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Onset step and end step (exclusive, at least onset + 1) of each note."""
    on = seconds_to_steps(onset)
    end = np.maximum(np.round(np.asarray(offset, dtype=np.float64) / STEP_SECONDS).astype(np.int64), on + 1)
    return on, end

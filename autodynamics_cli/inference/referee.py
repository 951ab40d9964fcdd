"""The float64 referee both engines hand their close calls to, and the numpy network's inputs.

A window where any note's float32 readout lies within ``readout.CLOSE_CALL`` of its
boundary is read again, alone, in float64, by this same numpy code whichever engine
ran it, and that answer is the window's velocities. So the engines write the same
velocities whenever each one's float32 readout lies within ``CLOSE_CALL`` of the
float64 one. With the bundled model on ASAP scores (``scripts/engine_agreement.py``)
it lay at most 3.3e-5 away, a sixth of 2e-4; 455 of the 8,358 windows of the 210
scores (5%) are read again, about 14% of the numpy engine's CPU time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.encoding.windows import WindowInput
from autodynamics_cli.inference.readout import readout
from autodynamics_cli.model.config import ModelConfig
from autodynamics_cli.model.numpy_net import NumpyTagger


class Referee:
    """Settles close calls: a window's velocities from its float64 logits, read alone.

    The same code on the same inputs in both engines, so the answer does not
    depend on the engine, the batch, the device or the threads; in float64 it lies
    within about 1e-13 of the exact one, far nearer than float32 runs agree.
    ``model`` gives the float32 model (``NumpyTagger``) on the first close call.
    """

    def __init__(self, cfg: ModelConfig, model: Callable[[], NumpyTagger]) -> None:
        self.cfg, self.model = cfg, model
        self.net: NumpyTagger | None = None
        self.lock = threading.Lock()

    def velocities(self, window: WindowInput) -> np.ndarray:
        with self.lock:
            if self.net is None:
                self.net = self.model().astype(np.float64)
        tokens, onsets, roles, keys, features = decoder_inputs([window])
        logits = self.net.velocity_logits(
            tokens, onsets, roles, keys, features, self.net.encode(window.roll[None])
        )
        return readout(logits, self.cfg.readout)[0, : len(window)]


def decoder_inputs(
    batch: list[WindowInput],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tokens, onsets, roles, keys and features of ``BOS p1 d1 VEL_MASK ...`` for each window.

    What ``torch_engine.full_inputs`` and ``torch_net.note_keys`` give a tagger: padding
    notes are PAD (masked as keys) with key 0 and zero features, BOS has key 0.
    """
    b, n = len(batch), max(len(w) for w in batch)
    tokens = np.full((b, 1 + 3 * n), T.PAD, dtype=np.int64)
    onsets = np.zeros((b, 1 + 3 * n), dtype=np.int64)
    keys = np.zeros((b, 1 + 3 * n), dtype=np.int64)
    features = np.zeros((b, 1 + 3 * n, NF.N_FEATURES), dtype=np.int64)
    tokens[:, 0] = T.BOS
    for r, w in enumerate(batch):
        m = len(w)
        notes = tokens[r, 1 : 1 + 3 * m].reshape(m, 3)
        notes[:, 0], notes[:, 1], notes[:, 2] = w.pitch_tok, w.dur_tok, T.VEL_MASK
        onsets[r, 1:] = np.repeat(np.pad(w.rel_onset, (0, n - m)), 3)
        keys[r, 1 : 1 + 3 * m] = np.repeat(w.pitch_tok - T.PITCH_OFFSET, 3)
        if w.features is not None:
            features[r, 1 : 1 + 3 * m] = np.repeat(w.features, 3, axis=0)
    roles = np.tile(np.array([T.ROLE_PITCH, T.ROLE_DURATION, T.ROLE_VELOCITY]), n)
    roles = np.broadcast_to(np.concatenate([[T.ROLE_BOS], roles]), tokens.shape)
    return tokens, onsets, roles, keys, features

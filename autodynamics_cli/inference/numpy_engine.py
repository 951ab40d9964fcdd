"""The numpy adapter: run ``model.numpy_net.NumpyTagger`` on windows, in threads.

With ``workers`` above 1, batches run in that many threads at once (numpy
releases the GIL in its kernels); batches are capped at ``PARALLEL_BATCH``
windows so that there are enough of them to share. The cap does not depend on
``workers``, so neither do the velocities.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.encoding.windows import BATCH_OVERHEAD_TOKENS, WindowInput, batch_windows
from autodynamics_cli.inference.engine import Engine
from autodynamics_cli.model.numpy_net import NumpyTagger

PARALLEL_BATCH = 8  # windows per batch: small enough for threads to share a file's batches


def _softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, overwriting ``x``."""
    x -= x.max(-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(-1, keepdims=True)
    return x


def readout(vel_logits: np.ndarray, kind: str) -> np.ndarray:
    """``torch_engine.readout_velocity`` in numpy: velocities 1..127."""
    if kind == "argmax":
        return vel_logits.argmax(-1) + 1
    values = np.arange(1, T.N_VELOCITY + 1, dtype=np.float32)
    return np.clip(np.round(_softmax(vel_logits) @ values), 1, 127).astype(np.int64)


class NumpyEngine(Engine):
    """A tagger on the CPU without torch; greedy only (sampling is torch's)."""

    def __init__(self, net: NumpyTagger, workers: int = 1) -> None:
        self.net, self.cfg, self.workers = net, net.cfg, workers

    def velocities(self, windows: list[WindowInput], batch_size: int = 32,
                   temperature: float = 0.0) -> list[np.ndarray]:
        if temperature > 0:
            raise ValueError("the numpy engine does not sample; use the torch model for a temperature")
        out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(windows)
        batches = batch_windows(windows, self.cfg.max_decoder_len, min(batch_size, PARALLEL_BATCH),
                                BATCH_OVERHEAD_TOKENS["cpu"])

        def run(idx: list[int]) -> None:
            batch = [windows[i] for i in idx]
            tokens, onsets, roles, keys, features = decoder_inputs(batch)
            roll = np.stack([w.roll for w in batch])
            logits = self.net.velocity_logits(tokens, onsets, roles, keys, features,
                                              self.net.encode(roll))
            vel = readout(logits, self.cfg.readout)
            for row, i in enumerate(idx):
                out[i] = vel[row, : len(windows[i])]

        if self.workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                list(pool.map(run, batches))
        else:
            for idx in batches:
                run(idx)
        return out

    def num_parameters(self) -> int:
        return self.net.num_parameters()


def decoder_inputs(batch: list[WindowInput]
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

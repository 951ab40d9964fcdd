"""The numpy adapter: run ``model.numpy_net.NumpyTagger`` on windows, in threads.

With ``workers`` above 1, batches run in that many threads at once (numpy
releases the GIL in its kernels); batches are capped at ``PARALLEL_BATCH``
windows so that there are enough of them to share. The cap does not depend on
``workers``, so neither do the velocities.

Both engines read velocities here (``close_readout``) and settle close calls
with the same ``Referee``. Float32 logits from two engines, or from two batchings
or BLAS thread counts of one, differ by about 1e-6, enough to tip a readout that
lies that near its rounding boundary. A window where any note's readout lies
within ``CLOSE_CALL`` of its boundary is read again, alone, in float64, by the same
numpy code in either engine, and that answer is the window's velocities. So the
engines write the same velocities whenever each one's float32 readout lies within
``CLOSE_CALL`` of the float64 one. With the bundled model on ASAP scores
(``scripts/engine_agreement.py``) it lay at most 3.3e-5 away, a sixth of 2e-4;
455 of the 8,358 windows of the 210 scores (5%) are read again, about 14% of the
numpy engine's CPU time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.encoding.windows import BATCH_OVERHEAD_TOKENS, WindowInput, batch_windows
from autodynamics_cli.inference.engine import Engine
from autodynamics_cli.model.config import ModelConfig
from autodynamics_cli.model.numpy_net import NumpyTagger

PARALLEL_BATCH = 8  # windows per batch: small enough for threads to share a file's batches
# How near its rounding boundary a float32 readout must lie for the float64 referee to decide
# it: velocity steps from ``k + 0.5`` for "mean", logits between the top two for "argmax".
CLOSE_CALL = 2e-4
VALUES = np.arange(1, T.N_VELOCITY + 1, dtype=np.float64)


def _softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, overwriting ``x``."""
    x -= x.max(-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(-1, keepdims=True)
    return x


def expected_velocity(vel_logits: np.ndarray) -> np.ndarray:
    """Expected velocity (unrounded) under the softmax of the velocity logits, in float64."""
    return _softmax(vel_logits.astype(np.float64)) @ VALUES


def top_gap(vel_logits: np.ndarray) -> np.ndarray:
    """How far the largest logit lies above the second largest, in float64."""
    top = np.partition(vel_logits, -2, axis=-1)[..., -2:].astype(np.float64)
    return top[..., 1] - top[..., 0]


def close_readout(vel_logits: np.ndarray, kind: str, margin: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Velocities 1..127 of ``kind`` (``argmax`` or ``mean``), and where each is a close call.

    A close call: the top two logits within ``margin`` (default ``CLOSE_CALL``) of
    each other (argmax), or the expected velocity within ``margin`` of a rounding
    boundary ``k + 0.5`` (mean).
    """
    margin = CLOSE_CALL if margin is None else margin
    if kind == "argmax":
        return vel_logits.argmax(-1) + 1, top_gap(vel_logits) < margin
    if kind == "mean":
        mean = expected_velocity(vel_logits)
        vel = np.clip(np.round(mean), 1, 127).astype(np.int64)
        return vel, np.abs(mean - np.floor(mean) - 0.5) < margin
    raise ValueError(f"unknown readout {kind!r}")


def readout(vel_logits: np.ndarray, kind: str) -> np.ndarray:
    """``torch_engine.readout_velocity`` in numpy: velocities 1..127 (no close calls settled)."""
    return close_readout(vel_logits, kind)[0]


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
        logits = self.net.velocity_logits(tokens, onsets, roles, keys, features,
                                          self.net.encode(window.roll[None]))
        return readout(logits, self.cfg.readout)[0, : len(window)]


class NumpyEngine(Engine):
    """A tagger on the CPU without torch; greedy only (sampling is torch's)."""

    def __init__(self, net: NumpyTagger, workers: int = 1) -> None:
        self.net, self.cfg, self.workers = net, net.cfg, workers
        self.referee = Referee(net.cfg, lambda: net)

    def velocities(self, windows: list[WindowInput], batch_size: int = 32, temperature: float = 0.0,
                   on_batch: Callable[[list[int]], None] | None = None) -> list[np.ndarray]:
        if temperature > 0:
            raise ValueError("the numpy engine does not sample; use the torch model for a temperature")
        out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(windows)
        close: list[int] = []  # windows with a close call, for the referee
        batches = batch_windows(windows, self.cfg.max_decoder_len, min(batch_size, PARALLEL_BATCH),
                                BATCH_OVERHEAD_TOKENS["cpu"])

        def run(idx: list[int]) -> None:
            batch = [windows[i] for i in idx]
            tokens, onsets, roles, keys, features = decoder_inputs(batch)
            roll = np.stack([w.roll for w in batch])
            logits = self.net.velocity_logits(tokens, onsets, roles, keys, features,
                                              self.net.encode(roll))
            vel, near = close_readout(logits, self.cfg.readout)
            for row, i in enumerate(idx):
                out[i] = vel[row, : len(windows[i])]
                if near[row, : len(windows[i])].any():
                    close.append(i)
            if on_batch is not None:
                on_batch(idx)

        def settle(i: int) -> None:
            out[i] = self.referee.velocities(windows[i])

        if self.workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                list(pool.map(run, batches))
                list(pool.map(settle, sorted(close)))
        else:
            for idx in batches:
                run(idx)
            for i in close:
                settle(i)
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

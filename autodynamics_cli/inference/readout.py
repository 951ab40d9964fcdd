"""Velocities from logits, written once for both engines: the readout and its close calls.

A model's ``readout`` is ``argmax`` (the greedy choice) or ``mean`` (the expected
velocity under the softmax, rounded: it scores a lower squared error). Both
engines read a tagger's one pass with ``close_readout`` on float32 numpy logits;
the torch engine reads step-by-step decoding (causal models), which stays on the
device, with ``readout_torch``.

Float32 logits from two engines, or from two batchings or BLAS thread counts of
one, differ by about 1e-6, enough to tip a readout that lies that near its rounding
boundary. ``close_readout`` also says which notes lie within ``CLOSE_CALL`` of it;
``referee.Referee`` reads those windows again in float64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from autodynamics_cli.encoding import tokens as T

if TYPE_CHECKING:
    import torch

READOUTS = ("argmax", "mean")
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


def close_readout(
    vel_logits: np.ndarray, kind: str, margin: float | None = None
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
    """Velocities 1..127 of numpy logits (no close calls settled)."""
    return close_readout(vel_logits, kind)[0]


def readout_torch(vel_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """``readout`` for torch logits of the velocity tokens, kept on their device."""
    if kind == "argmax":
        return vel_logits.float().argmax(-1) + 1
    if kind == "mean":
        return expected_velocity_torch(vel_logits).round().long().clamp(1, 127)
    raise ValueError(f"unknown readout {kind!r}")


def expected_velocity_torch(vel_logits: torch.Tensor) -> torch.Tensor:
    """``expected_velocity`` in torch (float32, differentiable): training's losses use it too."""
    import torch

    vel_logits = vel_logits.float()
    values = torch.arange(1, T.N_VELOCITY + 1, device=vel_logits.device, dtype=torch.float32)
    return vel_logits.softmax(-1) @ values

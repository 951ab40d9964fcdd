"""Cut a piece into overlapping windows and give every note to exactly one of them.

Windows are ``length`` steps long and start ``hop`` steps apart (default:
12.8 s windows every 6.4 s), but a window never starts in silence: after a
gap the next window starts at the next onset. The decoder of a window reads
every note whose onset falls in it, for context, but a note's velocity is
taken from the one window where its onset sits most centrally. A window with
more notes than the decoder holds is split into consecutive chunks that share
the window's roll, so no note is ever dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.encoding.tokens import note_order


@dataclass
class Window:
    """One decoder sequence: a window start and the notes it decodes, in token order."""

    start: int  # step of the window's first roll row
    notes: np.ndarray  # indices into the file's notes, sorted by onset, then pitch
    keep: np.ndarray  # bool per entry of ``notes``: take this note's velocity from here


def window_starts(on_step: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Start steps of the windows that cover every onset, skipping silence."""
    onsets = np.unique(on_step)
    if len(onsets) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = [int(onsets[0])]
    while onsets[-1] >= starts[-1] + length:
        nxt = starts[-1] + hop
        first_after = int(onsets[np.searchsorted(onsets, nxt)])
        starts.append(nxt if first_after < nxt + length else first_after)
    return np.asarray(starts, dtype=np.int64)


def assign_notes(on_step: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Index of the window in which each onset is most central (earlier window on ties)."""
    on_step = np.asarray(on_step, dtype=np.int64)
    last = np.searchsorted(starts, on_step, side="right") - 1  # latest window starting <= onset
    best = last.copy()
    best_dist = np.abs(on_step - (starts[last] + (length - 1) / 2))
    j = last - 1
    while True:
        ok = (j >= 0) & (starts[np.maximum(j, 0)] > on_step - length)
        if not ok.any():
            break
        dist = np.abs(on_step - (starts[np.maximum(j, 0)] + (length - 1) / 2))
        better = ok & (dist <= best_dist)
        best[better] = j[better]
        best_dist[better] = dist[better]
        j = j - 1
    return best


def plan_windows(
    on_step: np.ndarray, pitch: np.ndarray, length: int = 256, hop: int = 128, max_notes: int = 341
) -> list[Window]:
    """Decoder windows for a piece; every note is kept in exactly one of them."""
    on_step = np.asarray(on_step, dtype=np.int64)
    if len(on_step) == 0:
        return []
    starts = window_starts(on_step, length, hop)
    owner = assign_notes(on_step, starts, length)
    order = note_order(on_step, pitch)
    sorted_on = on_step[order]
    windows: list[Window] = []
    for w, start in enumerate(starts):
        lo, hi = np.searchsorted(sorted_on, [start, start + length])
        idx = order[lo:hi]
        keep = owner[idx] == w
        for c in range(0, len(idx), max_notes):
            if keep[c : c + max_notes].any():  # a chunk that keeps nothing need not run
                windows.append(Window(int(start), idx[c : c + max_notes], keep[c : c + max_notes]))
    return windows


@dataclass
class WindowInput:
    """What the model needs for one window: its roll and its notes' known tokens."""

    roll: np.ndarray  # (steps, 88) uint8
    pitch_tok: np.ndarray  # (n,) int64
    dur_tok: np.ndarray  # (n,) int64
    rel_onset: np.ndarray  # (n,) int64, onset step within the window
    features: np.ndarray | None = None  # (n, N_FEATURES) int64, see note_features.py
    seed: int = 0  # seeds this window's sampling noise (used only with a temperature)

    def __len__(self) -> int:
        return len(self.pitch_tok)


# What starting one more batch costs, in decoder positions: on a CPU little (a few
# hundred small ops), on a GPU a whole launch sequence.
BATCH_OVERHEAD_TOKENS = {"cpu": 256, "cuda": 8192}


def plan_batches(lengths: list[int], batch_size: int, overhead: int = 256) -> list[tuple[int, int]]:
    """Cut windows sorted by note count into batches ``[lo, hi)`` that waste little on padding.

    A batch computes every row at its longest row's length. Fixed-size batches
    pad a lot where lengths vary (one file: about a quarter of all positions);
    this picks the cuts that minimise padded positions plus ``overhead`` per
    batch, with at most ``batch_size`` windows each (dynamic programming).
    """
    n = len(lengths)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        width = T.TOKENS_PER_NOTE * lengths[j - 1] + 1
        for i in range(max(0, j - batch_size), j):
            cost = best[i] + overhead + (j - i) * width
            if cost < best[j]:
                best[j], cut[j] = cost, i
    batches = []
    while n > 0:
        batches.append((cut[n], n))
        n = cut[n]
    return batches[::-1]


def batch_windows(
    items: list[WindowInput], max_decoder_len: int, batch_size: int, overhead: int
) -> list[list[int]]:
    """Indices into ``items`` of each decoder batch (both engines batch this way).

    Windows are sorted by note count and cut by ``plan_batches``; empty windows
    are left out (they have no velocities to read). A window with more notes
    than the decoder holds is refused: ``plan_windows`` splits them.
    """
    limit = T.max_notes(max_decoder_len)
    if any(len(w) > limit for w in items):
        raise ValueError(f"a window has more than {limit} notes; split it (windows.plan_windows)")
    order = sorted((i for i in range(len(items)) if len(items[i]) > 0), key=lambda i: len(items[i]))
    return [order[lo:hi] for lo, hi in plan_batches([len(items[i]) for i in order], batch_size, overhead)]

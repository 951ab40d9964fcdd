"""Per-note context features that the decoder gets as embeddings.

The paper's decoder must infer from the roll which note is the top of a chord,
how dense the texture is, or how long the gap before a note is. At our small
training budget it learns that slowly, while a tree model given exactly these
features beats it (issue 3). All of them follow from onsets and pitches, which
are known at inference, so they cost nothing there and are computed by the same
function for training windows and for user files.

Features are small integers (embedding indices), one row per note:

====  ==================  ==========================================
col   name                buckets
====  ==================  ==========================================
0     chord size          1..8 (notes starting in the same step, capped)
1     rank from top       0..7 (0: highest note of its chord)
2     rank from bottom    0..7
3     density             0..9 (log2 of notes starting within 1 s)
4     gap before          0..9 (log2 of steps since the previous onset)
5     gap after           0..9 (log2 of steps to the next onset)
6     pitch vs. context   0..16 (pitch minus mean pitch within 1 s, in thirds)
7     notated velocity    0 (none) or 1..16 (input velocity // 8 + 1)
8     onset lead          0..8 (onset minus the mean onset of the notes
                          within 40 ms, in ms: < -25, -25..-15, -15..-8,
                          -8..-3, -3..3 (4), 3..8, 8..15, 15..25, >= 25)
9     staff               0 (one part), 1 top, 2 bottom, 3 middle part
10    rank in staff       0 (one part) or 1 + rank from top among the
                          notes of its staff starting in the same step
                          (1..4, capped)
11-19 score markings      0 (unknown) or a bucket of the MusicXML
                          score's markings (``marking_features.py``)
====  ==================  ==========================================

The onset lead sees timing finer than the roll's 50 ms steps. In a played
performance the louder notes of a chord sound a few milliseconds before the
others (the hammer travels faster) and late notes are soft, so the lead is
a strong velocity cue on performance input; a quantized score has lead 0
(bucket 4) everywhere. It needs onsets in seconds; without them it is 4.

The staff is what a notation program's export carries and a performance does
not: one track (or channel) per staff. A part is a (track, channel) pair with
notes; parts are ranked by their mean pitch over the whole file, so the right
hand's staff is "top" and the left hand's "bottom". The melody is most often
the top note of the top staff, and an accompaniment's chords are the bottom
staff's, which the pitch alone does not say where the hands' ranges overlap.
A file with a single part (every performance, a sequencer's one-track export)
gets 0 in both columns.

Gaps of 2 s or more (and "no previous/next note") share the top bucket, so a
feature only ever depends on notes within ``CONTEXT_STEPS`` of the note: a
training window may compute them on the notes near it and get exactly what
inference computes on the whole file.
"""

from __future__ import annotations

import numpy as np

from autodynamics_cli.encoding.marking_features import MARKING_SIZES, N_MARKINGS

FEATURE_SIZES = (9, 8, 8, 10, 10, 10, 17, 17, 9, 4, 5, *MARKING_SIZES)
N_FEATURES = len(FEATURE_SIZES)
VELOCITY_COLUMN = 7
LEAD_COLUMN = 8
STAFF_COLUMN = 9
STAFF_RANK_COLUMN = 10
MARKING_COLUMNS = tuple(range(11, 11 + N_MARKINGS))
LEAD_RADIUS_S = 0.04
LEAD_EDGES_MS = (-25.0, -15.0, -8.0, -3.0, 3.0, 8.0, 15.0, 25.0)
LEAD_NONE = 4  # the bucket of a note on time with its neighbours
RADIUS_STEPS = 20  # 1 s at 50 ms a step
CONTEXT_STEPS = 40  # features depend on notes no farther away than this


def _log2_bucket(x: np.ndarray, top: int) -> np.ndarray:
    return np.minimum(np.floor(np.log2(np.maximum(x, 1))).astype(np.int64) + 1, top)


def velocity_bucket(velocity: np.ndarray) -> np.ndarray:
    """Notated velocity 1..127 to buckets 1..16; 0 means "no notated dynamics"."""
    v = np.asarray(velocity, dtype=np.int64)
    return np.where(v > 0, np.clip(v, 1, 127) // 8 + 1, 0)


def velocities_vary(velocity: np.ndarray) -> bool:
    """Whether there are notated velocities to read: a file whose velocities are all equal has none.

    Not the musician controls' ``has_dynamics`` (is the loudness envelope
    worth keeping?): a file with a few accents has velocities to read, but no
    dynamics to keep.
    """
    v = np.asarray(velocity)
    return len(v) > 0 and int(v.min()) != int(v.max())


def onset_lead_bucket(onset: np.ndarray) -> np.ndarray:
    """Each note's onset lead (seconds in; bucket 0..8 out), see the module docstring."""
    on = np.asarray(onset, dtype=np.float64)
    if len(on) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(on, kind="stable")
    s = on[order] - on[order[0]]
    lo = np.searchsorted(s, s - LEAD_RADIUS_S, side="left")
    hi = np.searchsorted(s, s + LEAD_RADIUS_S, side="right")
    csum = np.r_[0.0, np.cumsum(s)]
    lead_ms = (s - (csum[hi] - csum[lo]) / (hi - lo)) * 1000.0
    out = np.empty(len(on), dtype=np.int64)
    out[order] = np.searchsorted(np.asarray(LEAD_EDGES_MS), lead_ms, side="right")
    return out


def part_staff(track: np.ndarray, channel: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Each note's staff (0..3, see the module docstring) from the parts of the whole file."""
    part = np.asarray(track, dtype=np.int64) * 16 + np.asarray(channel, dtype=np.int64)
    staff = np.zeros(len(part), dtype=np.int64)
    parts, index = np.unique(part, return_inverse=True)
    if len(parts) < 2:
        return staff
    mean_pitch = np.bincount(index, weights=np.asarray(pitch, dtype=np.float64)) / np.bincount(index)
    rank = np.empty(len(parts), dtype=np.int64)
    rank[np.argsort(-mean_pitch, kind="stable")] = np.arange(len(parts))
    by_part = np.where(rank == 0, 1, np.where(rank == len(parts) - 1, 2, 3))
    return by_part[index]


def _staff_rank(on: np.ndarray, pitch: np.ndarray, staff: np.ndarray) -> np.ndarray:
    """Column 10: 1 + rank from the top within the notes of one staff starting in one step."""
    order = np.lexsort((-pitch, on, staff))
    key = np.stack([staff[order], on[order]])
    starts = np.flatnonzero(np.r_[True, (key[:, 1:] != key[:, :-1]).any(axis=0)])
    rank = np.arange(len(on)) - np.repeat(starts, np.diff(np.r_[starts, len(on)]))
    out = np.empty(len(on), dtype=np.int64)
    out[order] = 1 + np.minimum(rank, 3)
    return np.where(staff > 0, out, 0)


def note_features(
    on_step: np.ndarray,
    pitch: np.ndarray,
    in_velocity: np.ndarray | None = None,
    onset_s: np.ndarray | None = None,
    staff: np.ndarray | None = None,
    markings: np.ndarray | None = None,
) -> np.ndarray:
    """``(n, N_FEATURES)`` int64 features of notes (any order); see the module docstring.

    ``onset_s``: the notes' onsets in seconds, for the onset lead (else "on time");
    ``staff``: the notes' ``part_staff`` of the whole file (else "one part");
    ``markings``: the notes' ``marking_buckets`` (else "unknown").
    """
    on = np.asarray(on_step, dtype=np.int64)
    pitch = np.asarray(pitch, dtype=np.int64)
    n = len(on)
    out = np.zeros((n, N_FEATURES), dtype=np.int64)
    if n == 0:
        return out
    order = np.lexsort((pitch, on))
    s_on, s_pitch = on[order], pitch[order]
    # chords: runs of equal onset step
    starts = np.flatnonzero(np.r_[True, s_on[1:] != s_on[:-1]])
    sizes = np.diff(np.r_[starts, n])
    group = np.repeat(np.arange(len(starts)), sizes)
    rank_bottom = np.arange(n) - starts[group]
    rank_top = sizes[group] - 1 - rank_bottom
    uniq = s_on[starts]
    gap_before = np.r_[10**6, np.diff(uniq)][group]
    gap_after = np.r_[np.diff(uniq), 10**6][group]
    lo = np.searchsorted(s_on, s_on - RADIUS_STEPS, side="left")
    hi = np.searchsorted(s_on, s_on + RADIUS_STEPS, side="right")
    density = hi - lo
    csum = np.r_[0, np.cumsum(s_pitch)]
    ctx_mean = (csum[hi] - csum[lo]) / density
    rel = np.clip(np.round((s_pitch - ctx_mean) / 3.0).astype(np.int64), -8, 8) + 8
    feats = np.stack(
        [
            np.minimum(sizes[group], 8),
            np.minimum(rank_top, 7),
            np.minimum(rank_bottom, 7),
            _log2_bucket(density, 9),
            np.where(gap_before >= CONTEXT_STEPS, 9, _log2_bucket(gap_before, 8)),
            np.where(gap_after >= CONTEXT_STEPS, 9, _log2_bucket(gap_after, 8)),
            rel,
            np.zeros(n, dtype=np.int64),
            np.full(n, LEAD_NONE, dtype=np.int64),
            np.zeros(n, dtype=np.int64),
            np.zeros(n, dtype=np.int64),
            *np.zeros((N_MARKINGS, n), dtype=np.int64),
        ],
        axis=1,
    )
    out[order] = feats
    if in_velocity is not None:
        out[:, VELOCITY_COLUMN] = velocity_bucket(in_velocity)
    if onset_s is not None:
        out[:, LEAD_COLUMN] = onset_lead_bucket(onset_s)
    if staff is not None:
        staff = np.asarray(staff, dtype=np.int64)
        out[:, STAFF_COLUMN] = staff
        out[:, STAFF_RANK_COLUMN] = _staff_rank(on, pitch, staff)
    if markings is not None:
        out[:, list(MARKING_COLUMNS)] = markings
    return out

from __future__ import annotations

import numpy as np

from autodynamics_cli.encoding.windows import assign_notes, plan_batches, plan_windows, window_starts


def _check_each_note_once(windows, n):
    kept = np.concatenate([w.notes[w.keep] for w in windows]) if windows else np.zeros(0)
    assert sorted(kept.tolist()) == list(range(n))


def test_starts_overlap_and_skip_silence():
    on = np.array([10, 100, 200, 300, 2000, 2100])
    starts = window_starts(on, 256, 128)
    assert starts.tolist() == [10, 138, 266, 2000]  # jumps over the gap to the next onset
    for s in starts:
        assert ((on >= s) & (on < s + 256)).any()  # no window of silence


def test_assign_most_central():
    starts = np.array([0, 128, 256])
    owner = assign_notes(np.array([0, 100, 140, 200, 300, 500]), starts, 256)
    assert owner.tolist() == [0, 0, 0, 1, 1, 2]


def test_each_note_kept_exactly_once_long_piece():
    rng = np.random.default_rng(1)
    on = np.sort(rng.integers(0, 3 * 60 * 60 * 20, 20_000))  # three hours of music
    pitch = rng.integers(21, 109, len(on))
    windows = plan_windows(on, pitch, 256, 128, 341)
    _check_each_note_once(windows, len(on))
    for w in windows:
        rel = on[w.notes] - w.start
        assert rel.min() >= 0 and rel.max() < 256
        assert (np.diff(on[w.notes]) >= 0).all()


def test_dense_window_is_split_not_truncated():
    on = np.repeat(np.arange(20), 50)  # 1000 notes in one second
    pitch = np.tile(np.arange(21, 71), 20)
    windows = plan_windows(on, pitch, 256, 128, max_notes=100)
    assert all(len(w.notes) <= 100 for w in windows)
    assert len(windows) == 10
    _check_each_note_once(windows, len(on))


def test_empty():
    assert plan_windows(np.zeros(0, dtype=int), np.zeros(0, dtype=int)) == []


def test_plan_batches_covers_in_order_and_cuts_padding():
    lengths = sorted([5, 6, 6, 7, 100, 101, 300, 300, 301, 2, 3])
    cuts = plan_batches(lengths, batch_size=4, overhead=16)
    assert cuts[0][0] == 0 and cuts[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:], strict=False))
    assert all(0 < hi - lo <= 4 for lo, hi in cuts)
    # short and long windows never share a batch when the padding would cost more than a batch
    assert all(lengths[hi - 1] <= 2 * lengths[lo] for lo, hi in cuts)
    # a huge per-batch cost gives the fewest batches
    assert len(plan_batches(lengths, batch_size=4, overhead=1 << 40)) == 3

from __future__ import annotations

import numpy as np

from autodynamics_cli.windows import assign_notes, plan_windows, window_starts


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


def test_blend_weights_windows_by_centrality():
    from autodynamics_cli.humanize import blend_windows
    from autodynamics_cli.windows import Window

    # three notes at steps 0, 128 and 200; windows at 0 and 128
    on_step = np.array([0, 128, 200])
    windows = [Window(0, np.array([0, 1, 2]), np.array([True, True, True])),
               Window(128, np.array([1, 2]), np.array([False, False]))]
    got = blend_windows(on_step, windows, [np.array([10, 20, 30]), np.array([100, 120])], 256)
    assert got[0] == 10  # in one window only
    # step 128: 127.5 from the first window's edge, 0.5 from the second's
    assert got[1] == round((127.5 * 20 + 0.5 * 100) / 128)
    # step 200: 55.5 steps from the first window's end, 72.5 from the second's start
    assert got[2] == round((55.5 * 30 + 72.5 * 120) / 128)

"""Note features (encoding/note_features.py): chords and context, onset leads, staves."""

from __future__ import annotations

import numpy as np

from autodynamics_cli.encoding import note_features as NF


def test_note_features_on_a_chord_and_around_a_window():
    on_step = np.array([0, 0, 0, 10, 30])
    pitch = np.array([60, 64, 67, 72, 50])
    f = NF.note_features(on_step, pitch)
    assert f[:3, 0].tolist() == [3, 3, 3]  # chord size
    assert f[:3, 1].tolist() == [2, 1, 0] and f[:3, 2].tolist() == [0, 1, 2]  # rank from top/bottom
    assert f[0, 4] == 9 and f[4, 5] == 9  # no note before / after: the top bucket
    rng = np.random.default_rng(0)
    on_step = np.sort(rng.integers(0, 2000, 800))
    pitch = rng.integers(21, 109, 800)
    vel = rng.integers(1, 128, 800)
    whole = NF.note_features(on_step, pitch, vel)
    lo, hi = 700, 956  # a training window computes on the notes near it: the same features
    near = (on_step >= lo - NF.CONTEXT_STEPS) & (on_step < hi + NF.CONTEXT_STEPS)
    part = NF.note_features(on_step[near], pitch[near], vel[near])
    inside = (on_step[near] >= lo) & (on_step[near] < hi)
    assert np.array_equal(part[inside], whole[(on_step >= lo) & (on_step < hi)])
    assert not NF.velocities_vary(np.full(5, 80)) and NF.velocities_vary(np.array([80, 81]))


# --- the onset lead: timing finer than a roll step --------------------------------------------


def test_lead_buckets_of_a_rolled_chord():
    # a chord spread over 24 ms, then a lone note, then two notes 100 ms apart
    onset = np.array([1.012, 1.024, 1.000, 2.0, 3.0, 3.1])
    got = NF.onset_lead_bucket(onset)
    # chord mean 1.012 s: the early note leads by -12 ms (bucket 2), the late one +12 ms (6)
    assert got.tolist() == [4, 6, 2, 4, 4, 4]
    assert NF.onset_lead_bucket(np.zeros(0)).tolist() == []
    # the order of the notes does not matter
    perm = np.array([5, 2, 0, 4, 1, 3])
    assert NF.onset_lead_bucket(onset[perm]).tolist() == got[perm].tolist()


def test_bucket_edges():
    # two notes d ms apart lead by -d/2 and +d/2
    for d, (a, b) in {4.0: (4, 4), 10.0: (3, 5), 20.0: (2, 6), 36.0: (1, 7)}.items():
        assert NF.onset_lead_bucket(np.array([5.0, 5.0 + d / 1000])).tolist() == [a, b]
    # beyond the 40 ms radius notes are not neighbours
    assert NF.onset_lead_bucket(np.array([5.0, 5.05])).tolist() == [4, 4]


def test_scores_and_missing_onsets_are_on_time():
    on_step = np.array([0, 0, 0, 10, 20])
    pitch = np.array([60, 64, 67, 62, 65])
    quantized = on_step * 0.05
    assert (NF.note_features(on_step, pitch)[:, NF.LEAD_COLUMN] == NF.LEAD_NONE).all()
    assert (NF.note_features(on_step, pitch, None, quantized)[:, NF.LEAD_COLUMN] == NF.LEAD_NONE).all()


# --- staves: which part of a notation export a note is in -------------------------------------


def test_parts_are_ranked_by_mean_pitch():
    # the left hand's track comes first in the file: still the bottom staff
    pitch = np.array([40, 45, 72, 76, 60])
    assert NF.part_staff(np.array([1, 1, 2, 2, 3]), np.zeros(5, np.int64), pitch).tolist() == [2, 2, 1, 1, 3]
    # one part: no staves; a part is a track and channel, so channels split a track
    assert NF.part_staff(np.zeros(5, np.int64), np.zeros(5, np.int64), pitch).tolist() == [0] * 5
    assert NF.part_staff(np.zeros(5, np.int64), np.array([0, 0, 1, 1, 0]), pitch).tolist() == [2, 2, 1, 1, 2]
    assert NF.part_staff(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)).tolist() == []


def test_rank_within_the_staff_chord():
    # one step: right hand C-E-G over a left-hand fifth that reaches above the right hand's C
    on = np.array([0, 0, 0, 0, 0, 10])
    pitch = np.array([60, 64, 67, 55, 62, 70])
    staff = np.array([1, 1, 1, 2, 2, 1])
    f = NF.note_features(on, pitch, staff=staff)
    assert f[:, NF.STAFF_COLUMN].tolist() == staff.tolist()
    assert f[:, NF.STAFF_RANK_COLUMN].tolist() == [3, 2, 1, 2, 1, 1]
    # the whole-chord rank says otherwise: the left hand's D is above the right hand's C
    assert f[:, 1].tolist() == [3, 1, 0, 4, 2, 0]
    # ranks are capped; without staves both columns are 0
    big = NF.note_features(np.zeros(6, np.int64), np.arange(60, 66), staff=np.ones(6, np.int64))
    assert big[:, NF.STAFF_RANK_COLUMN].tolist() == [4, 4, 4, 3, 2, 1]
    assert (NF.note_features(on, pitch)[:, [NF.STAFF_COLUMN, NF.STAFF_RANK_COLUMN]] == 0).all()
    assert (NF.note_features(on, pitch, staff=np.zeros(6, np.int64))[:, NF.STAFF_RANK_COLUMN] == 0).all()

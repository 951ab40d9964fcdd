"""Training windows (training/sampler.py) see what inference sees, and hide staves at the asked rate."""

from __future__ import annotations

import numpy as np
from helpers import NOTE_TAGGER, STAFF_COLUMNS, STAFF_TAGGER, notes_from, tiny_model

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.inference.predict import model_features
from autodynamics_cli.midi.notes import Notes
from autodynamics_cli.training.datasets import Piece
from autodynamics_cli.training.sampler import WindowSampler, make_window


def test_training_windows_see_the_lead_inference_sees():
    rng = np.random.default_rng(4)
    n = 400
    onset = np.sort(rng.uniform(0, 60, n))
    onset[1::4] = onset[::4][: len(onset[1::4])] + rng.uniform(-0.03, 0.03, len(onset[1::4]))
    pitch = rng.integers(21, 109, n)
    on = np.floor(onset / 0.05).astype(np.int64)
    end = on + 5
    notes = Notes(
        onset=onset,
        offset=onset + 0.25,
        pitch=pitch,
        velocity=np.full(n, 64),
        channel=np.zeros(n, np.int64),
        track=np.zeros(n, np.int64),
        byte_offset=np.arange(n),
    )
    whole = model_features(tiny_model(**NOTE_TAGGER, onset_lead=True).cfg, notes)
    assert len(set(whole[:, NF.LEAD_COLUMN].tolist())) >= 5  # the test data has leads to see
    start = 300
    w = make_window(
        on, end, pitch, np.full(n, 64), np.ones(n, bool), start, 256, 1000, 0.0, None, None, onset
    )
    inside = np.flatnonzero((on >= start) & (on < start + 256))
    inside = inside[T.note_order(on[inside], pitch[inside])]
    assert w.features[1::3, NF.LEAD_COLUMN].tolist() == whole[inside, NF.LEAD_COLUMN].tolist()


def test_training_windows_see_the_staves_inference_sees():
    rng = np.random.default_rng(5)
    n = 400
    onset = np.sort(rng.uniform(0, 60, n))
    onset = np.round(onset / 0.1) * 0.1  # chords
    track = rng.integers(1, 3, n)
    pitch = np.where(track == 1, rng.integers(55, 100, n), rng.integers(30, 70, n))
    notes = notes_from(pitch, track, onset=onset)
    whole = model_features(tiny_model(**STAFF_TAGGER, staff=True).cfg, notes)
    assert len(set(whole[:, NF.STAFF_RANK_COLUMN].tolist())) >= 3  # the data has chords
    on = np.floor(onset / 0.05 + 1e-9).astype(np.int64)
    start = 300
    staff = NF.part_staff(notes.track, notes.channel, notes.pitch)
    w = make_window(
        on, on + 5, pitch, np.full(n, 64), np.ones(n, bool), start, 256, 1000, 0.0, None, None, onset, staff
    )
    inside = np.flatnonzero((on >= start) & (on < start + 256))
    inside = inside[T.note_order(on[inside], pitch[inside])]
    cols = list(STAFF_COLUMNS)
    assert w.features[1::3][:, cols].tolist() == whole[inside][:, cols].tolist()


def test_the_sampler_hides_staves_at_the_asked_rate():
    n = 50
    piece = Piece(
        np.arange(n) * 0.1,
        np.arange(n) * 0.1 + 0.1,
        np.full(n, 60),
        np.full(n, 64),
        np.ones(n, bool),
        staff=np.where(np.arange(n) % 2 == 0, 1, 2),
    )

    def shown(drop: float | None) -> float:
        s = WindowSampler([piece], 0, 256, 100, None, 0.0, 1.0, drop_staff=drop)
        return np.mean([(s.sample().features[:, NF.STAFF_COLUMN] > 0).any() for _ in range(200)])

    assert shown(None) == 0.0  # a model that reads no staves is never shown them
    assert shown(0.0) == 1.0
    assert 0.65 < shown(0.2) < 0.95

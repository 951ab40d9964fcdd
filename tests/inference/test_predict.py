"""From notes to velocities (inference/predict.py): windows, features the model reads, blending, sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import STAFF_COLUMNS, STAFF_TAGGER, TAGGER, notes_from, rich_file, stepped_file, tiny_model

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding.windows import Window
from autodynamics_cli.inference import predict
from autodynamics_cli.inference.model import Model
from autodynamics_cli.inference.predict import blend_windows, model_features, predict_velocities
from autodynamics_cli.midi.notes import Notes
from autodynamics_cli.midi.read import read_midi


@pytest.mark.parametrize("variant", ["masked", "tagger"])
def test_predict_one_velocity_per_note_long_piece(variant):
    model = tiny_model(seed=1, **{"masked": dict(feedback=False), "tagger": TAGGER}[variant])
    rng = np.random.default_rng(3)
    n = 3000
    onset = np.sort(rng.uniform(0, 600, n))  # ten minutes
    notes = Notes(
        onset=onset,
        offset=onset + rng.uniform(0, 2, n),
        pitch=rng.integers(21, 109, n),
        velocity=np.full(n, 64),
        channel=np.zeros(n, int),
        track=np.zeros(n, int),
        byte_offset=np.arange(n),
    )
    (vel,) = predict_velocities(Model.from_network(model), [notes])
    assert vel.shape == (n,) and vel.min() >= 1 and vel.max() <= 127


def test_blend_weights_windows_by_centrality():
    # three notes at steps 0, 128 and 200; windows at 0 and 128
    on_step = np.array([0, 128, 200])
    windows = [
        Window(0, np.array([0, 1, 2]), np.array([True, True, True])),
        Window(128, np.array([1, 2]), np.array([False, False])),
    ]
    got = blend_windows(on_step, windows, [np.array([10, 20, 30]), np.array([100, 120])], 256)
    assert got[0] == 10  # in one window only
    # step 128: 127.5 from the first window's edge, 0.5 from the second's
    assert got[1] == round((127.5 * 20 + 0.5 * 100) / 128)
    # step 200: 55.5 steps from the first window's end, 72.5 from the second's start
    assert got[2] == round((55.5 * 30 + 72.5 * 120) / 128)


def test_causal_models_skip_notes_after_the_last_kept_one(monkeypatch):
    """Trimming a causal model's windows after their last kept note changes no velocity."""
    model = tiny_model(seed=6, feedback=False, max_decoder_len=256)
    with torch.no_grad():
        model.head.weight.mul_(30)
    rng = np.random.default_rng(8)
    n = 400
    onset = np.sort(rng.uniform(0, 60, n))
    notes = Notes(
        onset=onset,
        offset=onset + rng.uniform(0.05, 1, n),
        pitch=rng.integers(21, 109, n),
        velocity=np.full(n, 64),
        channel=np.zeros(n, int),
        track=np.zeros(n, int),
        byte_offset=np.arange(n),
    )
    engine = Model.from_network(model)
    (trimmed,) = predict.predict_velocities(engine, [notes])
    monkeypatch.setattr(predict, "trim_after_last_kept", lambda w: w)
    (full,) = predict.predict_velocities(engine, [notes])
    assert trimmed.tolist() == full.tolist()


def test_model_reads_notated_dynamics_but_not_constant_velocities():
    model = tiny_model(seed=2, feedback=False, causal_decoder=False, input_velocity=True)
    with torch.no_grad():
        model.head.weight.mul_(50)
        model.feat_emb.weight.normal_(std=3.0)  # make the notated velocity matter
    n = 40
    onset = np.arange(n) * 0.25

    def notes(vel):
        return Notes(
            onset=onset,
            offset=onset + 0.2,
            pitch=60 + np.arange(n) % 12,
            velocity=np.asarray(vel),
            channel=np.zeros(n, int),
            track=np.zeros(n, int),
            byte_offset=np.arange(n),
        )

    engine = Model.from_network(model)
    stepped = np.where(np.arange(n) < n // 2, 100, 40)
    (a,), (b,) = (
        predict_velocities(engine, [notes(stepped)]),
        predict_velocities(engine, [notes(np.full(n, 80))]),
    )
    (c,) = predict_velocities(engine, [notes(np.full(n, 64))])
    (d,) = predict_velocities(engine, [notes(stepped)], read_dynamics=False)
    assert a.tolist() != b.tolist()  # stepped dynamics are read
    assert b.tolist() == c.tolist() == d.tolist()  # constant input (any level) = no dynamics


def test_temperature_seed_repeats_and_differs():
    notes = read_midi("s.mid", stepped_file()).notes
    other = read_midi("r.mid", rich_file()).notes
    one_pass = Model.from_network(tiny_model(feedback=False))  # the one-pass decoder
    (greedy,) = predict_velocities(one_pass, [notes])
    a, _ = predict_velocities(one_pass, [notes, other], temperature=1.0, seed=1)
    (b,) = predict_velocities(one_pass, [notes], batch_size=3, temperature=1.0, seed=1)
    (c,) = predict_velocities(one_pass, [notes], temperature=1.0, seed=2)
    assert a.tolist() == b.tolist()  # same seed, same file, whatever shares the batches
    assert a.tolist() != c.tolist() and a.tolist() != greedy.tolist()
    (g2,) = predict_velocities(one_pass, [notes], temperature=0.0, seed=5)
    assert g2.tolist() == greedy.tolist()  # temperature 0 stays greedy
    fb = Model.from_network(tiny_model(feedback=True))  # the step-by-step decoder samples the same way
    (x,) = predict_velocities(fb, [notes], temperature=1.0, seed=1)
    y, _ = predict_velocities(fb, [notes, other], temperature=1.0, seed=1)
    assert x.tolist() == y.tolist()


def test_only_a_staff_model_reads_the_staves():
    notes = notes_from([72, 76, 48, 52], tracks=[1, 1, 2, 2])
    got = model_features(tiny_model(**STAFF_TAGGER, staff=True).cfg, notes)
    assert got[:, NF.STAFF_COLUMN].tolist() == [1, 1, 2, 2]
    assert got[:, NF.STAFF_RANK_COLUMN].tolist() == [2, 1, 2, 1]
    plain = model_features(tiny_model(**STAFF_TAGGER).cfg, notes)
    assert (plain[:, list(STAFF_COLUMNS)] == 0).all()
    hidden = model_features(tiny_model(**STAFF_TAGGER, staff=True).cfg, notes, read_staves=False)
    assert (hidden[:, list(STAFF_COLUMNS)] == 0).all()


def test_hidden_staves_read_as_a_one_track_file():
    model = tiny_model(seed=2, readout="mean", staff=True, **STAFF_TAGGER)
    with torch.no_grad():
        model.head.weight.mul_(50)
        model.feat_emb.weight.normal_(std=1.0)
    rng = np.random.default_rng(1)
    n = 60
    onset = np.round(np.sort(rng.uniform(0, 20, n)) / 0.25) * 0.25
    track = np.arange(n) % 2
    pitch = np.where(track == 0, rng.integers(60, 90, n), rng.integers(36, 66, n))
    two, one = notes_from(pitch, track, onset=onset), notes_from(pitch, np.zeros(n, np.int64), onset=onset)
    engine = Model.from_network(model)
    (a,) = predict_velocities(engine, [two])
    (b,) = predict_velocities(engine, [two], read_staves=False)
    (c,) = predict_velocities(engine, [one])
    assert b.tolist() == c.tolist() and a.tolist() != b.tolist()


def test_only_a_markings_model_reads_markings_and_none_reads_as_unknown():
    from autodynamics_cli.encoding.marking_features import N_MARKINGS

    model = tiny_model(seed=2, readout="mean", markings=True, **STAFF_TAGGER)
    with torch.no_grad():
        model.head.weight.mul_(50)
        model.feat_emb.weight.normal_(std=1.0)
    rng = np.random.default_rng(1)
    n = 40
    notes = notes_from(rng.integers(50, 80, n), np.zeros(n, np.int64), onset=np.arange(n) * 0.25)
    marks = rng.integers(1, 5, (n, N_MARKINGS))
    cols = list(NF.MARKING_COLUMNS)
    assert model_features(model.cfg, notes, markings=marks)[:, cols].tolist() == marks.tolist()
    assert (model_features(tiny_model(**STAFF_TAGGER).cfg, notes, markings=marks)[:, cols] == 0).all()
    engine = Model.from_network(model)
    a, b = predict_velocities(engine, [notes, notes], markings=[marks, None])
    (c,) = predict_velocities(engine, [notes], markings=[np.zeros_like(marks)])
    (d,) = predict_velocities(engine, [notes])
    assert a.tolist() != b.tolist() and b.tolist() == c.tolist() == d.tolist()

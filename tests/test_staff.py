"""The staff note features: which part of a notation export a note is in (note_features.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from conftest import tiny_model
from test_onset_lead import (
    NOTE_TAGGER,
    assert_engines_agree_and_read,
    assert_init_keeps_the_logits,
    trained_with,
    windows_with,
)
from test_scores import aligned  # noqa: F401 (a fixture)
from test_train_eval import dataset  # noqa: F401 (a fixture)
from typer.testing import CliRunner

from autodynamics_cli import note_features as NF
from autodynamics_cli import tokens as T
from autodynamics_cli.cli import app
from autodynamics_cli.data import Piece, WindowSampler, make_window
from autodynamics_cli.humanize import model_features, predict_velocities
from autodynamics_cli.midi_io import Notes
from autodynamics_cli.model_spec import feature_layout
from autodynamics_cli.weights import save_model

CPU = torch.device("cpu")
STAFF_TAGGER = dict(NOTE_TAGGER, onset_lead=True)
STAFF_COLUMNS = (NF.STAFF_COLUMN, NF.STAFF_RANK_COLUMN)


def _notes(pitch, track, channel=None, onset=None) -> Notes:
    n = len(pitch)
    onset = np.zeros(n) if onset is None else np.asarray(onset, dtype=np.float64)
    return Notes(onset=onset, offset=onset + 0.5, pitch=np.asarray(pitch), velocity=np.full(n, 64),
                 channel=np.zeros(n, np.int64) if channel is None else np.asarray(channel),
                 track=np.asarray(track), byte_offset=np.arange(n))


def test_parts_are_ranked_by_mean_pitch():
    # the left hand's track comes first in the file: still the bottom staff
    pitch = np.array([40, 45, 72, 76, 60])
    assert NF.part_staff(np.array([1, 1, 2, 2, 3]), np.zeros(5, np.int64), pitch).tolist() == \
        [2, 2, 1, 1, 3]
    # one part: no staves; a part is a track and channel, so channels split a track
    assert NF.part_staff(np.zeros(5, np.int64), np.zeros(5, np.int64), pitch).tolist() == [0] * 5
    assert NF.part_staff(np.zeros(5, np.int64), np.array([0, 0, 1, 1, 0]), pitch).tolist() == \
        [2, 2, 1, 1, 2]
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


def test_only_a_staff_model_reads_the_staves():
    notes = _notes([72, 76, 48, 52], track=[1, 1, 2, 2])
    got = model_features(tiny_model(**STAFF_TAGGER, staff=True), notes)
    assert got[:, NF.STAFF_COLUMN].tolist() == [1, 1, 2, 2]
    assert got[:, NF.STAFF_RANK_COLUMN].tolist() == [2, 1, 2, 1]
    plain = model_features(tiny_model(**STAFF_TAGGER), notes)
    assert (plain[:, [NF.STAFF_COLUMN, NF.STAFF_RANK_COLUMN]] == 0).all()
    hidden = model_features(tiny_model(**STAFF_TAGGER, staff=True), notes, read_staves=False)
    assert (hidden[:, [NF.STAFF_COLUMN, NF.STAFF_RANK_COLUMN]] == 0).all()


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
    two, one = _notes(pitch, track, onset=onset), _notes(pitch, np.zeros(n, np.int64), onset=onset)
    (a,) = predict_velocities(model, [two], CPU)
    (b,) = predict_velocities(model, [two], CPU, read_staves=False)
    (c,) = predict_velocities(model, [one], CPU)
    assert b.tolist() == c.tolist() and a.tolist() != b.tolist()


def test_training_windows_see_the_staves_inference_sees():
    rng = np.random.default_rng(5)
    n = 400
    onset = np.sort(rng.uniform(0, 60, n))
    onset = np.round(onset / 0.1) * 0.1  # chords
    track = rng.integers(1, 3, n)
    pitch = np.where(track == 1, rng.integers(55, 100, n), rng.integers(30, 70, n))
    notes = _notes(pitch, track, onset=onset)
    whole = model_features(tiny_model(**STAFF_TAGGER, staff=True), notes)
    assert len(set(whole[:, NF.STAFF_RANK_COLUMN].tolist())) >= 3  # the data has chords
    on = np.floor(onset / 0.05 + 1e-9).astype(np.int64)
    start = 300
    staff = NF.part_staff(notes.track, notes.channel, notes.pitch)
    w = make_window(on, on + 5, pitch, np.full(n, 64), np.ones(n, bool), start, 256, 1000, 0.0,
                    None, None, onset, staff)
    inside = np.flatnonzero((on >= start) & (on < start + 256))
    inside = inside[T.note_order(on[inside], pitch[inside])]
    cols = list(STAFF_COLUMNS)
    assert w.features[1::3][:, cols].tolist() == whole[inside][:, cols].tolist()


def test_the_sampler_hides_staves_at_the_asked_rate():
    n = 50
    piece = Piece(np.arange(n) * 0.1, np.arange(n) * 0.1 + 0.1, np.full(n, 60), np.full(n, 64),
                  np.ones(n, bool), staff=np.where(np.arange(n) % 2 == 0, 1, 2))

    def shown(drop: float | None) -> float:
        s = WindowSampler([piece], 0, 256, 100, None, 0.0, 1.0, drop_staff=drop)
        return np.mean([(s.sample().features[:, NF.STAFF_COLUMN] > 0).any() for _ in range(200)])

    assert shown(None) == 0.0  # a model that reads no staves is never shown them
    assert shown(0.0) == 1.0
    assert 0.65 < shown(0.2) < 0.95


def test_layout_appends_the_staff_rows():
    cfg = tiny_model(**STAFF_TAGGER).cfg
    used, offset, rows = feature_layout(cfg)
    used2, offset2, rows2 = feature_layout(replace(cfg, staff=True))
    cols = list(STAFF_COLUMNS)
    assert not used[cols].any() and used2[cols].all()
    assert rows2 == rows + sum(NF.FEATURE_SIZES[c] for c in cols)
    assert offset2[NF.STAFF_COLUMN] == rows and (offset2[used] == offset[used]).all()


def test_engines_agree_on_a_staff_model():
    model = tiny_model(seed=8, n_dec_layers=2, readout="mean", staff=True, **STAFF_TAGGER)
    items = windows_with(STAFF_COLUMNS, 9, (1, 6, 18, 9))
    assert_engines_agree_and_read(model, items, NF.STAFF_COLUMN)


def test_init_from_a_model_without_staves(tmp_path: Path):
    """The staff rows start at zero: the new model computes what the source did."""
    dst = tiny_model(seed=5, staff=True, **STAFF_TAGGER)
    items = windows_with(STAFF_COLUMNS, 3, (5, 12))
    assert_init_keeps_the_logits(tiny_model(seed=4, **STAFF_TAGGER), dst, items, tmp_path)
    rows = sum(NF.FEATURE_SIZES[c] for c in STAFF_COLUMNS)
    assert dst.feat_emb.weight[-rows:].abs().sum() == 0


def test_cli_flag_reaches_the_config(dataset: Path, tmp_path: Path):  # noqa: F811
    assert trained_with("--staff", dataset, tmp_path / "run").staff


def test_eval_scores_without_staves(aligned, tmp_path: Path):  # noqa: F811
    perf_root, score_root, align_root = aligned
    model = tmp_path / "staff.safetensors"
    save_model(model, tiny_model(seed=3, staff=True, **STAFF_TAGGER))
    reports = []
    for flag in ("--read-staves", "--no-read-staves"):
        reports.append(tmp_path / f"{flag}.json")
        r = CliRunner().invoke(app, ["eval", "--data", str(perf_root), "--scores", str(score_root),
                                     "--alignments", str(align_root), "--model", str(model),
                                     "--json", str(reports[-1]), "--device", "cpu", flag])
        assert r.exit_code == 0, r.output
    got = [json.loads(p.read_text()) for p in reports]
    assert [g["read_staves"] for g in got] == [True, False]


def test_humanize_can_read_a_multi_track_file_as_one_part(tmp_path: Path):
    """`autodyn humanize --no-read-staves`: for files whose tracks are not staves."""
    import mido
    from midi_factory import off, on, to_bytes, track

    from autodynamics_cli.midi_io import read_midi

    right = track(*[m for i in range(12) for m in (on(72 + i % 5, time=0), off(72 + i % 5, time=240))])
    left = track(*[m for i in range(12) for m in (on(48 + i % 3, time=0), off(48 + i % 3, time=240))])
    src = tmp_path / "two_staves.mid"
    src.write_bytes(to_bytes(mido.MidiFile(type=1, ticks_per_beat=480, tracks=[right, left])))
    weights = tmp_path / "staff.safetensors"
    model = tiny_model(seed=3, staff=True, **STAFF_TAGGER)
    save_model(weights, model)
    notes = read_midi(src).notes
    got = {}
    for flag in ("--read-staves", "--no-read-staves"):
        out = tmp_path / f"{flag}.mid"
        r = CliRunner().invoke(app, ["humanize", str(src), "-o", str(out), "-m", str(weights), flag])
        assert r.exit_code == 0, r.output
        got[flag] = read_midi(out).notes.velocity.tolist()
    for flag, staves in (("--read-staves", True), ("--no-read-staves", False)):
        (want,) = predict_velocities(model, [notes], CPU, read_staves=staves)
        assert got[flag] == want.tolist()
    assert got["--read-staves"] != got["--no-read-staves"]

"""The piece calibration (issue 21): a pianist's range at the piece's level, stored with the weights."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_model

from autodynamics_cli.errors import ModelError
from autodynamics_cli.inference.model import Model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.midi.notes import Notes
from autodynamics_cli.model.calibration import (
    FEATURES,
    METADATA_KEY,
    Linear,
    PieceCalibration,
    read_calibration,
    summary_features,
)
from autodynamics_cli.model.weights_file import bundled_weights_dir, read_checked_calibration, read_metadata

CAL = PieceCalibration(
    Linear(-3.0, {"log_notes_per_s": -3.0, "model_mean": 0.2}),
    Linear(0.9, {"model_std": -0.06, "has_dynamics": 0.1}),
    0.9,
    "test",
)


def some_notes(n: int = 200, seed: int = 0, velocity: int | None = 64) -> Notes:
    rng = np.random.default_rng(seed)
    onset = np.sort(rng.uniform(0, 60, n))
    vel = np.full(n, velocity) if velocity is not None else rng.integers(30, 100, n)
    return Notes(
        onset=onset,
        offset=onset + rng.uniform(0.1, 1.0, n),
        pitch=rng.integers(30, 90, n),
        velocity=vel,
        channel=np.zeros(n, dtype=np.int64),
        track=np.zeros(n, dtype=np.int64),
        byte_offset=np.arange(n, dtype=np.int64),
    )


def test_json_round_trip_and_unknown_features():
    assert PieceCalibration.from_json(CAL.to_json()) == CAL
    bad = json.loads(CAL.to_json())
    bad["level"]["slopes"]["tempo_words"] = 1.0
    with pytest.raises(ValueError, match="tempo_words"):
        PieceCalibration.from_json(json.dumps(bad))
    assert read_calibration({}) is None


def test_apply_is_the_documented_map_and_keeps_the_order():
    notes = some_notes()
    pred = np.random.default_rng(1).integers(55, 75, len(notes.pitch))  # a narrow, flat-ish output
    out = CAL.apply(pred, notes.onset, notes.offset, notes.pitch, notes.velocity)
    x = summary_features(notes.onset, notes.offset, notes.pitch, notes.velocity, pred)
    assert set(x) == set(FEATURES) and x["has_dynamics"] == 0.0
    level = pred.mean() + (-3.0 - 3.0 * x["log_notes_per_s"] + 0.2 * pred.mean())
    s = 0.9 * np.exp(0.9 - 0.06 * pred.std())
    want = np.clip(np.rint(level + s * (pred - pred.mean())), 1, 127)
    np.testing.assert_array_equal(out, want)
    order = np.argsort(pred, kind="stable")
    assert np.all(np.diff(out[order]) >= 0)  # louder never becomes softer
    assert out.std() > 1.3 * pred.std()  # this calibration widens a narrow output


def test_notated_dynamics_count_only_when_read():
    notes = some_notes(velocity=None)
    pred = np.full(len(notes.pitch), 60)
    assert summary_features(notes.onset, notes.offset, notes.pitch, notes.velocity, pred)["has_dynamics"] == 1
    assert (
        summary_features(notes.onset, notes.offset, notes.pitch, notes.velocity, pred, read_dynamics=False)[
            "has_dynamics"
        ]
        == 0
    )


def test_predict_applies_the_models_calibration_unless_told_not_to():
    net = tiny_model()
    notes = some_notes(120)
    (raw,) = predict_velocities(Model.from_network(net), [notes])
    engine = Model.from_network(net, calibration=CAL)
    (cal,) = predict_velocities(engine, [notes])
    (off,) = predict_velocities(engine, [notes], calibrate=False)
    np.testing.assert_array_equal(engine.predict(notes, calibrate=False), raw)
    np.testing.assert_array_equal(engine.uncalibrated().predict(notes), raw)
    np.testing.assert_array_equal(off, raw)
    np.testing.assert_array_equal(cal, CAL.apply(raw, notes.onset, notes.offset, notes.pitch, notes.velocity))


def test_the_bundled_model_carries_its_calibration():
    path = bundled_weights_dir() / "default.safetensors"
    cal = read_checked_calibration(path)
    assert cal is not None and cal.factor > 0 and "train" in cal.fitted_on
    for kind in (cal.played, cal.musicxml):  # one pair per kind of input (stage 7 on)
        assert kind is not None and kind.factor == cal.factor and "train" in kind.fitted_on
    assert "MusicXML" in cal.musicxml.fitted_on and "performances" in cal.played.fitted_on


def test_a_corrupt_calibration_is_a_model_error(tmp_path: Path, tiny_weights: Path):
    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "bad.safetensors"
    save_file(
        load_file(str(tiny_weights)),
        str(bad),
        metadata={**read_metadata(tiny_weights), METADATA_KEY: "{not json"},
    )
    with pytest.raises(ModelError, match="piece calibration"):
        read_checked_calibration(bad)


def test_the_bundled_default_spreads_like_a_pianist_on_validation_scores(shared_data: Path):
    """Spread = std(output) / std(pianist) on the matched notes of validation scores (mean per score).

    On all 18 validation pieces ``autodyn eval --scores`` measures 0.86 (the network alone
    0.53); three scores are a rough check that the shipped file and path give that.
    """
    from autodynamics_cli.inference.model import load_model
    from autodynamics_cli.midi.read import read_midi
    from autodynamics_cli.training.datasets import aligned_targets, list_aligned, read_alignment

    entries = [
        e
        for e in list_aligned(
            shared_data / "asap-performances", shared_data / "asap-scores", shared_data / "asap-alignments"
        )
        if e.split == "validation"
    ]
    firsts = list({str(e.score): e for e in entries}.values())[::6][:3]
    engine = load_model(None, device="cpu", engine="numpy")
    ratio = {"default": [], "network": []}
    for e in firsts:
        score = read_midi(e.score)
        target, hit = aligned_targets(score.notes, score.data, read_alignment(e.alignment))
        for name, calibrate in (("default", True), ("network", False)):
            (v,) = predict_velocities(engine, [score.notes], calibrate=calibrate)
            ratio[name].append(v[hit].std() / target[hit].std())
    assert 0.7 < np.mean(ratio["default"]) < 1.3
    assert np.mean(ratio["default"]) > 1.3 * np.mean(ratio["network"])


PLAYED = PieceCalibration(Linear(5.0), Linear(0.5), 1.0, "played test")


def chords(played: bool, n: int = 60, seed: int = 0) -> Notes:
    """Three-note chords every half second; ``played``: their notes 5-20 ms apart, as recorded."""
    rng = np.random.default_rng(seed)
    base = np.repeat(np.arange(n) * 0.5, 3)
    onset = base + (rng.uniform(0.005, 0.02, len(base)) * np.tile([0, 1, 2], n) if played else 0.0)
    k = len(onset)
    return Notes(
        onset=onset,
        offset=onset + 0.4,
        pitch=np.tile([48, 55, 64], n),
        velocity=np.full(k, 64),
        channel=np.zeros(k, dtype=np.int64),
        track=np.zeros(k, dtype=np.int64),
        byte_offset=np.arange(k, dtype=np.int64),
    )


def test_played_chords_tell_a_recording_from_a_score():
    for played, want in ((False, 0.0), (True, 1.0)):
        n = chords(played)
        x = summary_features(n.onset, n.offset, n.pitch, n.velocity, np.full(len(n.pitch), 60))
        assert x["played_chords"] == pytest.approx(want, abs=0.05)


def test_a_recording_takes_the_played_calibration():
    both = replace(CAL, played=PLAYED)
    assert PieceCalibration.from_json(both.to_json()) == both
    pred = np.random.default_rng(3).integers(50, 75, 180)
    for played in (False, True):
        n = chords(played)
        got = both.apply(pred, n.onset, n.offset, n.pitch, n.velocity)
        want = (PLAYED if played else CAL).apply(pred, n.onset, n.offset, n.pitch, n.velocity)
        np.testing.assert_array_equal(got, want)
    n = chords(True)  # the played calibration: level + 5, scale e^0.5
    out = PLAYED.apply(pred, n.onset, n.offset, n.pitch, n.velocity)
    assert out.mean() == pytest.approx(pred.mean() + 5, abs=0.6)
    assert out.std() == pytest.approx(np.exp(0.5) * pred.std(), rel=0.03)


XML = PieceCalibration(Linear(-7.0), Linear(-0.2), 1.0, "musicxml test")


def test_musicxml_input_takes_the_musicxml_calibration():
    """Input read with MusicXML markings takes its own calibration; a recording still the played one,
    and a model whose calibration has no MusicXML kind (stage 6 and earlier) treats it as a score."""
    three = replace(CAL, played=PLAYED, musicxml=XML)
    assert PieceCalibration.from_json(three.to_json()) == three
    old = json.loads(three.to_json())
    del old["musicxml"]
    assert PieceCalibration.from_dict(old) == replace(three, musicxml=None)  # a file without it
    pred = np.random.default_rng(4).integers(50, 75, 180)
    for played, from_xml, want in (
        (False, False, CAL),
        (False, True, XML),
        (True, True, PLAYED),
        (True, False, PLAYED),
    ):
        n = chords(played)
        got = three.apply(pred, n.onset, n.offset, n.pitch, n.velocity, musicxml=from_xml)
        np.testing.assert_array_equal(got, want.apply(pred, n.onset, n.offset, n.pitch, n.velocity))
        x = summary_features(n.onset, n.offset, n.pitch, n.velocity, pred)
        assert three.kind(x, from_xml) is (three if want is CAL else want)  # a score: itself
    n = chords(False)
    out = three.apply(pred, n.onset, n.offset, n.pitch, n.velocity, musicxml=True)
    assert out.mean() == pytest.approx(pred.mean() - 7, abs=0.6)  # level - 7, scale e^-0.2
    assert out.std() == pytest.approx(np.exp(-0.2) * pred.std(), rel=0.03)
    no_xml = replace(three, musicxml=None)
    np.testing.assert_array_equal(
        no_xml.apply(pred, n.onset, n.offset, n.pitch, n.velocity, musicxml=True),
        CAL.apply(pred, n.onset, n.offset, n.pitch, n.velocity),
    )


def test_predict_takes_the_musicxml_calibration_for_files_with_markings():
    """A file given with ``markings`` (read from MusicXML) takes the MusicXML calibration, one
    given None (MIDI) the score one, in the same call."""
    net = tiny_model()
    notes = some_notes(120)
    engine = Model.from_network(net, calibration=replace(CAL, musicxml=XML))
    (raw,) = predict_velocities(engine, [notes], calibrate=False)
    from_midi, from_xml = predict_velocities(
        engine, [notes, notes], markings=[None, np.zeros((len(notes.pitch), 9), dtype=np.int64)]
    )
    args = (notes.onset, notes.offset, notes.pitch, notes.velocity)
    np.testing.assert_array_equal(from_midi, CAL.apply(raw, *args))
    np.testing.assert_array_equal(from_xml, XML.apply(raw, *args))
    assert not np.array_equal(from_midi, from_xml)

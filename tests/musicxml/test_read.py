"""MusicXML scores written in code, played into MIDI: notes, timing, repeats, tracks, errors."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import xml_scores as X

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.midi.read import read_midi, track_names
from autodynamics_cli.musicxml import MusicXmlError, read_musicxml

pytest.importorskip("lxml")


def played(xml: str, unfold: bool = True, name: str = "x.musicxml"):
    score = read_musicxml(name, xml.encode(), unfold=unfold)
    return score, read_midi(name, score.midi)


def test_pitches_onsets_and_tempo():
    score, midi = played(X.scale(qpm=100))
    assert midi.notes.pitch.tolist() == [60, 62, 64, 65]
    assert score.onset_quarter.tolist() == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_allclose(midi.notes.onset, [0.0, 0.6, 1.2, 1.8])  # 100 quarters per minute
    np.testing.assert_allclose(midi.notes.offset - midi.notes.onset, 0.6)
    assert midi.notes.velocity.tolist() == [80] * 4  # no dynamic mark: MuseScore's mf


def test_no_tempo_mark_plays_at_120():
    _, midi = played(X.scale(qpm=None))
    np.testing.assert_allclose(midi.notes.onset, [0.0, 0.5, 1.0, 1.5])


def test_midi_file_layout():
    score, _ = played(X.scale())
    mid = mido.MidiFile(file=io.BytesIO(score.midi))
    assert mid.type == 1 and mid.ticks_per_beat == 480
    first = [m.type for m in mid.tracks[0]]
    assert "time_signature" in first and "set_tempo" in first and "program_change" in first
    assert next(m for m in mid.tracks[0] if m.type == "program_change").program == 0


def test_repeat_with_endings_unfolds_and_not():
    score, midi = played(X.repeated())
    assert midi.notes.pitch.tolist() == [60, 62, 60, 64]  # bar 1, ending 1, bar 1, ending 2
    assert score.onset_quarter.tolist() == [0.0, 4.0, 8.0, 12.0]
    assert score.note_id.tolist()[2].endswith("-2")  # bar 1's note, second pass
    score, midi = played(X.repeated(), unfold=False)
    assert midi.notes.pitch.tolist() == [60, 62, 64]  # each bar once
    assert score.onset_quarter.tolist() == [0.0, 4.0, 8.0]


def test_tie_is_one_note():
    score, midi = played(X.tied())
    assert midi.notes.pitch.tolist() == [67, 69]
    assert score.onset_quarter.tolist() == [2.0, 6.0]
    np.testing.assert_allclose(midi.notes.offset - midi.notes.onset, [2.0, 1.0])  # 4 quarters, 2 quarters


def test_two_staves_are_two_named_tracks_and_grace_note_before_its_main_note():
    score, midi = played(X.two_staves())
    assert track_names(score.midi) == ["Piano (staff 1)", "Piano (staff 2)"]
    by_pitch = dict(zip(midi.notes.pitch.tolist(), midi.notes.track.tolist(), strict=True))
    assert by_pitch == {72: 0, 48: 1, 74: 0, 76: 0}
    onset = dict(zip(midi.notes.pitch.tolist(), score.onset_quarter.tolist(), strict=True))
    assert onset[74] == pytest.approx(2.0 - 0.125) and onset[76] == 2.0  # the main note stays on its beat
    grace = score.markings[:, score.marking_names.index("grace")]
    assert grace[midi.notes.pitch == 74].tolist() == [1.0] and grace.sum() == 1


def test_hairpin_and_accent_markings_and_velocities():
    score, midi = played(X.marked())
    col = {n: score.markings[:, i] for i, n in enumerate(score.marking_names)}
    assert score.markings.dtype == np.float32 and score.markings.shape == (7, len(score.marking_names))
    assert midi.notes.pitch.tolist() == [60, 62, 64, 65, 67, 69, 71]
    assert col["crescendo"].tolist() == [1, 1, 1, 1, 0, 0, 0]  # the wedge stops before the f
    assert col["hairpin_position"].tolist() == [0, 0.25, 0.5, 0.75, 0, 0, 0]
    assert col["accent"].tolist() == [0, 0, 0, 0, 1, 0, 0]
    assert col["staccato"].tolist() == [0, 0, 0, 0, 0, 1, 0]
    np.testing.assert_allclose(col["dynamic"], np.array([49] * 4 + [96] * 3) / 127, rtol=1e-6)
    assert col["since_dynamic"].tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert col["dynamic_unknown"].sum() == 0
    vel = midi.notes.velocity.tolist()
    assert vel[0] == 49 and vel[4:] == [96] * 3 and vel[:5] == sorted(vel[:5])  # p, ramp up, f


def test_markings_follow_read_midi_order_across_tracks():
    score, midi = played(X.two_staves())
    assert len(score.markings) == len(midi.notes) == len(score.onset_quarter) == len(score.note_id)
    np.testing.assert_allclose(midi.notes.onset, score.onset_quarter * 0.5)  # 120 qpm


def test_compressed_mxl_reads_like_the_xml(tmp_path: Path):
    p = tmp_path / "x.mxl"
    p.write_bytes(X.mxl(X.marked()))
    a, b = read_musicxml(p), read_musicxml("x.musicxml", X.marked().encode())
    assert a.midi == b.midi and np.array_equal(a.markings, b.markings)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"<score-partwise><part-list>", "not well-formed XML"),
        (b'<?xml version="1.0"?><html><body/></html>', "not a MusicXML score (its root element is <html>"),
        (b"<score-timewise/>", "timewise"),
        (b"", "file is empty"),
        (b"PK\x03\x04garbage", "corrupt compressed MusicXML"),
    ],
)
def test_unreadable_scores_are_one_line_errors(data: bytes, reason: str):
    with pytest.raises(MusicXmlError) as e:
        read_musicxml("bad.musicxml", data)
    assert str(e.value).startswith("bad.musicxml: ") and reason in str(e.value)
    assert "\n" not in str(e.value) and isinstance(e.value, AutodynError)


def test_missing_file_is_one_line_error(tmp_path: Path):
    with pytest.raises(AutodynError, match="missing.musicxml: "):
        read_musicxml(tmp_path / "missing.musicxml")


def test_recursion_limit_is_restored():
    before = sys.getrecursionlimit()
    read_musicxml("x.musicxml", X.repeated().encode())
    assert sys.getrecursionlimit() == before

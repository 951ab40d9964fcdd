"""File kinds by name, decided in one place (formats/kinds.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli, simple_file

from autodynamics_cli.errors import UsageError
from autodynamics_cli.formats.kinds import (
    Kind,
    input_kind,
    is_input_name,
    output_kind,
    output_kind_for,
    output_name,
)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.mid", Kind.MIDI),
        ("a.MIDI", Kind.MIDI),
        ("a.kar", Kind.MIDI),
        ("a.mxl", Kind.MUSICXML),
        ("a.musicxml", Kind.MUSICXML),
        ("a.xml", Kind.MUSICXML),
        (None, Kind.MIDI),
    ],
)
def test_input_kind(name, kind):
    assert input_kind(name) is kind


def test_a_folder_takes_midi_files_and_scores_only(tmp_path: Path):
    (tmp_path / "notes.xml").write_text("<settings/>")
    (tmp_path / "s.xml").write_text('<?xml version="1.0"?><score-partwise/>')
    names = {
        "a.mid": True,
        ".hidden.mid": False,
        "b.txt": False,
        "c.mxl": True,
        "notes.xml": False,
        "s.xml": True,
    }
    assert {n: is_input_name(tmp_path / n) for n in names} == names


@pytest.mark.parametrize("name", ["out.mid", "out.midi", "OUT.MID", "out", "/dev/null"])
def test_midi_outputs(name):
    assert output_kind(name) is Kind.MIDI
    assert output_kind(name, Kind.MUSICXML) is Kind.MIDI


@pytest.mark.parametrize(
    ("name", "source", "why"),
    [
        ("out.musicxml", Kind.MIDI, "only a MusicXML score"),
        ("out.mxl", Kind.MIDI, "only a MusicXML score"),
        ("out.wav", Kind.MUSICXML, "cannot write .wav"),
    ],
)
def test_an_output_autodyn_cannot_write_is_a_usage_error(name, source, why):
    with pytest.raises(UsageError, match=why):
        output_kind(name, source)


def test_a_score_is_written_back_as_a_score():
    assert output_kind("out.mxl", Kind.MUSICXML) is Kind.MUSICXML
    assert output_kind_for(Kind.MUSICXML, None) is Kind.MUSICXML
    assert output_kind_for(Kind.MUSICXML, Kind.MIDI) is Kind.MIDI
    assert output_kind_for(Kind.MIDI, None) is Kind.MIDI
    with pytest.raises(UsageError):
        output_kind_for(Kind.MIDI, Kind.MUSICXML)


def test_output_names_in_a_folder_take_the_written_kind():
    assert output_name(Path("a/b.mxl"), Kind.MUSICXML) == Path("a/b.mxl")
    assert output_name(Path("a/b.mxl"), Kind.MIDI) == Path("a/b.mid")
    assert output_name(Path("a/b.kar"), Kind.MIDI) == Path("a/b.kar")


def test_o_song_musicxml_from_a_midi_file_is_refused_before_any_work(tmp_path: Path, capsys, monkeypatch):
    src = tmp_path / "in.mid"
    src.write_bytes(simple_file())
    code, _, err = cli(capsys, monkeypatch, "humanize", src, "-o", tmp_path / "song.musicxml")
    assert code == 2 and "only a MusicXML score is written back" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mid"]

"""One reader per input kind, each returning the same InputFile (formats/readers.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import simple_file

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.formats.readers import (
    MidiReader,
    MidiWithScoreReader,
    MusicXmlReader,
    read_input,
    reader_for,
)
from autodynamics_cli.midi.read import read_midi


def test_the_reader_is_chosen_by_kind(tmp_path: Path):
    assert isinstance(reader_for(tmp_path / "a.mid"), MidiReader)
    assert isinstance(reader_for(None), MidiReader)
    assert isinstance(reader_for(tmp_path / "a.mxl"), MusicXmlReader)
    assert isinstance(reader_for(tmp_path / "a.mid", score=tmp_path / "a.mxl"), MidiWithScoreReader)


def test_a_midi_file_reads_as_read_midi_with_unknown_markings(tmp_path: Path):
    path = tmp_path / "a.mid"
    path.write_bytes(simple_file(5))
    got = read_input(path)
    assert got.markings is None and got.score is None
    assert got.midi.data == read_midi(str(path)).data
    np.testing.assert_array_equal(got.midi.notes.pitch, read_midi(str(path)).notes.pitch)
    from_bytes = read_input(None, simple_file(5))
    assert from_bytes.midi.data == got.midi.data


def test_errors_name_the_input(tmp_path: Path):
    with pytest.raises(AutodynError, match="<stdin>"):
        read_input(None, b"garbage")
    with pytest.raises(AutodynError, match="song"):
        read_input(None, b"garbage", name="song")


def test_a_score_and_its_export_read_the_same_markings(tmp_path: Path):
    pytest.importorskip("lxml")
    import xml_scores as X

    xml = tmp_path / "s.musicxml"
    xml.write_text(X.marked())
    score = read_input(xml)
    assert score.markings is not None and score.score is not None
    assert len(score.markings) == len(score.midi.notes)
    export = tmp_path / "s.mid"
    export.write_bytes(score.midi.data)
    joined = read_input(export, score=xml)
    assert joined.midi.data == export.read_bytes()
    np.testing.assert_array_equal(joined.markings, score.markings)

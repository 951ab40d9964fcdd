"""Which files are MusicXML scores: by name, and by a look inside plain .xml files."""

from __future__ import annotations

from pathlib import Path

import pytest
import xml_scores as X

from autodynamics_cli.musicxml import is_musicxml_name, looks_like_musicxml
from autodynamics_cli.musicxml.names import root_element


@pytest.mark.parametrize(
    "name, expected",
    [
        ("a.musicxml", True),
        ("a.MXL", True),
        ("a.xml", True),
        ("dir/a.mxl", True),
        ("a.mid", False),
        ("a.xml.bak", False),
        (".hidden.mxl", False),
    ],
)
def test_is_musicxml_name(name: str, expected: bool):
    assert is_musicxml_name(name) is expected


def test_root_element_skips_declaration_doctype_and_comments():
    head = X.scale().encode()
    assert root_element(head) == "score-partwise"
    assert root_element(b"\xef\xbb\xbf<?xml version='1.0'?><!-- <x> --><score-timewise>") == "score-timewise"
    assert root_element(b"<?xml version='1.0'?>") is None
    assert root_element("<score-partwise/>".encode("utf-16")) == "score-partwise"


def test_only_scores_are_taken_from_a_folder(tmp_path: Path):
    (tmp_path / "score.xml").write_text(X.scale())
    (tmp_path / "settings.xml").write_text('<?xml version="1.0"?><settings><a>1</a></settings>')
    (tmp_path / "any.mxl").write_bytes(b"whatever")  # .mxl and .musicxml are taken by name
    (tmp_path / "any.musicxml").write_text("")
    (tmp_path / "song.mid").write_bytes(b"MThd")
    taken = sorted(p.name for p in tmp_path.iterdir() if looks_like_musicxml(p))
    assert taken == ["any.musicxml", "any.mxl", "score.xml"]

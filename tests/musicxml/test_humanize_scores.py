"""``autodyn humanize`` on MusicXML scores: outputs, folders, and a bad score in a batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import xml_scores as X
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.midi.read import read_midi

pytest.importorskip("partitura")
runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_score_gets_a_humanized_midi_file_beside_it(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "x.musicxml"
    src.write_text(X.two_staves())
    r = run("humanize", src, "--model", tiny_weights, "--format", "mid")
    assert r.exit_code == 0, r.output
    out = read_midi("out", (tmp_path / "x_humanized.mid").read_bytes())
    assert sorted(out.notes.pitch.tolist()) == [48, 72, 74, 76] and out.n_tracks == 2


def test_named_output_and_compressed_score(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "x.mxl"
    src.write_bytes(X.mxl(X.marked()))
    r = run("humanize", src, "-o", tmp_path / "out.mid", "--model", tiny_weights)
    assert r.exit_code == 0, r.output
    assert len(read_midi("out", (tmp_path / "out.mid").read_bytes()).notes) == 7


def test_folder_takes_scores_and_skips_other_xml(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.musicxml").write_text(X.scale())
    (src / "b.xml").write_text(X.tied())
    (src / "settings.xml").write_text('<?xml version="1.0"?><settings/>')
    r = run("humanize", src, "-o", tmp_path / "out", "--model", tiny_weights)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.musicxml", "b.xml"]


def test_bad_score_fails_alone(tmp_path: Path, tiny_weights: Path):
    good, bad = tmp_path / "good.musicxml", tmp_path / "bad.musicxml"
    good.write_text(X.scale())
    bad.write_text("<score-partwise><part-list>")
    missing = tmp_path / "missing.mxl"
    r = run("humanize", bad, missing, good, "-o", tmp_path / "out", "--model", tiny_weights)
    assert r.exit_code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.musicxml"]
    assert "bad.musicxml: not well-formed XML" in r.output and "missing.mxl" in r.output
    assert "Traceback" not in r.output


def test_a_score_passes_its_markings_to_the_model_and_a_midi_file_none(
    tmp_path: Path, tiny_weights: Path, markings_seen: list
):
    src = tmp_path / "x.musicxml"
    src.write_text(X.marked())
    assert run("humanize", src, "-o", tmp_path / "x.mid", "--model", tiny_weights).exit_code == 0
    midi = run("humanize", tmp_path / "x.mid", "-o", tmp_path / "y.mid", "--model", tiny_weights)
    assert midi.exit_code == 0
    xml_markings, midi_markings = markings_seen
    assert xml_markings.shape == (7, 9) and xml_markings[:, 0].tolist() == [6, 6, 6, 6, 10, 10, 10]  # p, f
    assert midi_markings is None

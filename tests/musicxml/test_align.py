"""``autodyn humanize song.mid --score song.musicxml``: a MIDI export takes its score's markings."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
import xml_scores as X
from helpers import assert_only_velocities_changed, cli, off, on, to_bytes, track
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.musicxml.align import best_match, match_notes, onset_quarters

runner = CliRunner()


def test_note_onsets_in_quarters_follow_ticks_not_tempo():
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(
        track(
            mido.MetaMessage("set_tempo", tempo=250000), on(60), off(60, 240), on(62, time=480), off(62, 480)
        )
    )
    mid.tracks.append(track(on(48, time=960), off(48, 480)))
    score = read_midi("x.mid", to_bytes(mid))
    got = dict(zip(score.notes.pitch.tolist(), onset_quarters(score).tolist(), strict=True))
    assert got == {60: 0.0, 62: 1.5, 48: 2.0}


def test_matching_by_pitch_and_onset_each_note_once():
    pitch, q = np.array([60, 60, 64, 67, 72]), np.array([0.0, 1.0, 1.0, 2.0, 9.0])
    ref_pitch, ref_q = np.array([64, 60, 60, 67]), np.array([1.01, 1.0, 0.0, 2.5])
    assert match_notes(pitch, q, ref_pitch, ref_q).tolist() == [2, 1, 0, -1, -1]
    # a pickup exported one quarter later: the whole file shifts once
    assert best_match(pitch[:3] + 1, q[:3] + 1, ref_pitch, ref_q).tolist() == [-1, -1, -1]
    assert best_match(pitch[:3], q[:3] + 1, ref_pitch, ref_q).tolist() == [2, 1, 0]


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, Path]:
    """A score and a MIDI export of it (autodyn's own playback, stepped velocities p then f)."""
    pytest.importorskip("lxml")
    from autodynamics_cli.musicxml import read_musicxml

    score = tmp_path / "song.musicxml"
    score.write_text(X.marked())
    midi = tmp_path / "song.mid"
    midi.write_bytes(read_musicxml(score).midi)
    return midi, score


def test_midi_export_takes_the_scores_markings_byte_for_byte(
    export, tmp_path: Path, tiny_weights: Path, markings_seen: list
):
    midi, score = export
    r = runner.invoke(
        app,
        [
            "humanize",
            str(midi),
            "--score",
            str(score),
            "-o",
            str(tmp_path / "out.mid"),
            "--model",
            str(tiny_weights),
        ],
    )
    assert r.exit_code == 0, r.output
    assert_only_velocities_changed(midi.read_bytes(), (tmp_path / "out.mid").read_bytes())
    r = runner.invoke(
        app, ["humanize", str(score), "-o", str(tmp_path / "xml.mid"), "--model", str(tiny_weights)]
    )
    assert r.exit_code == 0, r.output
    with_score, from_xml = markings_seen
    assert with_score.tolist() == from_xml.tolist() and (with_score[:, 0] > 0).all()


def test_another_score_is_refused_and_usage_is_checked(
    export, tmp_path: Path, tiny_weights: Path, capsys, monkeypatch
):
    midi, score = export
    other = tmp_path / "other.musicxml"
    other.write_text(X.two_staves())

    def run(*args: object) -> tuple[int, str]:
        code, out, err = cli(capsys, monkeypatch, "humanize", *args, "--model", tiny_weights)
        return code, out + err

    code, text = run(midi, "--score", other, "-o", tmp_path / "out.mid")
    assert code == 1 and "does not match" in text and "song.mid" in text
    assert not (tmp_path / "out.mid").exists() and "Traceback" not in text
    second = tmp_path / "second.mid"
    second.write_bytes(midi.read_bytes())
    assert run(midi, second, "--score", score, "-o", tmp_path / "o")[0] == 2  # one MIDI file only
    assert run(score, "--score", score)[0] == 2  # a MusicXML input reads its own
    assert run(midi, "--score", tmp_path / "missing.mxl")[0] == 2
    code, text = run(midi, "--score", midi)
    assert code == 2 and "not a MusicXML score" in text

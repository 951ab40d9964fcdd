"""``autodyn eval --scores`` from MusicXML (issue 23): the note map, and the two paths on the same notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import off, on, to_bytes, track

from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.training.datasets import list_aligned, map_to_score_notes, musicxml_of


def test_note_map_moves_values_onto_the_midi_scores_notes(tmp_path: Path):
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(track(on(60), off(60, 480), on(64), off(64, 480), on(67), off(67, 480)))
    score = read_midi("s.mid", to_bytes(mid))
    note_map = tmp_path / "xml_note_map.csv"
    # the MusicXML's notes n1..n3 are the MIDI score's 0th, 2nd and (not mapped) 1st note_on
    note_map.write_text("score_note_index,xml_note_id\n0,n1-1\n2,n3-1\n7,n9-1\n")
    values, has = map_to_score_notes(
        np.array(["n3-1", "n1-1", "n2-1"]), np.array([30, 10, 20]), score.notes, score.data, note_map
    )
    by_pitch = dict(
        zip(score.notes.pitch.tolist(), zip(values.tolist(), has.tolist(), strict=True), strict=True)
    )
    assert by_pitch == {60: (10, True), 64: (0, False), 67: (30, True)}


def test_musicxml_and_midi_export_are_compared_on_the_same_notes(shared_data: Path):
    pytest.importorskip("lxml")
    from autodynamics_cli.inference.model import load_model
    from autodynamics_cli.training.evaluate import evaluate_musicxml, evaluate_scores

    entries = [
        e
        for e in list_aligned(
            shared_data / "asap-performances", shared_data / "asap-scores", shared_data / "asap-alignments"
        )
        if e.split == "validation" and musicxml_of(e.score)
    ]
    smallest = min({str(e.score) for e in entries}, key=lambda s: Path(s).stat().st_size)
    group = [e for e in entries if str(e.score) == smallest]
    engine = load_model(None, device="cpu", engine="numpy")
    rows = evaluate_musicxml(engine, group)
    plain = {r.path: r for r in evaluate_scores(engine, group)}
    assert len(rows) == len(group)
    for r in rows:
        assert r.notes >= 0.95 * plain[r.path].notes  # the note map covers (almost) every matched note
        assert np.isfinite([r.mse, r.r, r.spread, r.midi_mse, r.midi_r]).all()
        if r.notes == plain[r.path].notes:  # same notes: the MIDI path is exactly autodyn eval's model row
            assert r.midi_mse == pytest.approx(plain[r.path].mse)

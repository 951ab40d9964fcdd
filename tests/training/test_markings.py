"""Training on a score's MusicXML markings (issue 23): per MIDI-score note, hidden in a share of windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xml_scores as X

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding.marking_features import marking_buckets
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.training import datasets
from autodynamics_cli.training.datasets import AlignedEntry, load_aligned, score_order
from autodynamics_cli.training.sampler import WindowSampler

pytest.importorskip("lxml")


def asap_piece(folder: Path) -> AlignedEntry:
    """A piece in the ASAP layout from ``X.marked()``: MusicXML, its MIDI export, note map, an alignment."""
    from autodynamics_cli.musicxml import read_musicxml

    folder.mkdir(parents=True)
    (folder / "xml_score.mxl").write_bytes(X.mxl(X.marked()))
    xml = read_musicxml(folder / "xml_score.mxl")
    (folder / "midi_score.mid").write_bytes(xml.midi)
    midi = read_midi("s", xml.midi)
    order = score_order(midi.notes, midi.data)
    (folder / "xml_note_map.csv").write_text(
        "score_note_index,xml_note_id\n"
        + "".join(f"{k},{xml.note_id[i]}\n" for k, i in enumerate(order) if k != 2)
    )  # note 2 left unmapped
    (folder / "perf.csv").write_text(
        "score_note_index,pitch,score_onset_s,perf_velocity\n"
        + "".join(f"{k},{midi.notes.pitch[i]},{k * 0.5},{40 + 5 * k}\n" for k, i in enumerate(order))
    )
    return AlignedEntry(folder / "midi_score.mid", folder / "perf.csv", "train", "marked", folder / "p.mid")


def test_markings_follow_the_midi_scores_notes_and_are_cached(tmp_path: Path, monkeypatch):
    from autodynamics_cli.musicxml import read_musicxml

    monkeypatch.setenv("AUTODYN_CACHE_DIR", str(tmp_path / "cache"))
    e = asap_piece(tmp_path / "piece")
    piece = load_aligned(e, markings=True, cache=True)
    xml = read_musicxml(e.score.parent / "xml_score.mxl")
    want = marking_buckets(xml.markings, xml.marking_names)  # the played notes are the MIDI score's
    midi = read_midi(e.score)
    unmapped = score_order(midi.notes, midi.data)[2]
    assert (piece.markings[unmapped] == 0).all()  # not in the note map: unknown
    keep = np.arange(len(want)) != unmapped
    assert np.array_equal(piece.markings[keep], want[keep])
    assert (want[:, 0] > 0).all() and (want[:, 3] > 1).any()  # p / f and an accent were read
    # the second read comes from the cache, with no MusicXML reader at all
    monkeypatch.setattr("autodynamics_cli.musicxml.read_musicxml", None)
    assert np.array_equal(load_aligned(e, markings=True, cache=True).markings, piece.markings)
    assert load_aligned(e).markings is None  # a model without markings does not read them


def test_markings_are_hidden_in_a_share_of_windows(tmp_path: Path):
    piece = load_aligned(asap_piece(tmp_path / "piece"), markings=True)

    def marking_columns(drop: float) -> list[np.ndarray]:
        s = WindowSampler([piece], 0, 256, 100, None, 0.0, 1.0, drop_markings=drop)
        return [s.sample().features[:, list(NF.MARKING_COLUMNS)] for _ in range(20)]

    assert all((f > 0).any() for f in marking_columns(0.0))
    assert all((f == 0).all() for f in marking_columns(1.0))  # as a MIDI export reads
    assert 0 < sum((f == 0).all() for f in marking_columns(0.5)) < 20


def test_missing_extra_stops_training_not_one_piece(tmp_path: Path, monkeypatch):
    from autodynamics_cli.errors import UsageError
    from autodynamics_cli.musicxml.read import EXTRA_HINT, MusicXmlError

    e = asap_piece(tmp_path / "piece")

    def no_extra(path, *a, **k):
        raise MusicXmlError(path, EXTRA_HINT)

    monkeypatch.setattr("autodynamics_cli.musicxml.read_musicxml", no_extra)
    with pytest.raises(UsageError, match="musicxml"):
        datasets.aligned_piece(e, cache=False, markings=True)
    assert datasets.aligned_piece(e, cache=False) is not None  # without markings nothing is read

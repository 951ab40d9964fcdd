"""A part as written (timeline.py) and played (played.py): what partitura's importer decided."""

from __future__ import annotations

import pytest
import xml_scores as X

pytest.importorskip("lxml")
pytest.importorskip("lark")

from autodynamics_cli.musicxml.read import load_score  # noqa: E402


def _load(xml: str):
    return load_score("s.musicxml", xml.encode())


def test_ties_across_the_barline_are_one_note():
    s = _load(X.tied())
    assert len(s.parts[0]) == len({*s.parts[0].note_id})  # one id per played note
    assert all(len(t) <= 1 for t in s.parts[0].tied_ids)


def test_grace_notes_count_to_their_main_note():
    xml = X.score(
        X.measure(1, X.note("E", 4, grace=True), X.note("D", 4, grace=True), X.note("C", 4, 4), first=True)
    )
    part = _load(xml).parts[0]
    assert dict(zip(part.pitch.tolist(), part.grace.tolist(), strict=True)) == {64: 2, 62: 1, 60: 0}


def test_a_hairpin_that_never_stops_is_dropped_and_a_stopped_one_kept():
    open_ = X.score(X.measure(1, X.wedge("crescendo"), X.note("C", 4, 4), first=True))
    closed = X.score(
        X.measure(1, X.wedge("crescendo"), X.note("C", 4, 2), X.wedge("stop"), X.note("D", 4, 2), first=True)
    )
    assert _load(open_).parts[0].marks == []
    [mark] = _load(closed).parts[0].marks
    assert (mark.kind, mark.start, mark.end) == ("cresc", 0.0, 2.0)


def test_a_metronome_mark_in_words_sets_the_tempo():
    xml = X.score(X.measure(1, X.tempo(90, words="Allegro (q = 90)"), X.note("C", 4, 4), first=True))
    s = _load(xml)
    assert s.tempos == [(0.0, 90.0)]
    assert [(m.kind, m.text) for m in s.parts[0].marks] == [("tempo", "allegro")]


def test_a_dynamic_lasts_until_the_next():
    xml = X.score(
        X.measure(1, X.dynamic("p"), X.note("C", 4, 2), X.dynamic("f"), X.note("D", 4, 2), first=True)
    )
    marks = _load(xml).parts[0].marks
    assert [(m.text, m.start, m.end) for m in marks] == [("p", 0.0, 2.0), ("f", 2.0, 4.0)]


def test_file_ids_kept_and_passes_numbered():
    ids = _load(X.repeated().replace("<note>", '<note id="a1">', 1)).parts[0].note_id
    assert ids[0] == "a1-1" and ids[2] == "a1-2"


def test_ids_that_repeat_are_numbered_afresh():
    xml = X.scale().replace("<note>", '<note id="same">')
    ids = list(_load(xml).parts[0].note_id)
    assert len(set(ids)) == len(ids) and all(i.startswith("n") for i in ids)


def test_a_namespaced_score_reads():
    xml = X.scale().replace("<score-partwise ", '<score-partwise xmlns="http://www.musicxml.org/ns" ')
    assert len(_load(xml).parts[0]) == len(_load(X.scale()).parts[0])


def test_a_slur_whose_stop_comes_first_in_the_file():
    """Across staves a slur's stop can come before its start in document order (partitura keeps it)."""
    start = X.note("C", 4, 4, notations='<slur type="start" number="1"/>')
    stop = X.note("E", 4, 4, staff=2, notations='<slur type="stop" number="1"/>')
    xml = X.score(
        X.measure(1, stop.replace("<voice>1", "<voice>2"), X.backup(4), start, staves=2, first=True)
    )
    part = _load(xml).parts[0]
    assert part.slurs == [(0.0, 0.0)] and part.slur_start.sum() == 1 and part.slur_end.sum() == 1

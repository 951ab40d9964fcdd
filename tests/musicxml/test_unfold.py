"""Repeats, endings and jumps played as partitura's maximal unfolding plays them (unfold.py)."""

from __future__ import annotations

import pytest
import xml_scores as X

pytest.importorskip("lxml")
pytest.importorskip("lark")

from autodynamics_cli.musicxml.read import load_score  # noqa: E402
from autodynamics_cli.musicxml.timeline import Part  # noqa: E402
from autodynamics_cli.musicxml.unfold import UnfoldError, played_spans  # noqa: E402


def _words(text: str, sound: str) -> str:
    return X.direction(f"<words>{text}</words>", sound=f"<sound {sound}/>")


def _pitches(xml: str, unfold: bool = True) -> list[int]:
    return [int(p) for p in load_score("s.musicxml", xml.encode(), unfold=unfold).parts[0].pitch]


def test_repeat_with_first_and_second_endings():
    assert _pitches(X.repeated()) == [60, 62, 60, 64]
    assert _pitches(X.repeated(), unfold=False) == [60, 62, 64]


def test_da_capo_al_fine():
    xml = X.score(
        X.measure(1, X.note("C", 4, 4), _words("Fine", 'fine="yes"'), first=True),
        X.measure(2, X.note("D", 4, 4), _words("D.C. al Fine", 'dacapo="yes"')),
    )
    assert _pitches(xml) == [60, 62, 60]


def test_no_repeats_after_a_jump():
    rb = X.repeat_barline
    xml = X.score(
        X.measure(
            1, X.note("C", 4, 4), first=True, left=rb("left", "forward"), right=rb("right", "backward")
        ),
        X.measure(2, X.note("D", 4, 4), _words("D.C.", 'dacapo="yes"')),
    )
    assert _pitches(xml) == [60, 60, 62, 60, 62]


def test_a_repeat_without_its_start_goes_back_to_the_beginning():
    xml = X.score(
        X.measure(1, X.note("C", 4, 4), first=True),
        X.measure(2, X.note("D", 4, 4), right=X.repeat_barline("right", "backward")),
        X.measure(3, X.note("E", 4, 4)),
    )
    assert _pitches(xml) == [60, 62, 60, 62, 64]


def test_spans_of_a_part_without_repeats():
    part = Part("P1", None, points={0, 16})
    assert played_spans(part) == [(0, 16)]


def test_endings_out_of_order_are_an_unfold_error():
    part = Part("P1", None, points={0, 4, 8}, endings=[[4, 8, "2"]], repeats=[[0, 4]])
    part.endings.append([0, 4, "x"])
    with pytest.raises(UnfoldError):
        played_spans(part)

"""Words read as marks with partitura's grammar (words.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("lark")

from autodynamics_cli.musicxml.words import parse_words  # noqa: E402


@pytest.mark.parametrize(
    ("text", "marks"),
    [
        ("cresc.", (("cresc", "crescendo"),)),
        ("dim.", (("dim", "diminuendo"),)),
        ("poco rit.", (("rit", "ritardando"),)),
        ("rubato", (("accel", "rubato"),)),  # partitura counts rubato as an increasing tempo
        ("Allegro molto", (("tempo", "allegro"),)),
        ("allegretto", (("tempo", "allegro"),)),
        ("Menuetto", (("tempo", "menuetto"),)),
        ("leggiero e molto stretto", (("tempo", "leggiero"), ("tempo", "stretto"))),
        ("sempre più forte", (("dynamic", "forte"),)),
        ("a tempo", (("tempo_reset", "a tempo"),)),
        ("Tempo I", (("tempo_reset", "tempo i"),)),
        ("Allegro (q=120)", (("tempo", "allegro"), ("metronome", "q 120"))),
        ("molto legato", (("articulation", "legato"),)),
        ("spaghetti", ()),
        ("con brio", ()),
        ("", ()),
    ],
)
def test_words(text: str, marks: tuple):
    assert parse_words(text) == marks

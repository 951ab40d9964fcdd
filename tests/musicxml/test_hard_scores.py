"""Scores partitura tripped over, written in code after files of the LilyPond MusicXML test suite
(MIT licence, as music21 ships it) and music21's corpus: autodyn's reader reads them, plays
repeats it cannot follow as written (named in the warnings), and names the measure of what
it cannot read."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import xml_scores as X

pytest.importorskip("lxml")
pytest.importorskip("lark")

from autodynamics_cli.musicxml import read as R  # noqa: E402
from autodynamics_cli.musicxml.read import MusicXmlError, load_score  # noqa: E402


def _load(tmp_path: Path, xml: str | bytes, name: str = "s.musicxml"):
    path = tmp_path / name
    path.write_bytes(xml.encode() if isinstance(xml, str) else xml)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_score(path)


def _pitches(score) -> list[int]:
    return [int(p) for part in score.parts for p in part.pitch]


def test_a_plain_score_has_no_warnings(tmp_path: Path):
    assert _load(tmp_path, X.scale()).warnings == ()


def test_quarter_tones_play_the_nearest_semitone(tmp_path: Path):
    """01f-Pitches-EditorialMicrotoneAccidentals: <alter>-0.5</alter> with a quarter-flat sign."""
    quarter = X.note("D", 4).replace("<step>D</step>", "<step>D</step><alter>-1.5</alter>")
    quarter = quarter.replace("<type>", "<accidental>three-quarters-flat</accidental><type>")
    s = _load(tmp_path, X.score(X.measure(1, X.note("C", 4), quarter, X.note("E", 4, 2), first=True)))
    assert _pitches(s) == [60, 60, 64]  # D - 1.5 rounds to D - 2 = C
    assert any("microtone" in w for w in s.warnings)


def test_a_fingering_without_a_finger(tmp_path: Path):
    """32ab-Notations3: an empty <fingering/> (partitura indexes its first finger)."""
    bare = X.note("D", 4, notations="<technical><fingering/></technical>")
    s = _load(tmp_path, X.score(X.measure(1, X.note("C", 4), bare, X.note("E", 4, 2), first=True)))
    assert _pitches(s) == [60, 62, 64] and s.warnings == ()


def test_four_dots(tmp_path: Path):
    """Robert Schumann, Op. 41 No. 1, IV (music21's corpus): more dots than partitura knows."""
    dotted = X.note("D", 4, 2).replace("<type>half</type>", "<type>eighth</type>" + "<dot/>" * 4)
    chord = X.note("F", 4, 2, chord=True)
    s = _load(tmp_path, X.score(X.measure(1, X.note("C", 4, 2), dotted, chord, first=True)))
    assert _pitches(s) == [60, 62, 65] and s.warnings == ()


def test_a_volta_without_a_number_is_still_unfolded(tmp_path: Path):
    """Haydn Op. 74 No. 1, III and Mozart K. 458 (music21's corpus): a first ending written only
    as its end, ``<ending number="" type="stop"/>``."""
    xml = X.repeated().replace('<barline location="left"><ending number="1" type="start"/></barline>', "")
    xml = xml.replace('<ending number="1" type="stop"/>', '<ending number="" type="stop"/>')
    s = _load(tmp_path, xml)
    assert _pitches(s) == [60, 62, 60, 64]  # the repeat taken: C D | C E
    assert s.warnings == ()


def test_repeats_partitura_cannot_unfold_are_played_as_written(tmp_path: Path):
    """45f-Repeats-InvalidEndings: endings that close no repeat."""
    rb = X.repeat_barline
    xml = X.score(
        X.measure(1, X.note("C", 4, 4), first=True),
        X.measure(
            2, X.note("D", 4, 4), left=rb("left", "", "1, 2, 3"), right=rb("right", "", "1, 2, 3", "stop")
        ),
        X.measure(3, X.note("E", 4, 4), left=rb("left", "", "2"), right=rb("right", "", "2", "discontinue")),
        X.measure(4, X.note("F", 4, 4), right=rb("right", "backward", "2", "stop")),
        X.measure(5, X.note("G", 4, 4)),
    )
    s = _load(tmp_path, xml)
    assert _pitches(s) == [60, 62, 64, 65, 67]
    assert [w.startswith("repeats not unfolded") for w in s.warnings] == [True]


def test_tuplets_beyond_64_bit_divisions(tmp_path: Path):
    """Tuplets of 3 to 59 in one part: their least common multiple outgrows int64."""
    primes = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]
    div = 1
    for p in primes:
        div *= p
    measures = []
    for i, p in enumerate(primes):
        notes = "".join(
            f"<note><pitch><step>C</step><octave>5</octave></pitch><duration>{div // p}</duration>"
            f"<voice>1</voice><type>16th</type><time-modification><actual-notes>{p}</actual-notes>"
            "<normal-notes>4</normal-notes></time-modification></note>"
            for _ in range(p)
        )
        notes += f"<note><rest/><duration>{3 * div}</duration><voice>1</voice></note>"
        attrs = f"<attributes><divisions>{div}</divisions></attributes>" if i == 0 else ""
        measures.append(f'<measure number="{i + 1}">{attrs}{notes}</measure>')
    xml = X.score(*measures)
    assert div > 2**63
    s = _load(tmp_path, xml)
    assert len(_pitches(s)) == sum(primes)
    onsets = s.parts[0].onset
    assert onsets[primes[0]] == pytest.approx(4.0, abs=1e-6)  # the second bar starts on its beat


def test_drum_chords(tmp_path: Path):
    """music21's demos/drum_sample: an <unpitched> note followed by a <chord/> note, then a pitched one."""
    drum = (
        "<note><unpitched><display-step>C</display-step><display-octave>5</display-octave></unpitched>"
        "<duration>4</duration><voice>1</voice><type>quarter</type></note>"
    )
    chord = drum.replace("<unpitched>", "<chord/><unpitched>").replace(">C<", ">F<")
    s = _load(tmp_path, X.score(X.measure(1, drum, chord, X.note("C", 4), X.rest(2), first=True)))
    assert _pitches(s) == [60]  # the drum notes are not the model's to play


def test_what_cannot_be_read_names_its_measure_and_keeps_the_cause(tmp_path: Path):
    stepless = X.note("E", 4, 4).replace("<step>E</step>", "")
    xml = X.score(X.measure(1, X.note("C", 4, 4), first=True), X.measure(2, stepless))
    with pytest.raises(MusicXmlError) as e:
        _load(tmp_path, xml)
    line = xml.splitlines().index(next(x for x in xml.splitlines() if 'measure number="2"' in x)) + 1
    assert str(e.value).endswith(
        f"cannot read this score (a note without a readable pitch (step None, octave 4) "
        f"in measure 2 (line {line}))"
    )
    assert e.value.__cause__ is not None  # what AUTODYN_DEBUG=1 shows


def test_an_mxl_whose_score_name_is_utf8_without_the_flag(tmp_path: Path):
    """Some programs store a non-ASCII name in UTF-8 without the zip's UTF-8 flag."""
    data = bytearray(X.mxl(X.scale(), name="Schön.musicxml"))
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # clear bit 11 in every header
        i = data.find(sig)
        while i >= 0:
            flags = int.from_bytes(data[i + at : i + at + 2], "little") & ~0x800
            data[i + at : i + at + 2] = flags.to_bytes(2, "little")
            i = data.find(sig, i + 4)
    s = _load(tmp_path, bytes(data), "s.mxl")
    assert _pitches(s) == [60, 62, 64, 65]
    assert R._zip_name(["Sch\u251c\u2562n.musicxml"], "Schön.musicxml") == "Sch\u251c\u2562n.musicxml"

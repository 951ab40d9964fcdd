"""Velocities written back into MusicXML: the text editor, the note mapping, and the files it writes."""

from __future__ import annotations

import codecs
import importlib.util
import io
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xml_scores as X

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.musicxml import MusicXmlError, read_musicxml
from autodynamics_cli.musicxml.read import xml_bytes
from autodynamics_cli.musicxml.writeback import (
    WritebackError,
    decode_xml,
    element_of,
    element_velocities,
    encode_xml,
    format_dynamics,
    note_tags,
    read_for_writeback,
    set_dynamics,
    velocity_to_dynamics,
    write_score_with_velocities,
)

INSERTED = re.compile(r'(?<=<note)([^<]*?) dynamics="\d+\.\d\d"')  # only in <note> start tags
SCORES = {
    "scale": X.scale,
    "repeated": X.repeated,
    "marked": X.marked,
    "two_staves": X.two_staves,
    "tied": X.tied,
    "chords": X.chords,
    "decorated": X.decorated,
}
needs_reader = pytest.mark.skipif(
    importlib.util.find_spec("lxml") is None or importlib.util.find_spec("lark") is None,
    reason="needs the [musicxml] extra (lxml, lark)",
)


def _stripped(el: ET.Element) -> ET.Element:
    if el.tag == "note":
        el.attrib.pop("dynamics", None)
    for child in el:
        _stripped(child)
    return el


def assert_same_tree(a: ET.Element, b: ET.Element) -> None:
    assert (a.tag, a.attrib, a.text, a.tail) == (b.tag, b.attrib, b.text, b.tail)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert_same_tree(x, y)


def restored(text: str) -> str:
    """A written score's text with the inserted attributes taken out and ``decorated``'s own value back."""
    return INSERTED.sub(r"\1", re.sub(r"dynamics='[\d.]+'", "dynamics='50'", text))


def humanized(data: bytes, velocity=lambda i: 30 + 7 * i % 90) -> tuple[bytes, dict[int, int]]:
    """The score written back with a velocity per played note, and the velocity per element."""
    wb = read_for_writeback("x.musicxml", data)
    per_element = element_velocities(wb.elements, [velocity(i) for i in range(len(wb.elements))])
    return write_score_with_velocities(data, per_element), per_element


# --- the text editor ---------------------------------------------------------------------------


def test_note_tags_step_over_comments_cdata_pis_and_the_doctype():
    text = X.decorated()
    tags = note_tags(text)
    assert len(tags) == 5  # C4, D4, E4, the rest, C0: none of those in comments, CDATA, PI, DOCTYPE
    assert [t.kind for t in tags] == ["pitch", "pitch", "pitch", "rest", "pitch"]
    for t in tags:
        assert text[t.start : t.start + 5] == "<note" and text[t.end - 1] == ">"
        assert text[t.close - 7 : t.close] == "</note>"
    assert text[tags[0].start : tags[0].end] == "<note  default-x='12' editorial=\"a>b\" >"
    assert text[tags[0].insert_at :].startswith(" >")  # after the last attribute, before the blank
    assert text[slice(*tags[1].id_span)] == "my-own-id"
    assert text[slice(*tags[2].dynamics_span)] == "50"


def test_note_tags_read_the_note_children():
    text = X.two_staves() + X.tied() + X.chords()  # three documents: only the tags are read
    tags = note_tags(text)
    grace = [t for t in tags if t.grace]
    assert len(grace) == 1 and grace[0].pitched
    assert [(t.tie_start, t.tie_stop) for t in tags if t.tie_start or t.tie_stop] == [
        (True, False),
        (False, True),
        (True, False),
        (True, False),
        (False, True),
        (False, True),
    ]
    assert sum(t.chord for t in tags) == 4
    assert sum(t.rest for t in tags) == 2


def test_note_tags_kinds_and_names_that_only_begin_with_note():
    text = (
        "<m><note><cue/><unpitched><display-step>C</display-step></unpitched><notehead>x</notehead></note>"
        "<notations/><note/><note><pitch/><notations><tied type='stop'/></notations></note>"
        "<note a='\"' b=\"'>\"><rest></rest></note></m>"
    )
    tags = note_tags(text)
    assert [(t.kind, t.cue) for t in tags] == [
        ("unpitched", True),
        ("rest", False),
        ("pitch", False),
        ("rest", False),
    ]
    assert tags[1].end == tags[1].close  # <note/>
    assert not tags[2].tie_stop  # <tied> is notation; the sounding tie is <tie>


@pytest.mark.parametrize(
    "bad",
    ["<a><note>", "<a><!-- open", "<a><![CDATA[ open", "<!DOCTYPE a [ <!ENTITY x 'y'> <a/>", "<a><note <b>"],
)
def test_note_tags_refuse_markup_they_cannot_read(bad):
    with pytest.raises(ValueError):
        note_tags(bad)


def test_set_dynamics_inserts_or_replaces_and_changes_nothing_else():
    text = X.decorated()
    out = set_dynamics(text, {0: 100, 2: 55.556, 4: 7})
    assert INSERTED.sub(r"\1", out) == text.replace("dynamics='50'", "dynamics='55.56'")
    tags = note_tags(out)
    assert out[slice(*tags[2].dynamics_span)] == "55.56"  # replaced inside its own quotes
    assert out[tags[0].start : tags[0].end] == '<note  default-x=\'12\' editorial="a>b" dynamics="100.00" >'
    assert tags[1].dynamics_span is None and tags[3].dynamics_span is None
    assert set_dynamics(text, {}) == text


@pytest.mark.parametrize("values", [{0: -1.0}, {0: float("nan")}, {0: float("inf")}, {5: 50.0}, {-1: 50.0}])
def test_set_dynamics_refuses_bad_values_and_indices(values):
    with pytest.raises(ValueError):
        set_dynamics(X.decorated(), values)


def test_number_format_is_museScores():
    assert velocity_to_dynamics(90) == 100.0
    assert format_dynamics(velocity_to_dynamics(64)) == "71.11"  # MuseScore: velo * 100.0 / 90.0, 'f', 2
    for v in range(1, 128):  # read back as MuseScore does (x 0.9, rounded): the same velocity
        assert round(float(format_dynamics(velocity_to_dynamics(v))) * 0.9) == v


@needs_reader
def test_element_ids_number_every_note_element_and_replace_their_own_ids():
    from autodynamics_cli.musicxml.read import load_score

    text = X.decorated()
    ids = [
        i for part in load_score("x.musicxml", text.encode(), element_ids=True).parts for i in part.note_id
    ]
    pitched = [t.index for t in note_tags(text) if t.pitched]
    assert sorted(element_of(i) for i in ids) == pitched  # the write-back's tags count the same elements
    assert not any("my-own-id" in i for i in ids)
    assert [element_of(x) for x in ("autodyn-3", "autodyn-12-2", "n12", "autodyn-x")] == [3, 12, None, None]


@pytest.mark.parametrize(
    "encoding, prefix",
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-16-le", b""),  # no byte order mark: told by "<?" in two bytes each
        ("utf-32-le", codecs.BOM_UTF32_LE),
        ("iso-8859-1", b""),
    ],
)
def test_decode_encode_round_trip(encoding, prefix):
    text = X.score(X.measure(1, X.note("C", 4, 4), first=True), part_name="Klavier für Anna")
    text = text.replace('encoding="UTF-8"', f'encoding="{encoding}"')
    data = prefix + text.encode(encoding)
    decoded, codec = decode_xml(data)
    assert decoded == text and codec.bom == prefix
    assert encode_xml(decoded, codec) == data


def test_decode_refuses_bytes_not_in_their_encoding():
    with pytest.raises(ValueError):
        decode_xml(b'<?xml version="1.0" encoding="no-such-codec"?><a/>')
    with pytest.raises(ValueError):
        decode_xml(b'<?xml version="1.0" encoding="UTF-16"?><a/>')  # no byte order mark


def test_element_velocities_means_ties_and_rounding():
    elements = [(0,), (1, 2), (0,), (3,), (4, 3), (5,)]
    got = element_velocities(elements, [60, 80, 71, 50, 20, 300])
    assert got[0] == 66  # two passes: (60 + 71) / 2 = 65.5, rounded half up
    assert got[1] == got[2] == 80  # tied on: the first note's velocity
    assert got[3] == 50  # played on its own: its own velocity, not the note it is also tied to
    assert got[4] == 20 and got[5] == 127  # clamped to MIDI's range
    with pytest.raises(ValueError):
        element_velocities(elements, [60])


# --- the mapping: the read with element ids is the read ---------------------------------------------------


@needs_reader
@pytest.mark.parametrize("name", sorted(SCORES))
@pytest.mark.parametrize("unfold", [True, False])
def test_tagged_read_plays_the_same_midi_and_markings(name, unfold):
    data = SCORES[name]().encode()
    plain = read_musicxml("x.musicxml", data, unfold=unfold)
    wb = read_for_writeback("x.musicxml", data, unfold=unfold)
    assert wb.score.midi == plain.midi
    np.testing.assert_array_equal(wb.score.markings, plain.markings)
    np.testing.assert_array_equal(wb.score.onset_quarter, plain.onset_quarter)
    assert len(wb.elements) == len(plain.note_id) and all(wb.elements)
    tags = note_tags(data.decode())
    for elems in wb.elements:
        assert all(tags[k].kind == "pitch" for k in elems)


@needs_reader
def test_repeats_ties_and_grace_notes_map_to_their_elements():
    wb = read_for_writeback("x.musicxml", X.repeated().encode())
    assert wb.elements == [(0,), (1,), (0,), (2,)]  # bar 1 twice: the same element
    wb = read_for_writeback("x.musicxml", X.tied().encode())
    assert wb.elements == [(1, 2), (3,)]  # element 0 is the rest; 2 is tied on to 1
    wb = read_for_writeback("x.musicxml", X.two_staves().encode())
    assert sorted(wb.elements) == [(0,), (1,), (2,), (3,)]  # the grace note (1) too


@needs_reader
def test_file_ids_that_repeat_do_not_matter():
    xml = X.scale().replace("<note>", '<note id="same">')
    plain = read_musicxml("x.musicxml", xml.encode())
    wb = read_for_writeback("x.musicxml", xml.encode())
    assert wb.score.midi == plain.midi and wb.elements == [(0,), (1,), (2,), (3,)]
    out, _ = humanized(xml.encode())
    assert out.decode().count('id="same"') == 4  # the file's own ids are kept in what is written


# --- the files written ---------------------------------------------------------------------------


@needs_reader
@pytest.mark.parametrize("name", sorted(SCORES))
def test_written_score_differs_only_by_the_dynamics(name):
    data = SCORES[name]().encode()
    out, per_element = humanized(data)
    assert_same_tree(_stripped(ET.fromstring(data)), _stripped(ET.fromstring(out)))
    assert restored(out.decode()).encode() == data
    tags = note_tags(out.decode())
    played = {k for k in per_element}
    for t in tags:
        value = out.decode()[slice(*t.dynamics_span)] if t.dynamics_span else None
        if t.index in played:
            assert value == format_dynamics(velocity_to_dynamics(per_element[t.index]))
        elif name != "decorated":
            assert value is None
    assert {t.index for t in tags if t.rest and t.dynamics_span} == set()
    assert read_musicxml("x.musicxml", out).midi == read_musicxml("x.musicxml", data).midi


@needs_reader
def test_every_pitched_note_gets_dynamics_and_rests_none():
    for name in ("tied", "chords", "two_staves", "repeated", "marked"):
        out, _ = humanized(SCORES[name]().encode())
        for t in note_tags(out.decode()):
            assert (t.dynamics_span is not None) == t.pitched, (name, t)


@needs_reader
def test_a_note_below_the_piano_keeps_what_it_had():
    out, per_element = humanized(X.decorated().encode())
    tags = note_tags(out.decode())
    assert 4 not in per_element and tags[4].dynamics_span is None  # C0: not played, not written


@needs_reader
def test_repeated_bar_gets_the_mean_and_tied_notes_the_first_velocity():
    out, _ = humanized(X.repeated().encode(), velocity=lambda i: [40, 70, 61, 90][i])
    assert re.findall(r'dynamics="([\d.]+)"', out.decode()) == [
        format_dynamics(velocity_to_dynamics(51)),  # bar 1: (40 + 61) / 2 = 50.5 -> 51
        format_dynamics(velocity_to_dynamics(70)),
        format_dynamics(velocity_to_dynamics(90)),
    ]
    out, _ = humanized(X.chords().encode(), velocity=lambda i: 20 + 10 * i)
    values = re.findall(r'dynamics="([\d.]+)"', out.decode())
    assert len(values) == 8 and values[3:5] == values[5:7]  # E4 and G4 tied over the barline
    assert values[3] != values[4]  # each its own: the dyad's notes are two played notes


@needs_reader
@pytest.mark.parametrize(
    "bom, codec", [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")]
)
def test_utf16_with_bom_and_doctype_survive(bom, codec):
    text = X.decorated().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    data = bom + text.encode(codec)
    out, per_element = humanized(data)
    assert out.startswith(bom)
    decoded = out[len(bom) :].decode(codec)
    assert (
        decoded.startswith('<?xml version="1.0" encoding="UTF-16"') and "<!DOCTYPE score-partwise" in decoded
    )
    assert bom + restored(decoded).encode(codec) == data
    assert read_musicxml("x.musicxml", out).midi == read_musicxml("x.musicxml", data).midi
    assert_same_tree(_stripped(ET.fromstring(data)), _stripped(ET.fromstring(out)))


@needs_reader
def test_latin1_score_stays_latin1():
    text = X.scale().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Piano", "Klavier für Anna")
    data = text.encode("latin-1")
    out, _ = humanized(data)
    assert INSERTED.sub(r"\1", out.decode("latin-1")).encode("latin-1") == data
    assert "für".encode("latin-1") in out


@needs_reader
def test_mxl_round_trip_keeps_the_other_entries():
    xml = X.repeated()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.recordare.musicxml", compress_type=zipfile.ZIP_STORED)
        z.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
            '<rootfile full-path="score/piano.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>'
            "</rootfiles></container>",
            compress_type=zipfile.ZIP_DEFLATED,
        )
        z.writestr("score/piano.musicxml", xml, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("score/other.musicxml", xml, compress_type=zipfile.ZIP_DEFLATED)  # not the rootfile
        z.writestr("cover.png", b"\x89PNG not really", compress_type=zipfile.ZIP_STORED)
        z.comment = b"archive comment"
    data = buf.getvalue()
    out, _ = humanized(data)
    with zipfile.ZipFile(io.BytesIO(data)) as a, zipfile.ZipFile(io.BytesIO(out)) as b:
        old, new = a.infolist(), b.infolist()
        assert [i.filename for i in new] == [i.filename for i in old]
        assert [(i.compress_type, i.date_time, i.external_attr) for i in new] == [
            (i.compress_type, i.date_time, i.external_attr) for i in old
        ]
        assert b.comment == b"archive comment"
        for info in old:
            if info.filename != "score/piano.musicxml":
                assert b.read(info.filename) == a.read(info.filename)
        written = b.read("score/piano.musicxml").decode()
    assert INSERTED.sub(r"\1", written) == xml and written.count("dynamics=") == 3
    assert xml_bytes("x.mxl", out) == written.encode()


@needs_reader
def test_comments_and_cdata_holding_note_are_not_touched():
    data = X.decorated().encode()
    out, _ = humanized(data)
    text = out.decode()
    for piece in (
        "<!-- <note><pitch><step>B</step><octave>4</octave></pitch></note> -->",
        "<![CDATA[<note><pitch>not a note</pitch></note>]]>",
        "<?autodyn-test <note>a processing instruction</note> ?>",
        '<!-- a "]>" and a <note> in the internal subset -->',
    ):
        assert piece in text


def test_errors_are_one_line_autodyn_errors():
    assert issubclass(WritebackError, MusicXmlError) and issubclass(WritebackError, AutodynError)
    with pytest.raises(WritebackError, match="cannot write the velocities"):
        write_score_with_velocities(b'<?xml version="1.0"?><score-partwise><note>', {0: 64})
    with pytest.raises(WritebackError):
        write_score_with_velocities(X.scale().encode(), {9: 64})


# --- opt-in: a folder of real-world files (the LilyPond MusicXML test suite, say) -----------------

SUITE = os.environ.get("AUTODYN_WRITEBACK_SUITE")


@needs_reader
@pytest.mark.skipif(not SUITE, reason="set AUTODYN_WRITEBACK_SUITE to a folder of MusicXML files")
def test_suite_folder():
    files = sorted(p for p in Path(str(SUITE)).rglob("*") if p.suffix in (".xml", ".musicxml", ".mxl"))
    assert files
    for path in files:
        data = path.read_bytes()
        try:
            plain = read_musicxml(path, data)
        except MusicXmlError:
            continue  # partitura cannot read it: nor can write-back
        wb = read_for_writeback(path, data)
        assert wb.score.midi == plain.midi, path
        np.testing.assert_array_equal(wb.score.markings, plain.markings)
        assert all(wb.elements), path
        out = write_score_with_velocities(data, element_velocities(wb.elements, [64] * len(wb.elements)))
        assert_same_tree(
            _stripped(ET.fromstring(xml_bytes(path, data))), _stripped(ET.fromstring(xml_bytes(path, out)))
        )

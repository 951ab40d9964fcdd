"""Velocities written back into a MusicXML score: ``dynamics="..."`` on each played ``<note>``.

MusicXML's ``<note dynamics="...">`` is the note's velocity as a percentage of
forte (velocity 90), which MuseScore imports as the note's own velocity. The
score is edited as text, not through a DOM round trip: every other byte (the
declaration, DOCTYPE, comments, whitespace, attribute order and quoting, the
encoding and its byte order mark) stays as it was, and in an ``.mxl`` archive
only the score entry is replaced.

Which ``<note>`` element a played note came from: ``load_score(...,
element_ids=True)`` reads the score with each note's id ``autodyn-K`` (K, the
element's index in document order, as ``note_tags`` counts them), so the read
score's note ids (``autodyn-K-2``: the second pass through a repeat) name the
elements. The choices where one element is not one played note:

- a note played in several passes of a repeat gets the mean of their
  velocities, rounded (an element has one attribute);
- the elements tied on to a note (a tied note is played once) get its velocity;
- grace notes are played, so they get theirs like any other note;
- rests get nothing, and neither do notes autodyn does not play (out of the
  piano's range, or dropped by the reader): their elements stay as they were.

The value is written as MuseScore writes it: ``velocity * 100 / 90`` with two
decimals, from a whole velocity, so MuseScore reads back that velocity.
"""

from __future__ import annotations

import codecs
import io
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from autodynamics_cli.midi.read import read_input
from autodynamics_cli.musicxml.read import (
    ELEMENT_ID_PREFIX,
    MusicXmlError,
    _rootfile,
    check_root,
    load_score,
    xml_bytes,
)
from autodynamics_cli.musicxml.score import MusicXmlScore, played_score

FORTE_VELOCITY = 90  # MusicXML: dynamics="100" is the velocity of forte, 90

_NAME = r"[^\s<>/=\"'!?][^\s<>/=\"']*"
_ATTR = r"\s+[^\s<>/=\"']+\s*=\s*(?:\"[^\"]*\"|'[^']*')"
_TOKEN = re.compile(
    rf"""<!--.*?-->
    |<!\[CDATA\[.*?\]\]>
    |<\?.*?\?>
    |(?P<decl><!)
    |</(?P<end>{_NAME})\s*>
    |<(?P<start>{_NAME})(?P<attrs>(?:{_ATTR})*)\s*(?P<empty>/?)>""",
    re.S | re.X,
)
# what note_tags looks at: <note> start and end tags, and the markup that can hide one
_SCAN = re.compile(r"<note(?=[\s/>])|</note\s*>|<!--|<!\[CDATA\[|<\?|<!")
_ATTRIBUTE = re.compile(r"\s+([^\s<>/=\"']+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_DECLARED = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][\w.:-]*)["']""")
_TAGGED_ID = re.compile(rf"^{re.escape(ELEMENT_ID_PREFIX)}(\d+)(?:-\d+)?$")
_BOMS = (  # longest first: the UTF-32 LE mark begins with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class WritebackError(MusicXmlError):
    """A score whose velocities cannot be written back (``path: reason`` on one line)."""


@dataclass(frozen=True)
class NoteTag:
    """One ``<note>`` element of the text: where its start tag is and what it holds.

    What its children say (kind, grace, tie...) is read from the text when first asked:
    writing the dynamics needs only the start tag.
    """

    index: int  # in document order among all <note> elements, rests included
    start: int  # offset of its start tag's "<"
    end: int  # offset just after its start tag's ">"
    insert_at: int  # where a new attribute goes: after the last attribute
    close: int  # offset just after its "</note>" (``end`` for an empty <note/>)
    id_span: tuple[int, int] | None  # the id attribute's value, inside its quotes
    dynamics_span: tuple[int, int] | None  # the dynamics attribute's value, inside its quotes
    text: str = field(repr=False, compare=False, default="")

    @cached_property
    def _children(self) -> tuple[str, frozenset[str]]:
        return _children(self.text, self.end, self.close)

    @property
    def kind(self) -> str:
        """ "pitch", "unpitched" or "rest" (no <pitch> or <unpitched>: a rest, as read.py reads it)."""
        return self._children[0]

    @property
    def grace(self) -> bool:
        return "grace" in self._children[1]

    @property
    def cue(self) -> bool:
        return "cue" in self._children[1]

    @property
    def chord(self) -> bool:
        return "chord" in self._children[1]

    @property
    def tie_start(self) -> bool:
        """A ``<tie type="start"/>`` child (the sounding tie, not the ``<tied>`` notation)."""
        return "tie_start" in self._children[1]

    @property
    def tie_stop(self) -> bool:
        return "tie_stop" in self._children[1]

    @property
    def pitched(self) -> bool:
        return self.kind == "pitch"

    @property
    def rest(self) -> bool:
        return self.kind == "rest"


@dataclass
class WritebackScore:
    """A score read for write-back: as ``read_musicxml`` reads it, and where each played note is written."""

    score: MusicXmlScore  # midi and markings as read_musicxml's; note_id are the tagged ids
    elements: list[tuple[int, ...]]  # per played note: its <note> element, then those tied on to it


def _skip_declaration(text: str, i: int) -> int:
    """The end of a ``<!DOCTYPE ...>`` (or other ``<!...>``) starting at ``i``, past any internal subset."""
    j, n, subset = i + 2, len(text), False
    while j < n:
        c = text[j]
        skip_to = None
        if c in "\"'":
            skip_to = (c, 1)
        elif subset and text.startswith("<!--", j):
            skip_to = ("-->", 4)
        elif subset and text.startswith("<?", j):
            skip_to = ("?>", 2)
        if skip_to is not None:
            k = text.find(skip_to[0], j + skip_to[1])
            if k < 0:
                break
            j = k + len(skip_to[0])
            continue
        if c == "[":
            subset = True
        elif c == "]":
            subset = False
        elif c == ">" and not subset:
            return j + 1
        j += 1
    raise ValueError(f"unterminated markup declaration at offset {i}")


def _attribute_spans(attrs: str, offset: int) -> dict[str, tuple[int, int]]:
    """Attribute name -> span of its value (inside the quotes) in the whole text."""
    spans = {}
    for m in _ATTRIBUTE.finditer(attrs):
        group = 2 if m.group(2) is not None else 3
        spans[m.group(1)] = (offset + m.start(group), offset + m.end(group))
    return spans


def _children(text: str, start: int, close: int) -> tuple[str, frozenset[str]]:
    """The kind of a note and the flags its child elements set, from the text inside it."""
    kind, flags, depth, pos = "rest", set(), 0, start
    while (pos := text.find("<", pos, close)) >= 0:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unreadable markup at offset {pos}")
        if m.group("decl") is not None:
            pos = _skip_declaration(text, pos)
            continue
        pos = m.end()
        if m.group("end") is not None:
            depth -= 1
            continue
        name = m.group("start")
        if name is None:
            continue
        if depth == 0:
            if name in ("pitch", "unpitched"):
                kind = name
            elif name in ("grace", "cue", "chord"):
                flags.add(name)
            elif name == "tie":
                value = next((v or w for a, v, w in _ATTRIBUTE.findall(m.group("attrs")) if a == "type"), "")
                flags.add(f"tie_{value}")
        if not m.group("empty"):
            depth += 1
    return kind, frozenset(flags)


def note_tags(text: str) -> list[NoteTag]:
    """Every ``<note>`` element of an XML document's text, in document order.

    Comments, CDATA sections, processing instructions and the DOCTYPE are
    skipped; attribute values may hold ``>``. Only ``<note>`` start and end tags
    and what hides markup are looked at (a regular expression finds them), so a
    long score is scanned in a few milliseconds. Raises ``ValueError`` on markup it
    cannot read there.
    """
    tags: list[NoteTag] = []
    pos = 0
    open_note: tuple[int, int, int, dict[str, tuple[int, int]]] | None = None
    while (m := _SCAN.search(text, pos)) is not None:
        token, at = m.group(), m.start()
        if token.startswith("</"):
            if open_note is not None:
                start, end, insert_at, spans = open_note
                tags.append(_tag(text, len(tags), start, end, insert_at, m.end(), spans))
                open_note = None
            pos = m.end()
        elif token == "<!--" or token == "<![CDATA[" or token == "<?":
            stop = {"<!--": "-->", "<![CDATA[": "]]>", "<?": "?>"}[token]
            k = text.find(stop, m.end())
            if k < 0:
                raise ValueError(f"unterminated markup at offset {at}")
            pos = k + len(stop)
        elif token == "<!":
            pos = _skip_declaration(text, at)
        else:  # <note
            t = _TOKEN.match(text, at)
            if t is None or t.group("start") != "note":
                raise ValueError(f"unreadable markup at offset {at}")
            if open_note is not None:
                raise ValueError(f"<note> at offset {open_note[0]} is not closed")
            spans = _attribute_spans(t.group("attrs"), t.start("attrs"))
            if t.group("empty"):
                tags.append(_tag(text, len(tags), at, t.end(), t.end("attrs"), t.end(), spans))
            else:
                open_note = (at, t.end(), t.end("attrs"), spans)
            pos = t.end()
    if open_note is not None:
        raise ValueError(f"<note> at offset {open_note[0]} is not closed")
    return tags


def _tag(
    text: str, index: int, start: int, end: int, insert_at: int, close: int, spans: dict[str, tuple[int, int]]
) -> NoteTag:
    return NoteTag(index, start, end, insert_at, close, spans.get("id"), spans.get("dynamics"), text)


def _edit(text: str, edits: Iterable[tuple[int, int, str]]) -> str:
    """``text`` with each (start, end, replacement) applied; the spans must not overlap."""
    out, pos = [], 0
    for start, end, new in sorted(edits):
        out += [text[pos:start], new]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def format_dynamics(value: float) -> str:
    """A dynamics percentage as written: two decimals (MusicXML's type is a non-negative decimal)."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a valid dynamics value: {value!r}")
    return f"{value:.2f}"


def set_dynamics(text: str, values: Mapping[int, float], tags: Sequence[NoteTag] | None = None) -> str:
    """``text`` with ``dynamics="NN.NN"`` on the ``<note>`` elements ``values`` names (index -> percentage).

    A note without the attribute gets it after its last attribute; an existing
    ``dynamics`` value is replaced (its quotes kept). Nothing else changes.
    ``tags``: ``note_tags(text)`` when already known.
    """
    tags = note_tags(text) if tags is None else tags
    edits = []
    for k, value in values.items():
        if not 0 <= k < len(tags):
            raise ValueError(f"no <note> element {k} (the score has {len(tags)})")
        tag, number = tags[k], format_dynamics(float(value))
        if tag.dynamics_span is not None:
            edits.append((*tag.dynamics_span, number))
        else:
            edits.append((tag.insert_at, tag.insert_at, f' dynamics="{number}"'))
    return _edit(text, edits)


@dataclass(frozen=True)
class XmlCodec:
    """How a document's text goes back to its bytes: Python codec, byte order mark, error handler."""

    name: str
    bom: bytes
    errors: str


def decode_xml(xml: bytes) -> tuple[str, XmlCodec]:
    """The document's text, and how to encode it back to the same bytes.

    The encoding comes from the byte order mark, else the XML declaration,
    else UTF-8. Raises ``ValueError`` when the bytes would not come back the same.
    """
    bom, name = next(((b, n) for b, n in _BOMS if xml.startswith(b)), (b"", ""))
    if not name and xml[:4] in (b"<\0?\0", b"\0<\0?"):  # UTF-16 without a byte order mark
        name = "utf-16-le" if xml[:1] == b"<" else "utf-16-be"
    elif not name:
        declared = _DECLARED.match(xml[:512])
        name = declared.group(1).decode("ascii") if declared else "utf-8"
        if name.lower().startswith(("utf-16", "utf-32", "utf16", "utf32")):
            raise ValueError(f"{name} declared, but the bytes are not")
    try:
        name = codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None
    errors = "surrogatepass" if name.startswith(("utf-16", "utf-32")) else "surrogateescape"
    codec = XmlCodec(name, bom, errors)
    body = xml[len(bom) :]
    try:
        text = body.decode(name, errors)
        same = text.encode(name, errors) == body
    except (UnicodeError, ValueError):
        same = False
    if not same:
        raise ValueError(f"the score's bytes do not decode as {name}")
    return text, codec


def encode_xml(text: str, codec: XmlCodec) -> bytes:
    """``text`` in the document's own encoding, with its byte order mark."""
    return codec.bom + text.encode(codec.name, codec.errors)


def _recode(xml: bytes, edit: Callable[[str, list[NoteTag]], str]) -> bytes:
    """The score's XML bytes with ``edit(text, note_tags(text))`` applied, in the document's encoding."""
    text, codec = decode_xml(xml)
    return encode_xml(edit(text, note_tags(text)), codec)


def velocity_to_dynamics(velocity: float) -> float:
    """MusicXML's dynamics percentage for a MIDI velocity (90 -> 100)."""
    return float(velocity) * 100.0 / FORTE_VELOCITY


def element_of(note_id: str) -> int | None:
    """The ``<note>`` element index in a tagged note id (``autodyn-12-2`` -> 12), None if not tagged."""
    m = _TAGGED_ID.match(str(note_id))
    return int(m.group(1)) if m else None


def read_for_writeback(path: str | Path, data: bytes | None = None, unfold: bool = True) -> WritebackScore:
    """Read a score as ``read_musicxml`` does (the same MIDI bytes and markings), knowing each
    played note's ``<note>`` element; raises ``MusicXmlError`` as the reader does."""
    if data is None:
        data = read_input(path)
    xml = xml_bytes(path, data)
    check_root(path, xml)
    try:  # refused before the model runs when its text would not encode back to the same bytes
        decode_xml(xml)
    except ValueError as e:
        raise WritebackError(path, f"cannot edit this score's XML ({e})") from None
    notes = load_score(path, xml, unfold=unfold, element_ids=True)
    score, order = played_score(notes)
    tied = [ids for part in notes.parts for ids in part.tied_ids]
    elements = []
    for note_id, i in zip(score.note_id, order.tolist(), strict=True):
        found = [element_of(x) for x in (note_id, *tied[i])]
        elements.append(tuple(dict.fromkeys(k for k in found if k is not None)))
    return WritebackScore(score, elements)


def element_velocities(elements: Sequence[tuple[int, ...]], velocities: Iterable[float]) -> dict[int, int]:
    """The velocity each ``<note>`` element gets from the played notes' velocities.

    An element played in several passes gets the mean of their velocities; one
    tied on to a played note gets that note's (the mean again when that note is
    played in several passes), unless it is also played on its own. Means are
    rounded half up to a whole velocity in 1..127.
    """
    own: dict[int, list[float]] = {}
    tied: dict[int, list[float]] = {}
    for elems, v in zip(elements, velocities, strict=True):
        for j, k in enumerate(elems):
            (own if j == 0 else tied).setdefault(k, []).append(float(v))
    out = {}
    for k in sorted(own.keys() | tied.keys()):
        mean = float(np.mean(own.get(k) or tied[k]))
        out[k] = int(min(max(math.floor(mean + 0.5), 1), 127))
    return out


def write_score_with_velocities(
    data: bytes, element_velocity: Mapping[int, float], path: str | Path = "score"
) -> bytes:
    """The score file's bytes (``.musicxml``/``.xml``, or a compressed ``.mxl``) with each named
    ``<note>`` element's velocity written as its ``dynamics`` attribute; nothing else changes.

    ``element_velocity``: element index (``read_for_writeback``'s ``elements``)
    -> MIDI velocity. An ``.mxl`` comes back with the same entries in the same
    order and compression, only the score entry rewritten. Pure: no file is
    written. Raises ``WritebackError`` (``path: reason``) when the score cannot be edited.
    """
    values = {int(k): velocity_to_dynamics(v) for k, v in element_velocity.items()}
    try:
        if data[:4] != b"PK\x03\x04":
            return _recode(data, lambda text, tags: set_dynamics(text, values, tags))
        return _rewrite_mxl(data, values)
    except (ValueError, zipfile.BadZipFile, KeyError, EOFError) as e:
        raise WritebackError(path, f"cannot write the velocities into this score ({e})") from None


def _rewrite_mxl(data: bytes, values: Mapping[int, float]) -> bytes:
    """An .mxl archive with its score entry's notes given ``values``; the other entries as they were."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        name = _rootfile(src)
        if name is None:
            raise ValueError("compressed MusicXML (.mxl) without a score inside")
        with zipfile.ZipFile(out, "w") as dst:
            dst.comment = src.comment
            for info in src.infolist():
                content = src.read(info)
                if info.filename == name:
                    content = _recode(content, lambda text, tags: set_dynamics(text, values, tags))
                dst.writestr(_copy_info(info), content, compress_type=info.compress_type)
    return out.getvalue()


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A fresh ZipInfo with an entry's name, time, attributes, comment and compression."""
    new = zipfile.ZipInfo(_stored_name(info), info.date_time)
    new.compress_type = info.compress_type
    new.comment = info.comment
    new.create_system = info.create_system
    new.external_attr = info.external_attr
    new.internal_attr = info.internal_attr
    new.extra = _without_zip64(info.extra)
    return new


def _stored_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as its bytes say: a UTF-8 name stored without the UTF-8 flag (which
    ``zipfile`` read as code page 437) keeps its bytes, now flagged, instead of being re-encoded."""
    if info.flag_bits & 0x800 or info.filename.isascii():
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return info.filename


def _without_zip64(extra: bytes) -> bytes:
    """The extra field without its zip64 record (the new archive writes its own when needed)."""
    out, i = b"", 0
    while i + 4 <= len(extra):
        kind, size = (
            int.from_bytes(extra[i : i + 2], "little"),
            int.from_bytes(extra[i + 2 : i + 4], "little"),
        )
        if kind != 0x0001:
            out += extra[i : i + 4 + size]
        i += 4 + size
    return out


CONTAINER_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<container>\n  <rootfiles>\n"
    '    <rootfile full-path="{name}" media-type="application/vnd.recordare.musicxml+xml"/>\n'
    "  </rootfiles>\n</container>\n"
)


def is_compressed(data: bytes) -> bool:
    """Whether a score's bytes are a compressed ``.mxl`` (a zip), not plain MusicXML."""
    return data[:4] == b"PK\x03\x04"


def as_container(data: bytes, compressed: bool, path: str | Path = "score") -> bytes:
    """A score's bytes as ``.mxl`` (``compressed``) or plain MusicXML, whichever it is now.

    ``.mxl`` to plain gives its rootfile's bytes as they are; plain to ``.mxl`` packs them
    as ``score.musicxml`` with the ``mimetype`` and ``META-INF/container.xml`` files MusicXML 3 names.
    """
    if is_compressed(data) == compressed:
        return data
    if not compressed:
        return xml_bytes(path, data)
    buf = io.BytesIO()
    entries = [
        ("mimetype", b"application/vnd.recordare.musicxml", zipfile.ZIP_STORED),
        (
            "META-INF/container.xml",
            CONTAINER_XML.format(name="score.musicxml").encode(),
            zipfile.ZIP_DEFLATED,
        ),
        ("score.musicxml", data, zipfile.ZIP_DEFLATED),
    ]
    with zipfile.ZipFile(buf, "w") as z:
        for name, body, method in entries:  # a fixed date: the same input gives the same bytes
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, body)
    return buf.getvalue()

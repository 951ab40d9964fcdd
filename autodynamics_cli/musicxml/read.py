"""Load a MusicXML score: parse it with lxml, play its repeats, keep its notes and markings.

``timeline.py`` reads each part as written and ``unfold.py`` / ``played.py`` play
it, following partitura's importer (the reader autodyn used before, and the one
its models learned from) without importing partitura, which took longer than
the rest of a humanize run. lxml and lark (the ``[musicxml]`` extra) are imported
only when a score is read. Anything wrong becomes a one-line ``MusicXmlError``.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from autodynamics_cli.errors import MidiReadError
from autodynamics_cli.midi.read import read_input
from autodynamics_cli.musicxml.names import SNIFF_BYTES, root_element
from autodynamics_cli.musicxml.parts import ScoreNotes

EXTRA_HINT = "reading MusicXML needs autodyn's [musicxml] extra (pip install 'autodynamics-cli[musicxml]')"
MAX_XML_BYTES = 256 * 2**20  # the score inside an .mxl, uncompressed
ELEMENT_ID_PREFIX = "autodyn-"  # load_score(element_ids=True): "autodyn-K", K the <note> element's index


class MusicXmlError(MidiReadError):
    """A MusicXML input autodyn cannot read: ``path: reason`` on one line."""


def _describe(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def xml_bytes(path: str | Path, data: bytes) -> bytes:
    """The score's XML: ``data`` itself, or the root file named inside a compressed ``.mxl``."""
    if data[:4] != b"PK\x03\x04":
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            name = _rootfile(z)
            if name is None:
                raise MusicXmlError(path, "compressed MusicXML (.mxl) without a score inside")
            if z.getinfo(name).file_size > MAX_XML_BYTES:
                raise MusicXmlError(path, f"the score inside is over {MAX_XML_BYTES // 2**20} MiB")
            return z.read(name)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError) as e:
        raise MusicXmlError(path, f"corrupt compressed MusicXML (.mxl) file ({_describe(e)})") from e


def _rootfile(z: zipfile.ZipFile) -> str | None:
    """The score's name in an .mxl: from META-INF/container.xml, else the only XML file there."""
    from lxml import etree  # a partitura dependency

    names = z.namelist()
    if "META-INF/container.xml" in names:
        try:
            root = etree.fromstring(z.read("META-INF/container.xml"))
            for el in root.iter():
                if isinstance(el.tag, str) and el.tag.split("}")[-1] == "rootfile" and el.get("full-path"):
                    found = _zip_name(names, el.get("full-path"))
                    if found is not None:
                        return found
        except etree.XMLSyntaxError:
            pass
    xml = [n for n in names if n.lower().endswith((".xml", ".musicxml")) and not n.startswith("META-INF/")]
    return xml[0] if len(xml) == 1 else None


def _zip_name(names: list[str], wanted: str) -> str | None:
    """``wanted``'s entry in the zip: also when its name was stored in UTF-8 without the zip's
    UTF-8 flag (as some programs write), which ``zipfile`` then decodes as code page 437."""
    if wanted in names:
        return wanted
    for n in names:
        try:
            if n.encode("cp437").decode("utf-8") == wanted:
                return n
        except UnicodeError:
            continue
    return None


def check_root(path: str | Path, xml: bytes) -> None:
    """Refuse what is not a score-partwise MusicXML document before partitura parses it all."""
    if not xml.strip():
        raise MusicXmlError(path, "file is empty")
    root = root_element(xml[:SNIFF_BYTES])
    if root == "score-timewise":
        raise MusicXmlError(
            path, "timewise MusicXML (score-timewise) is not supported; export the score as partwise MusicXML"
        )
    if root != "score-partwise":
        found = f"its root element is <{root}>" if root else "no XML element found"
        raise MusicXmlError(path, f"not a MusicXML score ({found}, not <score-partwise>)")


def extra_installed() -> bool:
    """Whether the [musicxml] extra (lxml, and lark for words.py) can be imported; lark is
    only looked up here, and imported when words need it."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("lxml", "lark"))
    except ValueError:  # a module set to None in sys.modules
        return False


def _lxml(path: str | Path) -> Any:
    """lxml's etree; a ``MusicXmlError`` naming the extra when it or lark (words.py) is missing."""
    try:
        from lxml import etree
    except ImportError:
        raise MusicXmlError(path, EXTRA_HINT) from None
    if not extra_installed():
        raise MusicXmlError(path, EXTRA_HINT)
    return etree


def load_score(
    path: str | Path, data: bytes | None = None, unfold: bool = True, element_ids: bool = False
) -> ScoreNotes:
    """Read a ``.musicxml``, ``.xml`` or ``.mxl`` score as it is played.

    ``unfold``: repeats, endings and jumps (D.C., D.S., coda) are played as a
    notation program plays them (no repeats after a jump); False plays each bar
    once in written order. Repeats that cannot be followed are played in written
    order, named in ``ScoreNotes.warnings``. ``element_ids``: each note's id is
    ``autodyn-K``, K its ``<note>`` element's index in document order (the
    write-back's key), instead of the file's own. Raises ``MusicXmlError`` (one line,
    naming the measure at fault where it can; the cause chained for
    ``AUTODYN_DEBUG=1``), also when the ``[musicxml]`` extra is missing.
    """
    etree = _lxml(path)
    from autodynamics_cli.musicxml.instruments import part_instruments
    from autodynamics_cli.musicxml.played import as_written, name_notes, renumber_notes, score_notes, unfolded
    from autodynamics_cli.musicxml.timeline import TimelineError, read_parts
    from autodynamics_cli.musicxml.unfold import UnfoldError

    if data is None:
        data = read_input(path)
    xml = xml_bytes(path, data)
    check_root(path, xml)
    parser = etree.XMLParser(
        resolve_entities=False, huge_tree=True, remove_comments=True, remove_blank_text=True
    )
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as e:
        raise MusicXmlError(path, f"not well-formed XML ({_describe(e)})") from e
    _strip_namespaces(root)
    if element_ids:
        for k, el in enumerate(root.iter("note")):
            el.set("id", f"{ELEMENT_ID_PREFIX}{k}")
    try:
        parts = read_parts(root)
    except (TimelineError, RecursionError, ValueError, TypeError, AttributeError) as e:
        raise MusicXmlError(path, f"cannot read this score ({_describe(e)})") from e
    for i, part in enumerate(parts):
        name_notes(part, i)
    ids = [n.id for p in parts for n in p.notes if n.pitched and n.tie_prev is None]
    if len(set(ids)) != len(ids):  # the file's own ids repeat: number them afresh
        renumber_notes(parts)
    notes: list[str] = []
    if any(n.microtone for p in parts for n in p.notes):
        notes.append("microtones played on the nearest key")
    played = []
    for part in parts:
        try:
            played.append(unfolded(part) if unfold else as_written(part))
        except UnfoldError as e:
            why = f"repeats not unfolded ({e}): every bar played once, in written order"
            if why not in notes:
                notes.append(why)
            played.append(as_written(part))
    instruments = {k: (v.program, v.channel) for k, v in part_instruments(xml).items()}
    try:
        return replace(score_notes(played, instruments), warnings=tuple(notes))
    except (ValueError, TypeError, IndexError) as e:
        raise MusicXmlError(path, f"cannot read this score ({_describe(e)})") from e


def _strip_namespaces(root: Any) -> None:
    """A score with a default namespace reads as one without (partitura's importer needs none)."""
    if isinstance(root.tag, str) and root.tag.startswith("{"):
        for el in root.iter():
            if isinstance(el.tag, str) and el.tag.startswith("{"):
                el.tag = el.tag.split("}", 1)[1]

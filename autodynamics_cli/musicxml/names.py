"""Which files are MusicXML scores: by name, and by a cheap look inside a plain ``.xml`` file.

A folder of scores often holds other ``.xml`` files too (metadata, settings), so
a folder walk only takes an ``.xml`` file whose root element is a MusicXML score.
"""

from __future__ import annotations

import re
from pathlib import Path

MUSICXML_SUFFIXES = (".musicxml", ".mxl", ".xml")
SURE_SUFFIXES = (".musicxml", ".mxl")  # taken from a folder without a look inside
SNIFF_BYTES = 4096  # the root element comes after the XML declaration, doctype and comments

# The first element that is not a declaration (<?...?>), a doctype or other <!...>, or a comment.
_ROOT = re.compile(rb"<(?![?!])([A-Za-z_][\w.:-]*)")
_COMMENT = re.compile(rb"<!--.*?-->", re.S)


def is_musicxml_name(path: str | Path) -> bool:
    """True for a file name autodyn reads as a MusicXML score (.musicxml, .mxl, .xml)."""
    p = Path(path)
    return p.suffix.lower() in MUSICXML_SUFFIXES and not p.name.startswith(".")


def root_element(head: bytes) -> str | None:
    """The root element's name in the first bytes of an XML file (None when not found)."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: decode what is there
        head = head.decode("utf-16", errors="ignore").encode()
    m = _ROOT.search(_COMMENT.sub(b"", head))
    return m.group(1).decode("ascii", errors="replace") if m else None


def looks_like_musicxml(path: str | Path) -> bool:
    """Whether a file found in a folder should be read as a score.

    ``.musicxml`` and ``.mxl`` always are; an ``.xml`` file only when its root
    element (within the first ``SNIFF_BYTES``) is ``score-partwise`` or
    ``score-timewise``. An unreadable file is taken, so its error is reported.
    """
    p = Path(path)
    if not is_musicxml_name(p):
        return False
    if p.suffix.lower() in SURE_SUFFIXES:
        return True
    try:
        with open(p, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return True
    return root_element(head) in ("score-partwise", "score-timewise")

"""Repairs to a copy of a MusicXML score that partitura could not read.

Notation programs and hand-made files write things partitura 1.9 trips over: a
quarter-tone ``<alter>`` or accidental, an empty ``<fingering/>``, a volta whose
``number`` is empty or not a number, a note with more dots than it knows, tuplets
so many and so odd that the ``<divisions>`` per quarter outgrow 64-bit integers.
None of them changes which keys sound, nor when by more than a millionth of a
quarter (timing comes from ``<duration>``), so
``read.load_score`` retries with them repaired, and only when the first read
failed: a score that reads as it is is never touched. Each repair is named in the
file's warnings. The file itself is never changed (the write-back edits the
original text).
"""

from __future__ import annotations

import re

MAX_DOTS = 3  # partitura's DOT_MULTIPLIERS
MAX_DIVISIONS = 2**31  # more per quarter and partitura's arithmetic leaves int64
NEW_DIVISIONS = 2**16 * 3 * 5 * 7  # what such a part is rescaled to: exact for common tuplets
ACCIDENTALS = {"sharp", "natural", "flat", "double-sharp", "double-flat"}  # partitura's ACCIDENTAL_MAP


def _local(tag: object) -> str:
    return tag.split("}")[-1] if isinstance(tag, str) else ""


def repair(xml: bytes) -> tuple[bytes, list[str]]:
    """``xml`` with what partitura cannot read repaired, and a line per kind of repair (none: as it was)."""
    from lxml import etree  # a partitura dependency

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_comments=False)
    root = etree.fromstring(xml, parser)
    done: dict[str, int] = {}

    def count(what: str) -> None:
        done[what] = done.get(what, 0) + 1

    for el in list(root.iter()):
        name = _local(el.tag)
        if name == "alter":
            _repair_alter(el, count)
        elif name == "accidental" and (el.text or "").strip() not in ACCIDENTALS:
            el.getparent().remove(el)
            count("accidental signs partitura does not know left out (the pitch's <alter> stays)")
        elif name == "fingering" and not re.search(r"\d", el.text or ""):
            el.getparent().remove(el)
            count("fingerings without a finger left out")
        elif name == "note":
            dots = [d for d in el if _local(d.tag) == "dot"]
            for d in dots[MAX_DOTS:]:
                el.remove(d)
                count(f"dots beyond {MAX_DOTS} left out (the note's <duration> stays)")
    _repair_endings(root, count)
    _repair_divisions(root, count)
    if not done:
        return xml, []
    fixed = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return fixed, [f"{n} {what}" for what, n in done.items()]


def _repair_alter(el, count) -> None:
    """A quarter-tone ``<alter>`` rounded to the nearest semitone, as MIDI plays it."""
    text = (el.text or "").strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return
    try:
        el.text = str(round(float(text)))
        count("microtone alterations rounded to a semitone")
    except ValueError:
        el.getparent().remove(el)
        count("unreadable <alter> values left out")


def _repair_endings(root, count) -> None:
    """Each part's volta numbers as the numbers they hold; one with none takes its bracket's start."""
    for part in (p for p in root if _local(p.tag) == "part"):
        last = "1"
        for el in part.iter():
            if _local(el.tag) != "ending":
                continue
            given = el.get("number") or ""
            numbers = re.findall(r"\d+", given)
            if numbers:
                clean = ", ".join(numbers)
                if el.get("type") == "start":
                    last = clean
            else:
                clean = last
            if clean != given.strip() and clean.replace(" ", "") != given.replace(" ", ""):
                el.set("number", clean)
                count("volta numbers made numbers")


TIMED = {"duration", "offset"}  # elements whose value counts divisions (<backup>, <forward>, <note>...)


def _repair_divisions(root, count) -> None:
    """Parts with over ``MAX_DIVISIONS`` per quarter rescaled to ``NEW_DIVISIONS``, durations rounded."""
    for part in (p for p in root if _local(p.tag) == "part"):
        divisions = [el for el in part.iter() if _local(el.tag) == "divisions"]
        if not any(_int(el.text) > MAX_DIVISIONS for el in divisions):
            continue
        old = 1
        for el in part.iter():
            name = _local(el.tag)
            if name == "divisions":
                old = max(_int(el.text), 1)
                el.text = str(NEW_DIVISIONS)
            elif name in TIMED and el.text and re.fullmatch(r"\s*[+-]?\d+\s*", el.text):
                el.text = str(round(int(el.text) * NEW_DIVISIONS / old))
        count(f"parts with over {MAX_DIVISIONS} divisions per quarter rescaled to {NEW_DIVISIONS}")


def _int(text: str | None) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        return 0

"""Each part's MIDI instrument as the score's ``<part-list>`` gives it.

``<score-part id="P1"><midi-instrument><midi-channel>1</midi-channel><midi-program>41</midi-program>``:
channels 1-16 and programs 1-128 in the file, 0-based here, as in MIDI bytes. The
played MIDI file keeps them, so its parts stay the instruments they were and only
keyboard parts are humanized unless ``--all-parts`` (``humanize.controls``), as for
a MIDI file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    program: int | None = None  # 0-127; None: the score does not say
    channel: int | None = None  # 0-15; None: the score does not say
    percussion: bool = False  # the part plays unpitched sounds (<midi-unpitched>)


def _number(text: str | None, lo: int, hi: int) -> int | None:
    try:
        value = int(float((text or "").strip()))
    except ValueError:
        return None
    return value - 1 if lo <= value <= hi else None


def part_instruments(xml: bytes) -> dict[str, Instrument]:
    """Part id -> its first ``<midi-instrument>``'s program and channel, read from ``<part-list>`` only."""
    from lxml import etree

    out: dict[str, Instrument] = {}
    context = etree.iterparse(io.BytesIO(xml), events=("end",), resolve_entities=False, huge_tree=True)
    try:
        for _, el in context:
            name = el.tag.split("}")[-1] if isinstance(el.tag, str) else ""
            if name == "score-part" and el.get("id"):
                midi = next(
                    (m for m in el if isinstance(m.tag, str) and m.tag.endswith("midi-instrument")), None
                )
                if midi is not None:
                    out[el.get("id")] = Instrument(
                        _number(midi.findtext("{*}midi-program"), 1, 128),
                        _number(midi.findtext("{*}midi-channel"), 1, 16),
                        midi.find("{*}midi-unpitched") is not None,
                    )
            elif name == "part-list":
                break
    except etree.XMLSyntaxError:
        pass  # read.py reports what is wrong with the file
    return out

"""Small MusicXML scores written in code, for the MusicXML reader's tests.

``DIVISIONS`` divisions per quarter; durations below are in quarters.
"""

from __future__ import annotations

import io
import zipfile

DIVISIONS = 4
TYPES = {0.5: "eighth", 1: "quarter", 2: "half", 4: "whole"}


def note(
    step: str,
    octave: int,
    quarters: float = 1,
    *,
    alter: int = 0,
    chord: bool = False,
    staff: int = 1,
    voice: int = 1,
    tie: str | None = None,
    notations: str = "",
    grace: bool = False,
) -> str:
    """One <note>; ``tie`` is "start", "stop" or "both"; ``notations``: inner XML of <notations>."""
    ties = {"start": ["start"], "stop": ["stop"], "both": ["stop", "start"]}.get(tie or "", [])
    tied = "".join(f'<tied type="{t}"/>' for t in ties)
    notes_xml = f"<notations>{tied}{notations}</notations>" if tied or notations else ""
    grace_xml = '<grace slash="yes"/>' if grace else ""
    chord_xml = "<chord/>" if chord else ""
    alter_xml = f"<alter>{alter}</alter>" if alter else ""
    duration_xml = "" if grace else f"<duration>{int(quarters * DIVISIONS)}</duration>"
    tie_xml = "".join(f'<tie type="{t}"/>' for t in ties)
    kind = TYPES.get(quarters, "eighth")
    return (
        f"<note>{grace_xml}{chord_xml}<pitch><step>{step}</step>{alter_xml}<octave>{octave}</octave>"
        f"</pitch>{duration_xml}{tie_xml}<voice>{voice}</voice><type>{kind}</type>"
        f"<staff>{staff}</staff>{notes_xml}</note>"
    )


def rest(quarters: float = 1, staff: int = 1, voice: int = 1) -> str:
    return (
        f"<note><rest/><duration>{int(quarters * DIVISIONS)}</duration><voice>{voice}</voice>"
        f"<staff>{staff}</staff></note>"
    )


def backup(quarters: float) -> str:
    return f"<backup><duration>{int(quarters * DIVISIONS)}</duration></backup>"


def direction(inner: str, staff: int = 1, sound: str = "") -> str:
    """A <direction> with one <direction-type> holding ``inner`` (and an optional <sound> element)."""
    return (
        f'<direction placement="below"><direction-type>{inner}</direction-type>'
        f"<staff>{staff}</staff>{sound}</direction>"
    )


def dynamic(mark: str, staff: int = 1) -> str:
    return direction(f"<dynamics><{mark}/></dynamics>", staff)


def wedge(kind: str) -> str:
    """A hairpin: "crescendo", "diminuendo" or "stop"."""
    return direction(f'<wedge type="{kind}"/>')


def tempo(qpm: int, words: str | None = None) -> str:
    inner = (
        f"<words>{words}</words>"
        if words
        else f"<metronome><beat-unit>quarter</beat-unit><per-minute>{qpm}</per-minute></metronome>"
    )
    return (
        f'<direction placement="above"><direction-type>{inner}</direction-type>'
        f'<sound tempo="{qpm}"/></direction>'
    )


def measure(
    number: int, *content: str, staves: int = 1, first: bool = False, left: str = "", right: str = ""
) -> str:
    """A <measure>; ``first`` adds the attributes (4/4, treble, and bass on staff 2)."""
    attrs = ""
    if first:
        clefs = '<clef number="1"><sign>G</sign><line>2</line></clef>'
        if staves == 2:
            clefs += '<clef number="2"><sign>F</sign><line>4</line></clef>'
        attrs = (
            f"<attributes><divisions>{DIVISIONS}</divisions><key><fifths>0</fifths></key>"
            f"<time><beats>4</beats><beat-type>4</beat-type></time><staves>{staves}</staves>"
            f"{clefs}</attributes>"
        )
    return f'<measure number="{number}">{left}{attrs}{"".join(content)}{right}</measure>'


def repeat_barline(
    location: str, direction_: str, ending: str | None = None, ending_type: str = "start"
) -> str:
    end = f'<ending number="{ending}" type="{ending_type}"/>' if ending else ""
    rep = f'<repeat direction="{direction_}"/>' if direction_ else ""
    return f'<barline location="{location}">{end}{rep}</barline>'


def score(*measures: str, part_name: str = "Piano") -> str:
    """A partwise MusicXML document with one part."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
        '"http://www.musicxml.org/dtds/partwise.dtd">\n'
        '<score-partwise version="4.0"><part-list><score-part id="P1">'
        f"<part-name>{part_name}</part-name></score-part></part-list>"
        f'<part id="P1">{"".join(measures)}</part></score-partwise>\n'
    )


def mxl(xml: str, name: str = "score.xml") -> bytes:
    """``xml`` compressed as an .mxl file (with META-INF/container.xml naming it)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/vnd.recordare.musicxml")
        z.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
            f'<rootfile full-path="{name}" media-type="application/vnd.recordare.musicxml+xml"/>'
            "</rootfiles></container>",
        )
        z.writestr(name, xml)
    return buf.getvalue()


def scale(qpm: int | None = 100) -> str:
    """One bar, C D E F quarters (with a metronome mark of ``qpm``, or none)."""
    return score(
        measure(
            1, tempo(qpm) if qpm else "", note("C", 4), note("D", 4), note("E", 4), note("F", 4), first=True
        )
    )


def repeated() -> str:
    """Bar 1 (repeat start), bar 2 under a first ending, bar 3 under a second ending."""
    return score(
        measure(1, note("C", 4, 4), first=True, left=repeat_barline("left", "forward")),
        measure(
            2,
            note("D", 4, 4),
            left=repeat_barline("left", "", "1"),
            right=repeat_barline("right", "backward", "1", "stop"),
        ),
        measure(
            3,
            note("E", 4, 4),
            left=repeat_barline("left", "", "2"),
            right=repeat_barline("right", "", "2", "discontinue"),
        ),
    )


def marked() -> str:
    """p, a crescendo over bar 1, f in bar 2; an accent on bar 2's first note, staccato on its second."""
    return score(
        measure(
            1,
            dynamic("p"),
            wedge("crescendo"),
            note("C", 4),
            note("D", 4),
            note("E", 4),
            note("F", 4),
            wedge("stop"),
            first=True,
        ),
        measure(
            2,
            dynamic("f"),
            note("G", 4, notations="<articulations><accent/></articulations>"),
            note("A", 4, notations="<articulations><staccato/></articulations>"),
            note("B", 4, 2),
        ),
    )


def two_staves() -> str:
    """Right hand C5 E5 (half notes), left hand a C3 whole note, one grace note D5 before E5."""
    return score(
        measure(
            1,
            note("C", 5, 2),
            note("D", 5, grace=True),
            note("E", 5, 2),
            backup(4),
            note("C", 3, 4, staff=2, voice=5),
            staves=2,
            first=True,
        )
    )


def tied() -> str:
    """G4 half tied over the barline to a half: one note of four quarters, then A4."""
    return score(
        measure(1, rest(2), note("G", 4, 2, tie="start"), first=True),
        measure(2, note("G", 4, 2, tie="stop"), note("A", 4, 2)),
    )


def chords() -> str:
    """A C major triad, a rest, an E4 + G4 dyad tied over the barline (half + half), a C4 half."""
    return score(
        measure(
            1,
            note("C", 4),
            note("E", 4, chord=True),
            note("G", 4, chord=True),
            rest(1),
            note("E", 4, 2, tie="start"),
            note("G", 4, 2, chord=True, tie="start"),
            first=True,
        ),
        measure(2, note("E", 4, 2, tie="stop"), note("G", 4, 2, chord=True, tie="stop"), note("C", 4, 2)),
    )


def decorated() -> str:
    """Markup around and inside the notes that a text editor must step over or keep.

    An internal DTD subset (with "]>" and "<note>" in a comment and ">" in an
    entity value), a CDATA section and a processing instruction holding
    "<note", a comment between the notes holding a whole <note> element, single
    quotes and ">" in a note's attributes, a note with its own id and one with
    a dynamics attribute already, a rest, and a C0 (MIDI 12, below the piano).
    """
    head = (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
        '"http://www.musicxml.org/dtds/partwise.dtd" [\n'
        '  <!-- a "]>" and a <note> in the internal subset -->\n'
        '  <!ENTITY autodyn "a > b">\n'
        "]>\n"
        '<score-partwise version="4.0">\n'
        "  <movement-title><![CDATA[<note><pitch>not a note</pitch></note>]]></movement-title>\n"
        '  <part-list><score-part id="P1"><part-name>Piano</part-name></score-part></part-list>\n'
        '  <part id="P1">\n'
    )
    body = measure(
        1,
        note("C", 4).replace("<note>", "<note  default-x='12' editorial=\"a>b\" >"),
        "\n    <!-- <note><pitch><step>B</step><octave>4</octave></pitch></note> -->\n    ",
        note("D", 4).replace("<note>", '<note id="my-own-id">'),
        note("E", 4).replace("<note>", "<note dynamics='50'>"),
        rest(1),
        first=True,
    )
    body += "\n    <?autodyn-test <note>a processing instruction</note> ?>\n    "
    body += measure(2, note("C", 0, 4))
    return head + "    " + body + "\n  </part>\n</score-partwise>\n"

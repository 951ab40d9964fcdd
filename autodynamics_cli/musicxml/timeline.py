"""A MusicXML part as written: notes, directions and structure on a timeline of divisions.

One pass over each ``<part>`` with lxml, reading what autodyn uses: pitched notes
(ties, grace notes, slurs, articulations, fermatas), rests and drum notes (they
keep the bars' timing), dynamics, hairpins and words (``words.py``), tempo and
``<sound>`` marks, time signatures, divisions, bars, repeats, endings and the
navigation marks (segno, coda, D.C., D.S., fine). It follows partitura's MusicXML
importer (Apache License 2.0) wherever that decides something, such as which
note a tie or slur joins, so scores read as they did when partitura read them;
``unfold.py`` then plays the repeats. Positions are ints, as in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from autodynamics_cli.musicxml.words import parse_words

ARTICULATIONS = (
    "accent",
    "strong-accent",
    "staccato",
    "tenuto",
    "detached-legato",
    "staccatissimo",
    "spiccato",
    "scoop",
    "plop",
    "doit",
    "falloff",
    "breath-mark",
    "caesura",
    "stress",
    "unstress",
    "soft-accent",
)
CONSTANT_DYNAMICS = {"f", "ff", "fff", "ffff", "fffff", "ffffff", "n", "mf", "mp", "p", "pp", "ppp", "pppp"}
CONSTANT_DYNAMICS |= {"ppppp", "pppppp"}
IMPULSIVE_DYNAMICS = {"fp", "pf", "rf", "rfz", "fz", "sf", "sffz", "sfp", "sfzp", "sfpp", "sfz"}
STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
ACCIDENTALS = {"sharp": 1, "natural": 0, "flat": -1, "double-sharp": 2, "sharp-sharp": 2, "flat-flat": -2}
ACCIDENTALS |= {"natural-sharp": 1, "natural-flat": -1}
# the marks that last until the next of their family (partitura's set_end_times)
FAMILIES = {"dynamic": "loudness", "tempo": "tempo", "tempo_reset": "tempo", "articulation": "articulation"}
NAVIGATION = ("fine", "dacapo", "tocoda", "coda", "dalsegno", "segno")
_NAV_VALUES = {"fine": ("yes", "1"), "dacapo": ("yes",), "tocoda": ("coda",), "coda": ("coda",)}
_NAV_VALUES |= {"dalsegno": ("segno",), "segno": ("segno",)}


class TimelineError(ValueError):
    """What this reader cannot make sense of, with the bar it is in."""


@dataclass(eq=False)
class Note:
    """A ``<note>``: pitched (``pitch`` set), unpitched (a drum) or a rest."""

    start: int
    duration: int
    kind: str  # "note", "grace", "rest" or "unpitched"
    pitch: int  # MIDI pitch; -1 for rests and drums
    staff: int
    voice: int
    id: str | None
    articulations: tuple[str, ...] = ()
    fermata: bool = False
    is_grace_chord: bool = False
    microtone: bool = False  # a quarter-tone <alter>, played on the nearest key
    tie_next: Note | None = None
    tie_prev: Note | None = None
    grace_next: Note | None = None
    slur_starts: list[Slur | None] = field(default_factory=list)
    slur_stops: list[Slur | None] = field(default_factory=list)

    @property
    def pitched(self) -> bool:
        return self.kind in ("note", "grace")


@dataclass(eq=False)
class Slur:
    start_note: Note | None = None
    end_note: Note | None = None
    on_timeline: bool = False  # started (partitura removes a slur that never starts or ends)


@dataclass(eq=False)
class Direction:
    """A mark (``parts.Mark`` kinds, or "" for a direction autodyn does not use)."""

    kind: str
    text: str
    start: int | None
    end: int | None = None
    staff: int | None = None
    constant: str = ""  # a FAMILIES value: its end is the next one's start (partitura's set_end_times)


@dataclass
class Measure:
    start: int
    end: int
    number: str | None


@dataclass
class Part:
    """One part as written: everything on its timeline of divisions."""

    id: str
    name: str | None
    notes: list[Note] = field(default_factory=list)
    directions: list[Direction] = field(default_factory=list)
    tempos: list[tuple[int, float]] = field(default_factory=list)  # (t, quarter notes per minute)
    sound_dynamics: list[tuple[int, float]] = field(default_factory=list)  # (t, percent of forte)
    time_signatures: list[tuple[int, int, int]] = field(default_factory=list)
    divisions: dict[int, int] = field(default_factory=dict)  # t -> divisions per quarter from t
    measures: list[Measure] = field(default_factory=list)
    repeats: list[list[Any]] = field(default_factory=list)  # [start, end], int or None
    endings: list[list[Any]] = field(default_factory=list)  # [start, end, number]
    navigation: list[tuple[str, int]] = field(default_factory=list)  # (kind, t)
    fermatas: list[tuple[int, str | None]] = field(default_factory=list)  # barline fermatas (t, location)
    clef_staffs: list[int] = field(default_factory=list)
    points: set[int] = field(default_factory=set)  # every time something starts or ends

    @property
    def first(self) -> int:
        return min(self.points) if self.points else 0

    @property
    def last(self) -> int:
        return max(self.points) if self.points else 0


def _int(e: Any, path: str) -> int | None:
    """partitura's get_value_from_tag(e, path, int): None when absent or not an integer."""
    return _value(e.find(path))


def _value(el: Any) -> int | None:
    """An element's text as an int, None when absent or not an integer."""
    if el is None or el.text is None:
        return None
    try:
        return int(el.text)
    except ValueError:
        return None


def _attr_int(e: Any, name: str) -> int | None:
    v = e.get(name)
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        return None


def _text(e: Any, path: str) -> str | None:
    el = e.find(path)
    return None if el is None else el.text


def _alter(pitch: Any) -> tuple[int | None, bool]:
    """The semitones of ``<alter>`` and whether it was a microtone (rounded to the nearest key)."""
    text = _text(pitch, "alter")
    if text is None:
        return None, False
    try:
        return int(text), False
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None, False
    return int(round(value)), True


def midi_pitch(step: str | None, alter: int | None, octave: int | None) -> int:
    if step is None or octave is None or step.strip().upper() not in STEPS:
        raise TimelineError(f"a note without a readable pitch (step {step!r}, octave {octave!r})")
    return 12 * (octave + 1) + STEPS[step.strip().upper()] + (alter or 0)


class _PartReader:
    """Reads the measures of one ``<part>`` in order, as partitura's importer does."""

    def __init__(self, part: Part) -> None:
        self.part = part
        self.ongoing: dict[Any, Any] = {}
        self.ties: dict[tuple[str, int], dict[int, Note]] = {}
        self.tie_pitches: list[int] = []
        self.repeat: list[Any] | None = None
        self.ending: list[Any] | None = None
        self.position = 0
        self.volta = "1"  # the numbers of the last ending that started

    def point(self, *ts: int | None) -> None:
        self.part.points.update(t for t in ts if t is not None)

    def measure(self, el: Any) -> None:
        p = self.part
        start = position = self.position
        self.point(start)
        maxtime = start
        prev: Note | None = None
        trailing: list[str | None] = []
        for e in el:
            tag = e.tag
            if tag == "note":
                position, prev = self.note(e, position, prev)
                maxtime = max(maxtime, position)
            elif tag == "backup":
                position -= _int(e, "duration") or 0
                position = max(position, start)
                maxtime = max(maxtime, position)
            elif tag == "forward":
                position += _int(e, "duration") or 0
                maxtime = max(maxtime, position)
            elif tag == "attributes":
                self.attributes(e, position)
            elif tag == "direction":
                self.direction(e, position)
            elif tag == "sound":
                self.sound(e, position)
            elif tag == "barline":
                self.barline(e, position, start, maxtime, trailing)
        for location in trailing:
            p.fermatas.append((maxtime, location))
            self.point(maxtime)
        p.measures.append(Measure(start, maxtime, el.get("number")))
        self.point(maxtime)
        self.position = maxtime

    def attributes(self, e: Any, position: int) -> None:
        p = self.part
        beats, beat_type = _int(e, "time/beats"), _int(e, "time/beat-type")
        if beats and beat_type:
            p.time_signatures.append((position, beats, beat_type))
            self.point(position)
        divs = _int(e, "divisions")
        if divs:
            p.divisions[position] = divs
        for clef in e.findall("clef"):
            p.clef_staffs.append(_attr_int(clef, "number") or 1)

    def sound(self, e: Any, position: int) -> None:
        """``<sound tempo>`` or else ``<sound dynamics>``, unless one already starts there."""
        p = self.part
        if position not in p.points:
            return  # partitura adds these only where a time point already is
        if "tempo" in e.attrib:
            if not any(t == position for t, _ in p.tempos):
                p.tempos.append((position, float(e.get("tempo"))))
        elif "dynamics" in e.attrib:
            v = float(e.get("dynamics"))
            if v >= 0 and not any(t == position for t, _ in p.sound_dynamics):
                p.sound_dynamics.append((position, v))

    def direction(self, e: Any, position: int) -> None:
        p = self.part
        staff = _int(e, "staff") or None
        for sd in e.findall("sound"):
            for kind in NAVIGATION:
                if sd.get(kind) in _NAV_VALUES[kind]:
                    p.navigation.append((kind, position))
                    self.point(position)
            self.sound(sd, position)
        starting: list[Direction | float] = []  # a float: a metronome mark in words, quarters per minute
        ending: list[Direction] = []
        dashes: dict[Any, str | None] = {}
        for dtype in e.findall("direction-type"):
            children = list(dtype)
            if not children:
                continue
            dt = children[0]
            if dt.tag == "dynamics":
                for child in dtype:
                    mark = next(iter(child), None)
                    if mark is None or not isinstance(mark.tag, str):
                        continue
                    if mark.tag in CONSTANT_DYNAMICS:
                        starting.append(
                            Direction("dynamic", mark.tag, None, staff=staff, constant="loudness")
                        )
                    elif mark.tag in IMPULSIVE_DYNAMICS:
                        starting.append(Direction("impulsive", mark.tag, None, staff=staff))
                    else:
                        starting.append(Direction("", mark.tag, None, staff=staff))
            elif dt.tag == "words":
                for child in dtype:
                    if child.text is None:
                        continue
                    found = parse_words(child.text)
                    if not found:
                        starting.append(Direction("", child.text, None))  # partitura's Words
                    for kind, text in found:
                        if kind == "metronome":
                            unit, bpm = text.split()
                            starting.append(_quarter_tempo(unit, float(bpm)))
                        else:
                            starting.append(Direction(kind, text, None, constant=FAMILIES.get(kind, "")))
            elif dt.tag == "wedge":
                key = ("wedge", _attr_int(dt, "number") or 1)
                kind = dt.get("type")
                if kind in ("crescendo", "diminuendo"):
                    d = Direction("cresc" if kind == "crescendo" else "dim", kind, None)
                    starting.append(d)
                    self.ongoing[key] = d
                elif kind == "stop":
                    d = self.ongoing.pop(key, None)
                    if d is not None:
                        ending.append(d)
            elif dt.tag == "dashes":
                dashes[("dashes", _attr_int(dt, "number") or 1)] = dt.get("type")
        for key, dash in dashes.items():
            if dash == "start":
                self.ongoing[key] = starting
            elif dash == "stop":
                found = self.ongoing.pop(key, None)
                if found is not None:
                    ending.extend(found)
        for item in starting:  # in order: a metronome mark needs a time point before it
            if isinstance(item, Direction):
                item.start = position
                p.directions.append(item)
                self.point(position)
            elif position in p.points and not any(t == position for t, _ in p.tempos):
                p.tempos.append((position, item))
        for d in ending:
            d.end = position
            self.point(position)

    def barline(self, e: Any, position: int, start: int, maxtime: int, trailing: list[str | None]) -> None:
        location = e.get("location")
        at = maxtime if location in (None, "right") else start if location == "left" else position
        repeat = e.find("repeat")
        if repeat is not None:
            if repeat.get("direction") == "forward":
                self.repeat = [at, None]
                self.part.repeats.append(self.repeat)
            elif repeat.get("direction") == "backward":
                r = self.repeat or [None, None]
                if self.repeat is None:
                    self.part.repeats.append(r)
                r[1] = at
                self.repeat = None
            self.point(at)
        ending = e.find("ending")
        if ending is not None:
            number = self.volta_number(ending)
            if ending.get("type") == "start":
                self.ending = [at, None, number]
                self.part.endings.append(self.ending)
            elif ending.get("type") in ("stop", "discontinue"):
                en = self.ending or [None, None, number]
                if self.ending is None:
                    self.part.endings.append(en)
                en[1] = at
                self.ending = None
            self.point(at)
        if e.find("fermata") is not None:
            if location is None:
                trailing.append(None)
            else:
                self.part.fermatas.append((position, location))
                self.point(position)

    def volta_number(self, ending: Any) -> str:
        """An ending's numbers, "1, 2"; one without numbers ("", "a") takes its bracket's start's."""
        numbers = re.findall(r"\d+", ending.get("number") or "")
        if not numbers:
            return self.volta
        clean = ", ".join(numbers)
        if ending.get("type") == "start":
            self.volta = clean
        return clean

    def note(self, e: Any, position: int, prev: Note | None) -> tuple[int, Note]:
        p = self.part
        first: dict[str, Any] = {}  # each kind of child's first element: one pass over the note
        ties: set[str | None] = set()
        for child in e:
            tag = child.tag
            if tag == "tie":
                ties.add(child.get("type"))
            elif tag not in first:
                first[tag] = child
        duration = _value(first.get("duration")) or 0
        staff = _value(first.get("staff")) or 1
        voice = _value(first.get("voice")) or 1
        note_id = e.get("id") or e.get("ID")
        chord = "chord" in first and prev is not None
        if chord:
            assert prev is not None
            if not prev.is_grace_chord:
                prev.is_grace_chord = True
            position, duration = prev.start, prev.duration
        notations = first.get("notations")
        arts = e.find("notations/articulations") if notations is not None else None  # in any <notations>
        articulations = () if arts is None else tuple(a for a in ARTICULATIONS if arts.find(a) is not None)
        pitch_el = first.get("pitch")
        microtone = False
        if pitch_el is not None:
            alter, microtone = _alter(pitch_el)
            if alter is None and "accidental" in first:
                alter = ACCIDENTALS.get((first["accidental"].text or "").strip())
            pitch = midi_pitch(pitch_el.findtext("step"), alter, _int(pitch_el, "octave"))
            kind = "grace" if "grace" in first else "note"
        else:
            pitch, kind = -1, "unpitched" if "unpitched" in first else "rest"
        note = Note(position, duration, kind, pitch, staff, voice, note_id, articulations)
        note.is_grace_chord = chord
        note.microtone = microtone
        if kind in ("note", "grace") and prev is not None and prev.kind == "grace" and prev.voice == voice:
            prev.grace_next = note
        p.notes.append(note)
        self.point(position, position + duration)
        if ties:
            key_pitch = pitch if note.pitched else -1
            if key_pitch not in self.tie_pitches:
                self.tie_pitches.append(key_pitch)
            if "stop" in ties:
                self.ties.setdefault(("stop", key_pitch), {})[position] = note
            if "start" in ties:
                self.ties.setdefault(("start", key_pitch), {})[position + duration] = note
        if notations is not None:  # slurs and fermatas only in the first <notations>, as partitura reads them
            if notations.find("fermata") is not None:
                note.fermata = True
            self.slurs(notations, note, position)
        return position + duration, note

    def slurs(self, notations: Any, note: Note, position: int) -> None:
        """partitura's handle_slurs: a stop may come before its start (across staves)."""
        slurs = notations.findall("slur")
        slurs.sort(key=lambda x: x.get("type") or "", reverse=True)
        slurs.sort(key=lambda x: _attr_int(x, "number") or note.voice or 1)
        for el in slurs:
            number = _attr_int(el, "number") or note.voice
            kind = el.get("type")
            if kind == "start":
                slur = self.ongoing.pop(("stop_slur", number), None)
                if slur is None or (slur.end_note is not None and slur.end_note.start < position):
                    if slur is not None and slur.end_note is not None:  # a rogue stop: dropped
                        slur.end_note.slur_stops.remove(slur)
                        slur.on_timeline = False
                    slur = Slur(note)
                    self.ongoing[("start_slur", number)] = slur
                else:
                    slur.start_note = note
                slur.on_timeline = True
                note.slur_starts.append(slur)
            elif kind == "stop":
                slur = self.ongoing.pop(("start_slur", number), None)
                if slur is None or (slur.start_note is not None and slur.start_note.start > position):
                    if slur is not None and slur.start_note is not None:
                        slur.start_note.slur_starts.remove(slur)
                        slur.on_timeline = False
                    slur = Slur(None, note)
                    self.ongoing[("stop_slur", number)] = slur
                else:
                    slur.end_note = note
                note.slur_stops.append(slur)

    def finish(self) -> None:
        """Join ties, complete endings and repeats, drop what never ended (as partitura does)."""
        p = self.part
        for pitch in self.tie_pitches:
            starts, stops = self.ties.get(("start", pitch), {}), self.ties.get(("stop", pitch), {})
            for t, first in starts.items():
                if t in stops:
                    stops[t].tie_prev, first.tie_next = first, stops[t]
        for en in p.endings:
            if en[0] is None:
                en[0] = self.measure_at(en[1] - 1).start
            elif en[1] is None:
                en[1] = self.measure_at(en[0]).end
        started = sorted((r for r in p.repeats if r[0] is not None), key=lambda r: r[0])
        for r in started:
            if r[1] is None:
                later = [s[0] for s in started if s[0] > r[0]]
                r[1] = later[0] if later else p.last
        volta: list[list[Any]] = []
        for r in p.repeats:
            if r[0] is None:
                if any(en[1] == r[1] and any(q[1] == en[0] for q in p.repeats) for en in p.endings):
                    volta.append(r)
                    continue
                ends = [0] + [q[1] for q in p.repeats if q[0] is not None]
                r[0] = max((x for x in ends if x is not None and x < r[1]), default=0)
        for r in volta:
            begins = [0] + [q[0] for q in p.repeats if q[0] is not None]
            r[0] = max((x for x in begins if x < r[1]), default=0)
        for key, o in self.ongoing.items():
            if key[0] == "wedge":
                p.directions.remove(o)
            elif key[0] == "dashes":
                for d in o:
                    if d in p.directions:
                        p.directions.remove(d)
            elif key[0] in ("start_slur", "stop_slur"):
                o.on_timeline = False
        for n in p.notes:  # a grace note without a main note: a note of its voice at its time
            if n.kind == "grace" and _main_note(n) is None:
                last = n
                while last.grace_next is not None:
                    last = last.grace_next
                for m in p.notes:
                    if m.kind == "note" and m.start == n.start and m.voice == n.voice:
                        last.grace_next = m
        _set_end_times(p)

    def measure_at(self, t: int) -> Measure:
        for m in self.part.measures:
            if m.start <= t < m.end:
                return m
        return self.part.measures[-1] if self.part.measures else Measure(0, 0, None)


def _main_note(n: Note) -> Note | None:
    m = n.grace_next
    while m is not None and m.kind == "grace":
        m = m.grace_next
    return m


def _set_end_times(p: Part) -> None:
    """A dynamic, tempo or articulation mark without an end lasts until the next of its family starts."""
    for family in ("loudness", "tempo", "articulation"):
        marks = sorted((d for d in p.directions if d.constant == family), key=lambda d: d.start or 0)
        times = sorted({d.start for d in marks if d.start is not None})
        for d in marks:
            if d.end is None and d.start is not None:
                later = [t for t in times if t > d.start]
                d.end = later[0] if later else p.last


def _quarter_tempo(unit: str, bpm: float) -> float:
    dots = unit.count(".")
    base = {"q": 1.0, "h": 2.0, "e": 0.5}.get(unit.strip().rstrip(".").lower(), 1.0)
    return bpm * (1, 1.5, 1.75, 1.875)[min(dots, 3)] * base


def read_parts(root: Any) -> list[Part]:
    """The parts listed in the score's ``<part-list>``, in its order, read from their ``<part>``."""
    listed: dict[str, Part] = {}
    for e in root.iterfind("part-list/score-part"):
        pid = e.get("id")
        name = e.find("part-name")
        listed[pid] = Part(pid, name.text if name is not None else None)
    for el in root.iterfind("part"):
        part = listed.get(el.get("id", "P1"))
        if part is None:
            continue  # partitura keeps only the parts in the part list
        reader = _PartReader(part)
        part.points.add(0)
        for counter, measure in enumerate(el.iterfind("measure"), start=1):
            try:
                reader.measure(measure)
            except TimelineError as e:
                where = f"measure {measure.get('number') or counter} (line {measure.sourceline})"
                raise TimelineError(f"{e} in {where}") from e
        reader.finish()
    return list(listed.values())

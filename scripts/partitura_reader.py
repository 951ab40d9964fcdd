"""autodyn's MusicXML reader as it was before its own (until 0.x): partitura reads and unfolds the score.

Kept for ``musicxml_parity.py`` only (``pip install partitura``): autodyn now reads
scores with its own reader (``autodynamics_cli/musicxml/read.py``), which follows
this one; the parity script shows where they differ. Not part of the package.
"""

from __future__ import annotations

import io
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from autodynamics_cli.midi.read import read_input
from autodynamics_cli.musicxml.instruments import Instrument, part_instruments
from autodynamics_cli.musicxml.parts import Mark, PartNotes, ScoreNotes
from autodynamics_cli.musicxml.read import MusicXmlError, _describe, check_root, xml_bytes

EXTRA_HINT = "this reader needs partitura (pip install partitura)"
RECURSION_LIMIT = 20_000  # partitura unfolds repeats and copies parts recursively
MIN_QPM, MAX_QPM = 10.0, 1000.0  # a tempo mark outside is a typo: ignored


def _partitura(path: str | Path) -> Any:
    try:
        import partitura
    except ImportError:
        raise MusicXmlError(path, EXTRA_HINT) from None
    if not hasattr(partitura.score.UnpitchedNote, "is_grace_chord"):
        # partitura 1.9 asks it of the note before a <chord/> note, which a drum note lacks
        partitura.score.UnpitchedNote.is_grace_chord = False
    return partitura


@contextmanager
def _recursion_limit(limit: int) -> Iterator[None]:
    """Raise the interpreter's recursion limit for a while (deep repeat structures need it)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def load_score(path: str | Path, data: bytes | None = None, unfold: bool = True) -> ScoreNotes:
    """Read a ``.musicxml``, ``.xml`` or ``.mxl`` score as it is played.

    ``unfold``: repeats, endings and jumps (D.C., D.S., coda) are played as a
    notation program plays them (no repeats after a jump); False plays each bar
    once in written order. Repeats partitura cannot unfold are played in written
    order, named in ``ScoreNotes.warnings``. Raises ``MusicXmlError`` (one line, naming
    the measure at fault where partitura's frames show it; the cause chained for
    ``AUTODYN_DEBUG=1``) for anything else, and when partitura is not installed.
    """
    pt = _partitura(path)
    if data is None:
        data = read_input(path)
    xml = xml_bytes(path, data)
    check_root(path, xml)
    with _recursion_limit(RECURSION_LIMIT), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # partitura warns about many harmless oddities
        notes: list[str] = []
        try:
            parts = _parts(pt, xml)
        except Exception as first:  # lxml's syntax errors, partitura's asserts and exceptions
            if type(first).__name__ == "XMLSyntaxError":
                raise MusicXmlError(path, f"not well-formed XML ({_describe(first)})") from first
            parts, notes = _parts_repaired(pt, xml, path, first)
        if unfold:
            try:
                parts = _unfolded(pt, parts)
            except Exception as e:  # RecursionError too: a structure too deep to unfold
                parts, notes = _unfolded_repaired(pt, xml, parts, notes, e)
        try:
            return replace(_collect(pt, parts, part_instruments(xml)), warnings=tuple(notes))
        except MusicXmlError:
            raise
        except Exception as e:
            raise MusicXmlError(path, f"cannot read this score ({_describe(e)})") from e


def _parts(pt: Any, xml: bytes) -> list[Any]:
    """partitura's parts of the score, with note ids that are unique."""
    # "keep": the file's note ids where it has them (ASAP's xml_note_map.csv uses them)
    parts = list(pt.load_musicxml(io.BytesIO(xml), force_note_ids="keep").parts)
    ids = [n.id for p in parts for n in p.notes_tied]
    if len(set(ids)) != len(ids):  # the file's own ids repeat: number them afresh
        pt.score.assign_note_ids(parts, keep=False)
    return parts


def _parts_repaired(pt: Any, xml: bytes, path: str | Path, first: Exception) -> tuple[list[Any], list[str]]:
    raise MusicXmlError(path, f"partitura cannot read this score ({_describe(first)})") from first


def _unfolded(pt: Any, parts: list[Any]) -> list[Any]:
    return [pt.score.unfold_part_maximal(p, update_ids=True, ignore_leaps=False) for p in parts]


def _unfolded_repaired(
    pt: Any, xml: bytes, parts: list[Any], notes: list[str], failure: Exception
) -> tuple[list[Any], list[str]]:
    why = f"repeats not unfolded ({_describe(failure)}): every bar played once, in written order"
    return parts, [*notes, why]


def _fault(e: BaseException) -> str:
    """`` in measure 12 (line 345)``: the deepest measure element in the frames ``e`` went through."""
    where = ""
    tb = e.__traceback__
    while tb is not None:
        el = tb.tb_frame.f_locals.get("measure_el")
        if el is not None and hasattr(el, "get"):
            number, line = el.get("number"), getattr(el, "sourceline", None)
            where = f" in measure {number}" if number else " in a measure"
            where += f" (line {line})" if line else ""
        tb = tb.tb_next
    return where


def _quarters(pt: Any, part: Any) -> Callable[[Any], np.ndarray]:
    """Part time (divisions) to quarters from the start of the piece (a pickup starts at 0).

    A bar whose voices overrun its time signature by different amounts (an
    export error, such as rounded tuplet durations) ends where the time
    signature says, as in the notation program that wrote it, so the bars
    after it stay on the beat.
    """
    if part.first_point is None or part.last_point is None or part.first_point.t == part.last_point.t:
        return lambda t: np.zeros(np.shape(t))
    qmap = part.quarter_map
    first, last = part.first_point.t, part.last_point.t
    origin = float(qmap(first))

    def base(t: Any) -> np.ndarray:
        clipped = np.clip(np.asarray(t, dtype=np.float64), first, last)
        return np.asarray(qmap(clipped), dtype=np.float64) - origin

    cuts = _overruns(pt, part, base)
    if not cuts:
        return base
    cut_t = np.asarray([t for t, _ in cuts], dtype=np.float64)
    removed = np.concatenate(([0.0], np.cumsum([x for _, x in cuts])))
    return lambda t: base(t) - removed[np.searchsorted(cut_t, np.asarray(t, dtype=np.float64), side="right")]


def _overruns(pt: Any, part: Any, base: Callable[[Any], np.ndarray]) -> list[tuple[float, float]]:
    """(end in divisions, quarters too long) of each bar longer than its time signature, in time order."""
    if next(part.iter_all(pt.score.TimeSignature), None) is None:
        return []
    ts_map = part.time_signature_map
    cuts = []
    for m in part.iter_all(pt.score.Measure):
        if m.start is None or m.end is None:
            continue
        beats, beat_type = np.asarray(ts_map(m.start.t), dtype=np.float64)[:2]
        excess = float(base(m.end.t) - base(m.start.t)) - beats * 4.0 / beat_type
        if excess > 1e-6 and _voices_disagree(pt, part, m, base):
            cuts.append((float(m.end.t), excess))
    return sorted(cuts)


def _voices_disagree(pt: Any, part: Any, measure: Any, base: Callable[[Any], np.ndarray]) -> bool:
    """Whether the voices of a bar end at different times.

    In an overrunning bar that is an export error (one voice's tuplets rounded
    long); when all voices end together, the bar is written longer on purpose
    (a cadenza) and keeps its length.
    """
    ends: dict[Any, float] = {}
    for n in part.iter_all(pt.score.GenericNote, measure.start.t, measure.end.t, include_subclasses=True):
        if n.end is not None and n.end.t > n.start.t:
            ends[n.voice] = max(ends.get(n.voice, 0.0), float(base(n.end.t)))
    return len(ends) > 1 and max(ends.values()) - min(ends.values()) > 1e-6


def _collect(pt: Any, parts: list[Any], instruments: dict[str, Instrument] | None = None) -> ScoreNotes:
    """Plain notes, marks, tempo map and time signatures of the (unfolded) parts, with their
    MIDI instruments (``instruments``: by part id)."""
    kept: list[PartNotes] = []
    tempos: dict[float, float] = {}
    time_sigs: dict[float, tuple[int, int]] = {}
    end = 0.0
    for i, part in enumerate(parts):
        q = _quarters(pt, part)
        if part.last_point is not None:
            end = max(end, float(q(part.last_point.t)))
        for t in part.iter_all(pt.score.Tempo):
            qpm = float(pt.utils.music.to_quarter_tempo(t.unit or "q", t.bpm)) if t.bpm else 0.0
            if MIN_QPM <= qpm <= MAX_QPM:
                tempos.setdefault(round(float(q(t.start.t)), 6), qpm)
        for ts in part.iter_all(pt.score.TimeSignature):
            time_sigs.setdefault(round(float(q(ts.start.t)), 6), (int(ts.beats), int(ts.beat_type)))
        notes = _part_notes(pt, part, q, part.part_name or f"Part {i + 1}")
        midi = (instruments or {}).get(str(part.id))
        if midi is not None:
            notes.program, notes.channel = midi.program, midi.channel
        if len(notes):
            kept.append(notes)
    return ScoreNotes(
        parts=kept,
        tempos=sorted(tempos.items()),
        time_signatures=[(k, *v) for k, v in sorted(time_sigs.items())],
        end=end,
    )


def _part_notes(pt: Any, part: Any, q: Callable[[Any], np.ndarray], name: str) -> PartNotes:
    """One part's notes in note-array order, with their articulations, slurs and fermatas."""
    na = part.note_array(include_grace_notes=True, include_staff=True)
    by_id = {n.id: n for n in part.notes_tied}
    objs = [by_id[i] for i in na["id"]]
    onset = q(na["onset_div"])
    duration = np.maximum(q(na["onset_div"] + na["duration_div"]) - onset, 0.0)
    fermata_times = {f.start.t for f in part.iter_all(pt.score.Fermata) if f.start is not None}
    grace = [sum(1 for _ in n.iter_grace_seq()) if isinstance(n, pt.score.GraceNote) else 0 for n in objs]
    staff = np.maximum(np.asarray(na["staff"], dtype=np.int64), 1)
    # from the notes: an unfolded part's slurs keep their notes but lose their time points
    spans = {
        id(s): s
        for n in objs
        for s in n.slur_starts
        if s is not None and s.start_note is not None and s.end_note is not None
    }
    slurs = sorted((float(q(s.start_note.start.t)), float(q(s.end_note.start.t))) for s in spans.values())
    marks, sound = _marks(pt, part, q)
    return PartNotes(
        name=str(name),
        n_staves=max(int(part.number_of_staves or 1), int(staff.max(initial=1))),
        onset=onset,
        duration=np.where(np.asarray(grace) > 0, 0.0, duration),
        pitch=np.asarray(na["pitch"], dtype=np.int64),
        staff=staff,
        grace=np.asarray(grace, dtype=np.int64),
        articulations=[frozenset(n.articulations or ()) for n in objs],
        fermata=np.asarray([n.fermata is not None or n.start.t in fermata_times for n in objs], dtype=bool),
        slur_start=np.asarray([any(s is not None for s in n.slur_starts) for n in objs], dtype=bool),
        slur_end=np.asarray(
            [any(s is not None for m in _tie_chain(n) for s in m.slur_stops) for n in objs], dtype=bool
        ),
        note_id=np.asarray([str(i) for i in na["id"]], dtype=object),
        slurs=slurs,
        marks=marks,
        sound_dynamics=sound,
        tied_ids=[tuple(str(m.id) for m in _tie_chain(n))[1:] for n in objs],
    )


def _tie_chain(note: Any) -> Iterator[Any]:
    """A note and the notes tied on to it (a slur may end on the last of them)."""
    seen = 0
    while note is not None and seen < 10_000:
        yield note
        note = note.tie_next
        seen += 1


def _mark_kind(pt: Any, d: Any) -> str | None:
    s = pt.score
    kinds = (
        (s.ConstantLoudnessDirection, "dynamic"),
        (s.ImpulsiveLoudnessDirection, "impulsive"),
        (s.IncreasingLoudnessDirection, "cresc"),
        (s.DecreasingLoudnessDirection, "dim"),
        (s.ResetTempoDirection, "tempo_reset"),
        (s.ConstantTempoDirection, "tempo"),
        (s.IncreasingTempoDirection, "accel"),
        (s.DecreasingTempoDirection, "rit"),
    )
    return next((k for cls, k in kinds if isinstance(d, cls)), None)


def _marks(pt: Any, part: Any, q: Callable[[Any], np.ndarray]) -> tuple[list[Mark], list[tuple[float, int]]]:
    """The part's dynamics, hairpins and tempo words; the velocities of ``<sound dynamics>``."""
    marks = []
    for d in part.iter_all(pt.score.Direction, include_subclasses=True):
        kind = _mark_kind(pt, d)
        if kind is None or d.start is None:
            continue
        text = str(d.text or "").strip().lower()
        if kind == "tempo_reset":
            ref = d.reference_tempo
            text = str(ref.text).strip().lower() if ref is not None and ref.text else text
        end = float(q(d.end.t)) if d.end is not None and d.end.t > d.start.t else None
        marks.append(Mark(kind, text, float(q(d.start.t)), end, d.staff if d.staff else None))
    marks.sort(key=lambda m: (m.start, m.kind))
    # <sound dynamics> is a percentage of forte = 90 (MusicXML); MuseScore's importer scales it so
    sound = [
        (float(q(d.start.t)), int(np.clip(round(float(d.velocity) * 0.9), 1, 127)))
        for d in part.iter_all(pt.score.Dynamic)
        if d.start is not None and d.velocity > 0
    ]
    return marks, sorted(sound)

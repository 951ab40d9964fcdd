"""A written part played through its repeats, as the plain arrays of ``parts.PartNotes``.

Each played span of the written timeline (``unfold.played_spans``) is copied in
turn, as partitura's ``ScoreVariant`` copies it: what starts inside the span comes
along, shifted; a tie, slur or grace note that reaches outside the span loses that
link; a note played again gets ids ``n12-1``, ``n12-2`` in time order. Then times
become quarters (with partitura's rule for bars that overrun their time signature)
and each tied group of notes becomes one note.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autodynamics_cli.musicxml.parts import MARK_KINDS, Mark, PartNotes, ScoreNotes
from autodynamics_cli.musicxml.timeline import Direction, Measure, Note, Part, Slur
from autodynamics_cli.musicxml.unfold import played_spans

MIN_QPM, MAX_QPM = 10.0, 1000.0  # a tempo mark outside is a typo: ignored


@dataclass
class Played:
    """A part on its played timeline (divisions from the start of the performance)."""

    source: Part
    notes: list[Note] = field(default_factory=list)
    directions: list[Direction] = field(default_factory=list)
    tempos: list[tuple[int, float]] = field(default_factory=list)
    sound_dynamics: list[tuple[int, float]] = field(default_factory=list)
    time_signatures: list[tuple[int, int, int]] = field(default_factory=list)
    divisions: dict[int, int] = field(default_factory=dict)
    measures: list[Measure] = field(default_factory=list)
    fermata_times: set[int] = field(default_factory=set)
    first: int = 0
    last: int = 0


def _within(t: int | None, s: int, e: int) -> bool:
    return t is not None and s <= t < e


def as_written(part: Part) -> Played:
    """The part played once through, bar after bar as written."""
    return Played(
        part,
        notes=list(part.notes),
        directions=[d for d in part.directions if d.start is not None],
        tempos=list(part.tempos),
        sound_dynamics=list(part.sound_dynamics),
        time_signatures=list(part.time_signatures),
        divisions=dict(part.divisions),
        measures=list(part.measures),
        fermata_times={n.start for n in part.notes if n.fermata} | {t for t, _ in part.fermatas},
        first=part.first,
        last=part.last,
    )


def unfolded(part: Part) -> Played:
    """The part with its repeats and jumps played; note ids get ``-k`` for the k-th pass."""
    out = Played(part)
    ends: list[int] = [0]
    offset = 0
    slurs = {id(s): s for n in part.notes for s in (*n.slur_starts, *n.slur_stops) if s is not None}
    for s, e in played_spans(part):
        delta = offset - s
        copies: dict[int, Note] = {}
        for n in part.notes:
            if s <= n.start < e:
                c = copy(n)
                c.start = n.start + delta
                copies[id(n)] = c
                out.notes.append(c)
                ends.append(c.start + c.duration)
                if n.fermata:
                    out.fermata_times.add(c.start)
        slur_copies: dict[int, Slur] = {}
        for sl in slurs.values():
            if sl.on_timeline and sl.start_note is not None and s <= sl.start_note.start < e:
                if sl.end_note is not None:  # a slur's end is a time point too
                    ends.append(sl.end_note.start + sl.end_note.duration + delta)
                slur_copies[id(sl)] = Slur(
                    copies.get(id(sl.start_note)),
                    copies.get(id(sl.end_note)) if sl.end_note is not None else None,
                    True,
                )
        for c in copies.values():  # links that leave the span are lost, as in partitura
            c.tie_next = copies.get(id(c.tie_next)) if c.tie_next is not None else None
            c.tie_prev = copies.get(id(c.tie_prev)) if c.tie_prev is not None else None
            c.grace_next = copies.get(id(c.grace_next)) if c.grace_next is not None else None
            c.slur_starts = [slur_copies.get(id(x)) if x is not None else None for x in c.slur_starts]
            c.slur_stops = [slur_copies.get(id(x)) if x is not None else None for x in c.slur_stops]
        for d in part.directions:
            if _within(d.start, s, e):
                assert d.start is not None
                dc = copy(d)
                dc.start = d.start + delta
                dc.end = d.end + delta if d.end is not None else None
                out.directions.append(dc)
                ends.append(dc.end if dc.end is not None else dc.start)
        out.tempos += [(t + delta, q) for t, q in part.tempos if s <= t < e]
        out.sound_dynamics += [(t + delta, v) for t, v in part.sound_dynamics if s <= t < e]
        for t, b, bt in part.time_signatures:
            if s <= t < e:
                before = [x for x in out.time_signatures if x[0] < t + delta]
                if not before or before[-1][1:] != (b, bt):
                    out.time_signatures.append((t + delta, b, bt))
        for t, per_quarter in part.divisions.items():
            if s <= t < e:
                out.divisions[t + delta] = per_quarter
        for m in part.measures:
            if s <= m.start < e:
                out.measures.append(Measure(m.start + delta, m.end + delta, m.number))
                ends.append(m.end + delta)
        for t, location in part.fermatas:
            if s <= t < e or (t == e and location in (None, "right")):
                out.fermata_times.add(t + delta)
        offset += e - s
        ends.append(offset)
    out.last = max(ends)
    by_id: dict[str, list[Note]] = {}
    for n in out.notes:
        if n.pitched and n.id is not None:
            by_id.setdefault(n.id, []).append(n)
    for nid, same in by_id.items():
        for k, n in enumerate(sorted(same, key=lambda x: x.start), start=1):
            n.id = f"{nid}-{k}"
    return out


def name_notes(part: Part, index: int) -> None:
    """partitura's note ids: the file's own where it gives them, ``p0n7`` where it does not."""
    for i, n in enumerate(sorted(part.notes, key=lambda x: x.start)):
        if n.id is None:
            n.id = f"p{index}r{i}" if n.kind == "rest" else f"p{index}n{i}"


def renumber_notes(parts: list[Part]) -> None:
    """Fresh ids ``n0, n1...`` across all parts, where the file's own repeat."""
    k = 0
    for part in parts:
        for n in sorted(part.notes, key=lambda x: x.start):
            if n.kind != "rest":
                n.id = f"n{k}"
                k += 1


def quarters(p: Played) -> Callable[[Any], np.ndarray]:
    """Played time (divisions) to quarters from the start; overrunning bars cut as partitura does."""
    if p.first == p.last:
        return lambda t: np.zeros(np.shape(t))
    keys = {p.first: None, p.last: None} | p.divisions
    xs: list[float] = []
    divs: list[float] = []
    cur = 1.0
    for t in sorted(keys):
        d = keys[t]
        cur = float(d) if d is not None else cur
        if not xs or divs[-1] != cur:
            xs.append(float(t))
            divs.append(cur)
    xs_arr = np.asarray(xs)
    ys = (
        np.concatenate(([0.0], np.cumsum(np.diff(xs_arr) / np.asarray(divs[:-1]))))
        if len(xs) > 1
        else np.zeros(1)
    )
    if len(xs) == 1 or xs[-1] < p.last:
        xs_arr = np.append(xs_arr, float(p.last))
        ys = np.append(ys, ys[-1] + (p.last - xs[-1]) / divs[-1])
    origin = float(np.interp(p.first, xs_arr, ys))

    def base(t: Any) -> np.ndarray:
        clipped = np.clip(np.asarray(t, dtype=np.float64), p.first, p.last)
        return np.asarray(np.interp(clipped, xs_arr, ys), dtype=np.float64) - origin

    cuts = _overruns(p, base)
    if not cuts:
        return base
    cut_t = np.asarray([t for t, _ in cuts], dtype=np.float64)
    removed = np.concatenate(([0.0], np.cumsum([x for _, x in cuts])))
    return lambda t: base(t) - removed[np.searchsorted(cut_t, np.asarray(t, dtype=np.float64), side="right")]


def _overruns(p: Played, base: Callable[[Any], np.ndarray]) -> list[tuple[float, float]]:
    """(end, quarters too long) of each bar longer than its time signature whose voices disagree."""
    if not p.time_signatures:
        return []
    sigs = sorted(p.time_signatures)
    cuts = []
    for m in p.measures:
        in_force = [x for x in sigs if x[0] <= m.start]
        _, beats, beat_type = in_force[-1] if in_force else sigs[0]
        excess = float(base(m.end) - base(m.start)) - beats * 4.0 / beat_type
        if excess > 1e-6 and _voices_disagree(p, m, base):
            cuts.append((float(m.end), excess))
    return sorted(cuts)


def _voices_disagree(p: Played, m: Measure, base: Callable[[Any], np.ndarray]) -> bool:
    ends: dict[int, float] = {}
    for n in p.notes:
        if m.start <= n.start < m.end and n.duration > 0:
            ends[n.voice] = max(ends.get(n.voice, 0.0), float(base(n.start + n.duration)))
    return len(ends) > 1 and max(ends.values()) - min(ends.values()) > 1e-6


def _chain(note: Note) -> list[Note]:
    out: list[Note] = []
    n: Note | None = note
    while n is not None and len(out) < 10_000:
        out.append(n)
        n = n.tie_next
    return out


def _grace_count(n: Note) -> int:
    k, m = 0, n
    while m is not None and m.kind == "grace" and k < 10_000:
        k += 1
        m = m.grace_next  # type: ignore[assignment]
    return k


def _partitura_order(pitched: list[Note], objs: list[Note]) -> list[Note]:
    """``objs`` in the order of partitura's note array, so notes of one key starting together
    (two voices on one note) come in the same order, and get the same ids, as before.

    Its notes come by time point; at one point, normal and grace notes are two lists, the
    kind added there first coming first, each in file order. Then the array is sorted by
    pitch with numpy's default (unstable) sort on int32, then stably by onset.
    """
    first: dict[int, str] = {}
    for n in pitched:
        first.setdefault(n.start, n.kind)
    rank = {id(n): i for i, n in enumerate(pitched)}
    objs = sorted(objs, key=lambda n: (n.start, n.kind != first[n.start], rank[id(n)]))
    by_pitch = np.argsort(np.asarray([n.pitch for n in objs], dtype=np.int32))
    by_pitch_objs = [objs[i] for i in by_pitch]
    return sorted(by_pitch_objs, key=lambda n: n.start)  # stable, as mergesort; any size of int


def part_notes(p: Played, q: Callable[[Any], np.ndarray], name: str) -> PartNotes:
    """One part's notes (tied groups joined, grace notes included), ordered by onset, then pitch."""
    objs = _partitura_order(
        [n for n in p.notes if n.pitched], [n for n in p.notes if n.pitched and n.tie_prev is None]
    )
    chains = [_chain(n) for n in objs]
    start = np.asarray([n.start for n in objs], dtype=np.float64)
    stop = np.asarray([n.start + sum(m.duration for m in c) for n, c in zip(objs, chains, strict=True)])
    onset = q(start)
    grace = np.asarray([_grace_count(n) if n.kind == "grace" else 0 for n in objs], dtype=np.int64)
    duration = np.maximum(q(stop) - onset, 0.0) if len(objs) else np.zeros(0)
    staff = np.maximum(np.asarray([n.staff for n in objs], dtype=np.int64), 1)
    spans = {
        id(s): s
        for n in objs
        for s in n.slur_starts
        if s is not None and s.start_note is not None and s.end_note is not None
    }
    slurs = sorted(
        (float(q(s.start_note.start)), float(q(s.end_note.start)))  # type: ignore[union-attr]
        for s in spans.values()
    )
    staves = [n.staff for n in p.notes] + p.source.clef_staffs + [d.staff or 1 for d in p.directions]
    return PartNotes(
        name=str(name),
        n_staves=max([1, *staves, int(staff.max(initial=1))]),
        onset=onset,
        duration=np.where(grace > 0, 0.0, duration),
        pitch=np.asarray([n.pitch for n in objs], dtype=np.int64),
        staff=staff,
        grace=grace,
        articulations=[frozenset(n.articulations) for n in objs],
        fermata=np.asarray([n.fermata or n.start in p.fermata_times for n in objs], dtype=bool),
        slur_start=np.asarray([any(s is not None for s in n.slur_starts) for n in objs], dtype=bool),
        slur_end=np.asarray(
            [any(s is not None for m in c for s in m.slur_stops) for c in chains], dtype=bool
        ),
        note_id=np.asarray([str(n.id) for n in objs], dtype=object),
        slurs=slurs,
        marks=_marks(p, q),
        sound_dynamics=sorted(
            (float(q(t)), int(np.clip(round(v * 0.9), 1, 127))) for t, v in p.sound_dynamics if v > 0
        ),
        tied_ids=[tuple(str(m.id) for m in c[1:]) for c in chains],
    )


def _marks(p: Played, q: Callable[[Any], np.ndarray]) -> list[Mark]:
    marks = []
    tempo_words = [d for d in p.directions if d.kind == "tempo"]
    for d in p.directions:
        if d.kind not in MARK_KINDS or d.start is None:
            continue
        text = d.text.strip().lower()
        if d.kind == "tempo_reset":  # "a tempo": the piece's first tempo word, where there is one
            earlier = [w for w in tempo_words if (w.start or 0) < d.start]
            first = [w for w in earlier if w.start == min(x.start or 0 for x in earlier)]
            if first and first[-1].text:  # of two at the same time, partitura finds the later written
                text = first[-1].text.strip().lower()
        end = float(q(d.end)) if d.end is not None and d.end > d.start else None
        marks.append(Mark(d.kind, text, float(q(d.start)), end, d.staff if d.staff else None))
    marks.sort(key=lambda m: (m.start, m.kind))
    return marks


def score_notes(
    played: list[Played], instruments: dict[str, tuple[int | None, int | None]] | None = None
) -> ScoreNotes:
    """Notes, marks, tempo map and time signatures of all parts (``instruments``: program and
    channel by part id)."""
    kept: list[PartNotes] = []
    tempos: dict[float, float] = {}
    time_sigs: dict[float, tuple[int, int]] = {}
    end = 0.0
    for i, p in enumerate(played):
        q = quarters(p)
        end = max(end, float(q(p.last)))
        for t, qpm in sorted(p.tempos):
            if MIN_QPM <= qpm <= MAX_QPM:
                tempos.setdefault(round(float(q(t)), 6), qpm)
        for t, b, bt in sorted(p.time_signatures):
            time_sigs.setdefault(round(float(q(t)), 6), (b, bt))
        notes = part_notes(p, q, p.source.name or f"Part {i + 1}")
        midi = (instruments or {}).get(p.source.id)
        if midi is not None:
            notes.program, notes.channel = midi
        if len(notes):
            kept.append(notes)
    return ScoreNotes(
        parts=kept,
        tempos=sorted(tempos.items()),
        time_signatures=[(k, *v) for k, v in sorted(time_sigs.items())],
        end=end,
    )

"""Per-note features of the score's markings, for a model that reads what a MIDI export loses.

One float32 row per note, computed on the unfolded part so rows line up with
the played notes. Columns (``MARKING_NAMES``):

- ``dynamic``: velocity of the written dynamic in force (MuseScore's table,
  ``dynamics.VELOCITY``) / 127; ``dynamic_unknown``: 1 before any mark (then
  ``dynamic`` is mf's 80/127); ``since_dynamic``: quarters since the level last
  changed (since the start when it never did).
- ``crescendo`` / ``diminuendo``: under a hairpin or cresc./dim. word (a word
  without an extent lasts until the next dynamic mark, at most
  ``WORD_REACH`` quarters; a hairpin stops after its last note, MusicXML's wedge
  stop); ``hairpin_position``: 0 at its start, rising towards 1 at its end.
- ``accent``, ``marcato`` (strong accent), ``sforzando`` (sf, sfz, fz, rf...
  on the note's chord), ``fp`` (fp, sfp...), ``staccato`` (also staccatissimo,
  spiccato, detached legato), ``tenuto`` (also detached legato).
- ``slur_start``, ``slur_inside`` (strictly between a slur's first and last
  note), ``slur_end``; ``fermata``; ``grace``.
- ``tempo_start``: the first chord under a new tempo word or metronome mark;
  ``tempo_class``: the tempo word in force from 0 (grave) to 1 (presto), 0.5
  when there is none or it is not a known word; ``ritardando`` /
  ``accelerando``: under rit./accel. (until the next tempo mark, at most
  ``WORD_REACH`` quarters, when it has no extent).
"""

from __future__ import annotations

import numpy as np

from autodynamics_cli.musicxml.dynamics import DEFAULT_VELOCITY, chord_mask, impulses, level_events
from autodynamics_cli.musicxml.parts import PartNotes, ScoreNotes

MARKING_NAMES = (
    "dynamic",
    "dynamic_unknown",
    "since_dynamic",
    "crescendo",
    "diminuendo",
    "hairpin_position",
    "accent",
    "marcato",
    "sforzando",
    "fp",
    "staccato",
    "tenuto",
    "slur_start",
    "slur_inside",
    "slur_end",
    "fermata",
    "grace",
    "tempo_start",
    "tempo_class",
    "ritardando",
    "accelerando",
)
WORD_REACH = 8.0  # quarters: how long a cresc./rit. word without an extent lasts at most
TEMPO_REACH = 4.0  # quarters: a tempo word before a rest still marks the chord after it
EPS = 1e-6
# the first keyword found in a tempo word gives its class (more specific words first)
TEMPO_CLASSES = (
    ("prestissimo", 1.0),
    ("presto", 1.0),
    ("vivace", 0.95),
    ("vivo", 0.95),
    ("allegretto", 0.65),
    ("allegro", 0.8),
    ("moderato", 0.5),
    ("andantino", 0.45),
    ("maestoso", 0.4),
    ("andante", 0.375),
    ("adagietto", 0.3),
    ("larghetto", 0.25),
    ("adagio", 0.2),
    ("lento", 0.1),
    ("largo", 0.05),
    ("grave", 0.0),
)
STACCATO = {"staccato", "staccatissimo", "spiccato", "detached-legato"}
TENUTO = {"tenuto", "detached-legato"}
SFORZANDO = {"sf", "sfz", "sffz", "sff", "fz", "rf", "rfz", "sfp", "sfpp", "sfzp"}
FP = {"fp", "sfp", "sfpp", "sfzp", "pf"}


def tempo_class(text: str) -> float:
    """0 (grave) .. 1 (presto) for a tempo word, 0.5 for one autodyn does not know."""
    return next((v for word, v in TEMPO_CLASSES if word in text), 0.5)


def _dynamics(part: PartNotes, cols: dict[str, np.ndarray]) -> None:
    times, values = level_events(part)
    i = np.searchsorted(times, part.onset + EPS, side="right") - 1
    known = i >= 0
    cols["dynamic"][:] = (
        np.where(known, values[np.maximum(i, 0)] if len(values) else 0, DEFAULT_VELOCITY) / 127.0
    )
    cols["dynamic_unknown"][:] = ~known
    cols["since_dynamic"][:] = part.onset - np.where(known, times[np.maximum(i, 0)] if len(times) else 0, 0.0)
    for m in part.marks:
        if m.kind not in ("cresc", "dim"):
            continue
        end = m.end if m.end is not None else _word_end(m.start, times)
        inside = (part.onset >= m.start - EPS) & (part.onset < end - EPS)  # it stops after its last note
        cols["crescendo" if m.kind == "cresc" else "diminuendo"][inside] = 1.0
        cols["hairpin_position"][inside] = np.clip(
            (part.onset[inside] - m.start) / max(end - m.start, EPS), 0.0, 1.0
        )
    for t, _, text in impulses(part):
        chord = chord_mask(part.onset, t)
        if text in SFORZANDO:
            cols["sforzando"][chord] = 1.0
        if text in FP:
            cols["fp"][chord] = 1.0


def _word_end(start: float, times: np.ndarray) -> float:
    """Where a mark without an extent stops: the next of ``times`` after it, at most ``WORD_REACH`` on."""
    later = times[times > start + EPS]
    return float(min(later[0], start + WORD_REACH)) if len(later) else start + WORD_REACH


def _notes(part: PartNotes, cols: dict[str, np.ndarray]) -> None:
    arts = part.articulations
    cols["accent"][:] = [("accent" in a) for a in arts]
    cols["marcato"][:] = [("strong-accent" in a) for a in arts]
    cols["staccato"][:] = [bool(a & STACCATO) for a in arts]
    cols["tenuto"][:] = [bool(a & TENUTO) for a in arts]
    cols["slur_start"][:] = part.slur_start
    cols["slur_end"][:] = part.slur_end
    for s, e in part.slurs:
        cols["slur_inside"][(part.onset > s + EPS) & (part.onset < e - EPS)] = 1.0
    cols["fermata"][:] = part.fermata
    cols["grace"][:] = part.grace > 0


def _tempo(part: PartNotes, tempo_marks: list[float], cols: dict[str, np.ndarray]) -> None:
    words = [m for m in part.marks if m.kind in ("tempo", "tempo_reset")]
    starts = sorted({m.start for m in words} | set(tempo_marks))
    for t in starts:
        cols["tempo_start"][chord_mask(part.onset, t, reach=TEMPO_REACH)] = 1.0
    cols["tempo_class"][:] = 0.5
    for m in words:  # in time order: a later word overrides
        cols["tempo_class"][part.onset >= m.start - EPS] = tempo_class(m.text)
    times = np.asarray(starts, dtype=np.float64)
    for m in part.marks:
        if m.kind in ("rit", "accel"):
            end = m.end if m.end is not None else _word_end(m.start, times)
            inside = (part.onset >= m.start - EPS) & (part.onset < end - EPS)
            cols["ritardando" if m.kind == "rit" else "accelerando"][inside] = 1.0


def part_markings(part: PartNotes, tempo_marks: list[float]) -> np.ndarray:
    """``(len(part), len(MARKING_NAMES))`` float32 markings of one part's notes, in its order."""
    cols = {name: np.zeros(len(part), dtype=np.float64) for name in MARKING_NAMES}
    _dynamics(part, cols)
    _notes(part, cols)
    _tempo(part, tempo_marks, cols)
    return np.stack([cols[name] for name in MARKING_NAMES], axis=1).astype(np.float32)


def markings(score: ScoreNotes) -> np.ndarray:
    """The markings of every note of the score, parts concatenated (as ``playback.play`` numbers them)."""
    tempo_marks = [q for q, _ in score.tempos]
    rows = [part_markings(p, tempo_marks) for p in score.parts]
    return np.concatenate(rows) if rows else np.zeros((0, len(MARKING_NAMES)), dtype=np.float32)

"""What autodyn keeps of a MusicXML score: plain arrays and marks, no partitura objects.

``read.py`` fills these (``timeline.py``, ``played.py``); ``playback.py`` and
``markings.py`` only read them, so both are pure numpy and testable without
lxml. Times are in quarter notes from the start of the piece (a pickup
bar starts at 0), after the repeats were unfolded when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Mark kinds: a constant dynamic (p, f...), an impulsive one on one chord (sf, fz, fp...),
# a hairpin or cresc./dim. word, a tempo word (Allegro), "a tempo"/"tempo I", rit. and accel.
MARK_KINDS = ("dynamic", "impulsive", "cresc", "dim", "tempo", "tempo_reset", "rit", "accel")


@dataclass(frozen=True)
class Mark:
    """A direction of the score; ``text`` normalized as partitura does it ("cresc." -> "crescendo")."""

    kind: str
    text: str
    start: float  # quarters
    end: float | None = None  # quarters; None: the score gives no extent (a "cresc." word)
    staff: int | None = None  # the staff it is written for, None: the whole part


@dataclass
class PartNotes:
    """One part's played notes (tied notes joined, grace notes included), one entry per note."""

    name: str
    n_staves: int
    onset: np.ndarray  # quarters, float64; a grace note has its main note's onset
    duration: np.ndarray  # quarters, float64 (tied length); 0 for grace notes
    pitch: np.ndarray  # MIDI pitch, int64
    staff: np.ndarray  # 1-based, int64
    grace: np.ndarray  # 0: a normal note; k > 0: a grace note, the k-th before its main note
    articulations: list[frozenset[str]]  # MusicXML articulation names (accent, staccato...)
    fermata: np.ndarray  # bool
    slur_start: np.ndarray  # bool: a slur begins on this note
    slur_end: np.ndarray  # bool: a slur ends on this note
    note_id: np.ndarray  # the file's note id or one made up ("-k": the k-th pass when unfolded), str
    slurs: list[tuple[float, float]] = field(default_factory=list)  # (start, end) quarters
    marks: list[Mark] = field(default_factory=list)
    sound_dynamics: list[tuple[float, int]] = field(default_factory=list)  # (quarters, velocity)
    tied_ids: list[tuple[str, ...]] = field(default_factory=list)  # per note: the ids of the notes tied on
    program: int | None = None  # its MIDI program, 0-127 (instruments.py); None: not given (piano)
    channel: int | None = None  # its MIDI channel, 0-15; None: not given (one is chosen)

    def __len__(self) -> int:
        return len(self.pitch)


@dataclass
class ScoreNotes:
    """The whole score as played: its parts, tempo map, time signatures and length."""

    parts: list[PartNotes]
    tempos: list[tuple[float, float]]  # (quarters, quarter notes per minute), ascending
    time_signatures: list[tuple[float, int, int]]  # (quarters, numerator, denominator)
    end: float  # quarters, the end of the last bar
    warnings: tuple[str, ...] = ()  # what was repaired or played otherwise than written (read.load_score)

"""The notes autodyn models: one entry per piano note of a file, and the parsed file around them."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np


@dataclass
class Notes:
    """Modelled piano notes of a file, one entry per note, in no particular order."""

    onset: np.ndarray  # seconds, float64
    offset: np.ndarray  # seconds, float64
    pitch: np.ndarray  # MIDI pitch 21..108, int64
    velocity: np.ndarray  # input velocity 1..127, int64
    channel: np.ndarray  # 0..15, int64
    track: np.ndarray  # track index, int64
    byte_offset: np.ndarray  # offset of the note_on's velocity byte in the file, int64

    def __len__(self) -> int:
        return len(self.pitch)

    @classmethod
    def table(cls, onset, offset, pitch, velocity=64, channel=0, track=0) -> Notes:
        """A note table from plain sequences (seconds, MIDI pitches); scalars apply to every note.

        For notes that come from no file: ``byte_offset`` is -1.
        """
        on = np.asarray(onset, dtype=np.float64)
        n = len(on)

        def col(x) -> np.ndarray:
            return np.broadcast_to(np.asarray(x, dtype=np.int64), (n,)).copy()

        return cls(
            on,
            np.asarray(offset, dtype=np.float64),
            col(pitch),
            col(velocity),
            col(channel),
            col(track),
            np.full(n, -1, dtype=np.int64),
        )


@dataclass
class MidiScore:
    """A parsed MIDI file: its bytes, the notes to model and what was left alone."""

    data: bytes
    notes: Notes
    programs: np.ndarray  # per note: the GM program (0..127) in force on its channel, -1: none
    n_tracks: int
    n_drum_notes: int
    n_out_of_range_notes: int
    duration: float  # seconds, end of the last event
    # what the reader tolerated, one line each ("tolerated: header says 3 tracks, the file has 2")
    warnings: tuple[str, ...] = ()
    # type 2: each track is a sequence of its own, timed from 0 (humanize each track as a piece)
    independent_tracks: bool = False


def subset(notes: Notes, mask: np.ndarray) -> Notes:
    """The notes where ``mask`` is true, every field aligned."""
    values = {f.name: getattr(notes, f.name) for f in fields(notes)}
    per_note = {k: v[mask] for k, v in values.items() if isinstance(v, np.ndarray) and len(v) == len(mask)}
    return replace(notes, **per_note)

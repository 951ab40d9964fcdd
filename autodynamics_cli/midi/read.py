"""Read the notes of a MIDI file: the byte scan for the events, a tempo map for tick-to-second times.

``smf.scan`` reads the file's chunks and events from its raw bytes, tolerantly (its
docstring says what it tolerates), and finds each note_on's velocity byte, which
``write.py`` later patches; byte offsets always point into the original bytes,
unknown chunks, trailing bytes and all. This module turns the events into notes:

- type 0 and 1 (and an unknown type number, read as 1): the tracks are merged into
  one timeline, with one tempo map made of every track's tempo events;
- type 2 (independent one-track sequences): each track is its own sequence, timed
  from 0 with its own tempo events only; its notes, program changes and note-offs
  pair within it. The note table covers every track (``Notes.track`` tells them
  apart) and ``MidiScore.independent_tracks`` says so, for whoever humanizes the
  file to treat each track as a piece of its own;
- SMPTE time division: a tick is 1 / (frames per second x ticks per frame) seconds,
  29 frames meaning 29.97 drop-frame (30000/1001); tempo events change nothing.
"""

from __future__ import annotations

import os
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autodynamics_cli.encoding.grid import HIGHEST_KEY, LOWEST_KEY
from autodynamics_cli.errors import MidiReadError
from autodynamics_cli.midi.notes import MidiScore, Notes
from autodynamics_cli.midi.smf import NOTE_ON, PROGRAM, Header, Scan, ScanError, scan

DRUM_CHANNEL = 9  # channel 10, counted from 1
DEFAULT_TEMPO = 500_000  # microseconds per beat
DEFAULT_TICKS_PER_BEAT = 480  # for a header whose time division is 0
SMPTE_FPS = {24: 24.0, 25: 25.0, 29: 30000 / 1001, 30: 30.0}  # 29: 29.97 drop-frame

# Limits that keep an absurd input from exhausting memory (documented in docs/cli.md).
MAX_FILE_BYTES = 64 * 2**20  # 64 MiB
MAX_EVENTS = 10_000_000  # MIDI events of all tracks
MAX_NOTES = 2_000_000  # note_on events with a velocity above 0


def tempo_map_seconds(
    ticks: np.ndarray, tempo_ticks: list[int], tempos: list[int], ticks_per_beat: int
) -> np.ndarray:
    """Convert absolute ticks to seconds through a tempo map.

    ``tempo_ticks`` (ascending) and ``tempos`` (microseconds per beat) list the
    tempo changes; before the first one the MIDI default of 120 bpm holds. A
    change takes effect at its own tick.
    """
    change_ticks = np.asarray([0, *tempo_ticks], dtype=np.float64)
    change_tempos = np.asarray([DEFAULT_TEMPO, *tempos], dtype=np.float64)
    sec_per_tick = change_tempos / 1e6 / ticks_per_beat
    seg_start_sec = np.concatenate(([0.0], np.cumsum(np.diff(change_ticks) * sec_per_tick[:-1])))
    ticks = np.asarray(ticks, dtype=np.float64)
    idx = np.searchsorted(change_ticks, ticks, side="right") - 1
    return seg_start_sec[idx] + (ticks - change_ticks[idx]) * sec_per_tick[idx]


@dataclass(frozen=True)
class Timing:
    """How a file's ticks become seconds: ticks per beat through a tempo map, or SMPTE ticks per second."""

    ticks_per_beat: int  # 0 under SMPTE time division
    ticks_per_second: float = 0.0  # SMPTE only

    def seconds(self, ticks: np.ndarray, tempo_ticks: list[int], tempos: list[int]) -> np.ndarray:
        if self.ticks_per_second:
            return np.asarray(ticks, dtype=np.float64) / self.ticks_per_second
        return tempo_map_seconds(ticks, tempo_ticks, tempos, self.ticks_per_beat)


def file_timing(header: Header, warnings: list[str] | None = None) -> Timing:
    """The header's time division as a ``Timing``; what had to be assumed goes to ``warnings``."""
    warn = warnings.append if warnings is not None else (lambda _line: None)
    division = header.division
    if not division & 0x8000:
        if division:
            return Timing(division)
        warn(f"tolerated: a time division of 0 ticks per beat, read as {DEFAULT_TICKS_PER_BEAT}")
        return Timing(DEFAULT_TICKS_PER_BEAT)
    frames, per_frame = 256 - (division >> 8), division & 0xFF
    fps = SMPTE_FPS.get(frames)
    if fps is None:
        warn(
            f"tolerated: an SMPTE time division of {frames} frames per second (24, 25, 29.97 or 30 expected)"
        )
        fps = float(frames)
    if not per_frame:
        warn(
            "tolerated: an SMPTE time division of 0 ticks per frame, "
            f"read as {DEFAULT_TICKS_PER_BEAT} ticks per beat"
        )
        return Timing(DEFAULT_TICKS_PER_BEAT)
    return Timing(0, fps * per_frame)


def read_input(path: str | Path) -> bytes:
    """The bytes of a file, refusing one over ``MAX_FILE_BYTES`` before reading it all."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise MidiReadError(path, _too_large(size))
            return f.read(MAX_FILE_BYTES + 1)  # a pipe or device has no size: bound the read
    except OSError as e:
        raise MidiReadError(path, e.strerror or str(e)) from None


def _too_large(size: int) -> str:
    return f"too large ({size / 2**20:,.1f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB)"


def read_midi(path: str | Path, data: bytes | None = None) -> MidiScore:
    """Parse a MIDI file (type 0, 1 or 2) into the notes autodyn models.

    Faults the reader can make sense of are tolerated, one line each in
    ``MidiScore.warnings``. Raises ``MidiReadError`` with a one-line reason (with the
    byte offset and what was found there) for anything it cannot read, and for files
    over the size, event or note limits (checked by the byte scan before it keeps
    the events, so an absurd file costs seconds, not all the memory there is).
    """
    if data is None:
        data = read_input(path)
    if len(data) > MAX_FILE_BYTES:
        raise MidiReadError(path, _too_large(len(data)))
    if len(data) == 0:
        raise MidiReadError(path, "file is empty")
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        raise MidiReadError(
            path, "RIFF MIDI (.rmi) is not supported; extract the standard MIDI file inside it first"
        )
    try:
        scanned = scan(data, MAX_EVENTS, MAX_NOTES)
    except ScanError as e:
        raise MidiReadError(path, str(e)) from None
    if scanned.n_events > MAX_EVENTS:
        raise MidiReadError(path, f"too many events ({scanned.n_events:,}; the limit is {MAX_EVENTS:,})")
    if scanned.n_notes > MAX_NOTES:
        raise MidiReadError(path, f"too many notes ({scanned.n_notes:,}; the limit is {MAX_NOTES:,})")
    warnings: list[str] = []
    fmt = scanned.header.format
    if fmt > 2:
        warnings.append(f"tolerated: unknown MIDI file type {fmt}, read as type 1")
    elif fmt == 0 and len(scanned.tracks) > 1:
        warnings.append(f"tolerated: a type 0 file with {len(scanned.tracks):,} tracks, read as type 1")
    timing = file_timing(scanned.header, warnings)
    return _collect_notes(data, scanned, timing, fmt == 2, [*warnings, *scanned.warnings])


@dataclass
class _Sequence:
    """The notes of one timeline (all tracks, or one track of a type 2 file), in merge order."""

    on_tick: np.ndarray
    off_tick: np.ndarray
    rows: np.ndarray  # (n, 5): pitch, channel, track, velocity byte offset, program
    onset: np.ndarray
    offset: np.ndarray
    duration: float


def _sequence(scanned: Scan, track_ids: list[int], timing: Timing) -> _Sequence:
    """Merge the tracks' events by (tick, track, index) and pair note-ons with note-offs."""
    tracks = scanned.tracks
    events = [(*e, t, i) for t in track_ids for i, e in enumerate(tracks[t].events)]
    events.sort(key=lambda e: (e[0], e[5], e[6]))
    tempo_events = sorted(
        (tick, t, i, tempo) for t in track_ids for i, (tick, tempo) in enumerate(tracks[t].tempos)
    )
    tempo_ticks = [e[0] for e in tempo_events]
    tempos = [e[3] for e in tempo_events]

    open_notes: dict[tuple[int, int], deque[int]] = defaultdict(deque)
    on_tick: list[int] = []
    off_tick: list[int] = []
    rows: list[tuple[int, int, int, int]] = []  # pitch, channel, track, byte offset
    program_changes: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for tick, kind, ch, number, off, track_i, _i in events:
        if kind == NOTE_ON:
            open_notes[(ch, number)].append(len(on_tick))
            on_tick.append(tick)
            off_tick.append(-1)
            rows.append((number, ch, track_i, off))
        elif kind == PROGRAM:
            program_changes[ch][0].append(tick)
            program_changes[ch][1].append(number)
        else:
            queue = open_notes.get((ch, number))
            if queue:  # a note-off without a note-on is ignored
                off_tick[queue.popleft()] = tick
    track_end = [tracks[t].end_tick for t in range(len(tracks))]
    for j, row in enumerate(rows):
        if off_tick[j] < 0:  # never released: ends at the end of its track
            off_tick[j] = max(track_end[row[2]], on_tick[j])
    on = np.asarray(on_tick, dtype=np.int64)
    arr = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    programs = _programs(on, arr[:, 1], program_changes)
    secs = timing.seconds(np.concatenate([on, np.asarray(off_tick, dtype=np.int64)]), tempo_ticks, tempos)
    end_tick = max((track_end[t] for t in track_ids), default=0)
    duration = float(timing.seconds(np.asarray([end_tick]), tempo_ticks, tempos)[0])
    return _Sequence(
        on,
        np.asarray(off_tick, dtype=np.int64),
        np.column_stack([arr, programs]),
        secs[: len(on)],
        secs[len(on) :],
        duration,
    )


def _programs(
    on_tick: np.ndarray, channel: np.ndarray, changes: dict[int, tuple[list[int], list[int]]]
) -> np.ndarray:
    """The program in force for each note: the last program change on its channel at or before its onset
    tick, whatever the order of the two within that tick (-1: none yet)."""
    out = np.full(len(on_tick), -1, dtype=np.int64)
    for ch, (ticks, programs) in changes.items():
        mask = channel == ch
        k = np.searchsorted(np.asarray(ticks, dtype=np.int64), on_tick[mask], side="right") - 1
        out[mask] = np.where(k >= 0, np.asarray(programs, dtype=np.int64)[np.maximum(k, 0)], -1)
    return out


def _collect_notes(
    data: bytes, scanned: Scan, timing: Timing, independent: bool, warnings: list[str]
) -> MidiScore:
    n = len(scanned.tracks)
    groups = [[t] for t in range(n)] if independent else [list(range(n))]
    seqs = [_sequence(scanned, g, timing) for g in groups]
    rows = np.concatenate([s.rows for s in seqs]) if seqs else np.zeros((0, 5), dtype=np.int64)
    onset = np.concatenate([s.onset for s in seqs]) if seqs else np.zeros(0)
    offset = np.concatenate([s.offset for s in seqs]) if seqs else np.zeros(0)
    pitch, channel, track, byte_off, programs = rows.T
    drum = channel == DRUM_CHANNEL
    in_range = (pitch >= LOWEST_KEY) & (pitch <= HIGHEST_KEY)
    keep = ~drum & in_range
    vel = np.minimum(np.frombuffer(data, dtype=np.uint8)[byte_off].astype(np.int64), 127)
    notes = Notes(
        onset=onset[keep],
        offset=offset[keep],
        pitch=pitch[keep],
        velocity=vel[keep],
        channel=channel[keep],
        track=track[keep],
        byte_offset=byte_off[keep],
    )
    return MidiScore(
        data=data,
        notes=notes,
        programs=programs[keep],
        n_tracks=n,
        n_drum_notes=int(drum.sum()),
        n_out_of_range_notes=int((~drum & ~in_range).sum()),
        duration=max((s.duration for s in seqs), default=0.0),
        warnings=tuple(warnings),
        independent_tracks=independent,
    )


def track_names(data: bytes) -> list[str]:
    """The first ``track_name`` of each track ('' when it has none), tracks as ``read_midi`` reads them."""
    return [t.name or "" for t in scan(data).tracks]

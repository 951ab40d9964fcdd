"""Read the notes of a MIDI file, and write velocities back into its bytes.

Reading uses mido for the events and a tempo map for tick-to-second times.
Writing never re-serialises: it patches the velocity byte of each modelled
note_on in a copy of the input's bytes (see ``midi_bytes.py``), so every
other byte of the file survives unchanged.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from autodynamics_cli.errors import MidiReadError, OutputError
from autodynamics_cli.midi_bytes import ScanError, note_on_velocity_offsets, patch_velocities

LOWEST_KEY = 21  # A0
HIGHEST_KEY = 108  # C8
DRUM_CHANNEL = 9  # channel 10, counted from 1
DEFAULT_TEMPO = 500_000  # microseconds per beat


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


@dataclass
class MidiScore:
    """A parsed MIDI file: its bytes, the notes to model and what was left alone."""

    data: bytes
    notes: Notes
    n_tracks: int
    n_drum_notes: int
    n_out_of_range_notes: int
    duration: float  # seconds, end of the last event


def tempo_map_seconds(ticks: np.ndarray, tempo_ticks: list[int], tempos: list[int],
                      ticks_per_beat: int) -> np.ndarray:
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


def read_midi(path: str | Path, data: bytes | None = None) -> MidiScore:
    """Parse a type 0 or type 1 MIDI file into the notes autodyn models.

    Raises ``MidiReadError`` with a one-line reason for anything it cannot read.
    """
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise MidiReadError(path, e.strerror or str(e)) from None
    if len(data) == 0:
        raise MidiReadError(path, "file is empty")
    if data[:4] != b"MThd":
        raise MidiReadError(path, "not a MIDI file (no MThd header)")
    if len(data) >= 14 and data[12] & 0x80:
        raise MidiReadError(path, "SMPTE time division is not supported")
    try:
        mid = mido.MidiFile(file=io.BytesIO(data))
    except Exception as e:  # mido raises OSError, EOFError, ValueError, KeyError...
        raise MidiReadError(path, f"corrupt MIDI file ({_describe(e)})") from None
    if mid.type == 2:
        raise MidiReadError(path, "MIDI type 2 (asynchronous tracks) is not supported")
    if mid.type not in (0, 1):
        raise MidiReadError(path, f"unknown MIDI file type {mid.type}")
    if mid.ticks_per_beat <= 0:
        raise MidiReadError(path, "invalid time division (ticks per beat must be positive)")
    try:
        offsets = note_on_velocity_offsets(data)
    except ScanError as e:
        raise MidiReadError(path, f"corrupt MIDI file ({e})") from None
    return _collect_notes(path, data, mid, offsets)


def _describe(e: Exception) -> str:
    text = str(e).strip()
    if isinstance(e, EOFError) or not text:
        return "unexpected end of file" if isinstance(e, EOFError) else type(e).__name__
    return text.splitlines()[0]


def _collect_notes(path: str | Path, data: bytes, mid: mido.MidiFile,
                   offsets: list[list[int]]) -> MidiScore:
    # Gather events with absolute ticks; sort by (tick, track, index) like a merge.
    events: list[tuple[int, int, int, int, int, int, int]] = []  # tick,track,idx,kind,ch,note,vel
    tempo_events: list[tuple[int, int, int, int]] = []
    track_end: list[int] = []
    for t, track in enumerate(mid.tracks):
        tick = 0
        k_on = 0
        track_offsets = offsets[t]
        for i, msg in enumerate(track):
            tick += msg.time
            if msg.type == "note_on":
                if k_on >= len(track_offsets) or data[track_offsets[k_on]] != msg.velocity:
                    raise MidiReadError(path, "corrupt MIDI file (note events do not line up)")
                kind = 1 if msg.velocity > 0 else 0
                events.append((tick, t, i, kind, msg.channel, msg.note, track_offsets[k_on]))
                k_on += 1
            elif msg.type == "note_off":
                events.append((tick, t, i, 0, msg.channel, msg.note, -1))
            elif msg.type == "set_tempo":
                tempo_events.append((tick, t, i, msg.tempo))
        if k_on != len(track_offsets):
            raise MidiReadError(path, "corrupt MIDI file (note events do not line up)")
        track_end.append(tick)
    events.sort()
    tempo_events.sort()
    tempo_ticks = [e[0] for e in tempo_events]
    tempos = [e[3] for e in tempo_events]

    open_notes: dict[tuple[int, int], deque[int]] = defaultdict(deque)
    on_tick: list[int] = []
    off_tick: list[int] = []
    rows: list[tuple[int, int, int, int]] = []  # pitch, channel, track, byte offset
    for tick, track_i, _i, kind, ch, note, off in events:
        if kind == 1:
            open_notes[(ch, note)].append(len(on_tick))
            on_tick.append(tick)
            off_tick.append(-1)
            rows.append((note, ch, track_i, off))
        else:
            queue = open_notes.get((ch, note))
            if queue:  # a note-off without a note-on is ignored
                off_tick[queue.popleft()] = tick
    for j, row in enumerate(rows):
        if off_tick[j] < 0:  # never released: ends at the end of its track
            off_tick[j] = max(track_end[row[2]], on_tick[j])

    arr = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    pitch, channel, track, byte_off = arr.T
    drum = channel == DRUM_CHANNEL
    in_range = (pitch >= LOWEST_KEY) & (pitch <= HIGHEST_KEY)
    keep = ~drum & in_range
    ticks = np.concatenate([np.asarray(on_tick, dtype=np.int64), np.asarray(off_tick, dtype=np.int64)])
    secs = tempo_map_seconds(ticks, tempo_ticks, tempos, mid.ticks_per_beat)
    onset, offset = secs[: len(on_tick)], secs[len(on_tick):]
    vel = np.frombuffer(data, dtype=np.uint8)[byte_off].astype(np.int64) if len(byte_off) else \
        np.zeros(0, dtype=np.int64)
    notes = Notes(
        onset=onset[keep], offset=offset[keep], pitch=pitch[keep], velocity=vel[keep],
        channel=channel[keep], track=track[keep], byte_offset=byte_off[keep],
    )
    end_tick = max(track_end) if track_end else 0
    duration = float(tempo_map_seconds(np.asarray([end_tick]), tempo_ticks, tempos,
                                       mid.ticks_per_beat)[0])
    return MidiScore(
        data=data, notes=notes, n_tracks=len(mid.tracks),
        n_drum_notes=int(drum.sum()), n_out_of_range_notes=int((~drum & ~in_range).sum()),
        duration=duration,
    )


def with_velocities(score: MidiScore, velocities: np.ndarray) -> bytes:
    """The file's bytes with each modelled note's velocity replaced."""
    return patch_velocities(score.data, score.notes.byte_offset.tolist(),
                            np.asarray(velocities).astype(int).tolist())


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename.

    A reader never sees a half-written file, and an interrupted write leaves
    no file behind.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""Read the notes of a MIDI file: mido for the events, a tempo map for tick-to-second times.

A byte scan (``smf.py``) runs first: it refuses absurd files cheaply and finds
each note_on's velocity byte, which ``write.py`` later patches. mido reads the
bytes without any unknown (non-MTrk) chunks, which it would refuse; byte offsets
always point into the original bytes, chunks and all.
"""

from __future__ import annotations

import io
import os
from collections import defaultdict, deque
from pathlib import Path

import mido
import numpy as np

from autodynamics_cli.encoding.grid import HIGHEST_KEY, LOWEST_KEY
from autodynamics_cli.errors import MidiReadError
from autodynamics_cli.midi.notes import MidiScore, Notes
from autodynamics_cli.midi.smf import ScanError, read_header, scan, without_unknown_chunks

DRUM_CHANNEL = 9  # channel 10, counted from 1
DEFAULT_TEMPO = 500_000  # microseconds per beat

# Limits that keep an absurd input from exhausting memory (documented in docs/cli.md).
MAX_FILE_BYTES = 64 * 2**20  # 64 MiB
MAX_EVENTS = 10_000_000  # MIDI events of all tracks (mido holds each as a Python object)
MAX_NOTES = 2_000_000  # note_on events with a velocity above 0
MAX_TRACKS = 32_767  # mido reads the track count as a signed 16-bit number


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
    """Parse a type 0 or type 1 MIDI file into the notes autodyn models.

    Raises ``MidiReadError`` with a one-line reason for anything it cannot read,
    including files over the size, event or note limits (checked by a cheap byte
    scan before mido builds a Python object per event, so an absurd file costs
    seconds, not all the memory there is).
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
    if data[:4] != b"MThd":
        raise MidiReadError(path, "not a MIDI file (no MThd header)")
    try:
        header = read_header(data)
    except ScanError as e:
        raise MidiReadError(path, str(e)) from None
    if header.format == 2:
        raise MidiReadError(path, "MIDI type 2 (asynchronous tracks) is not supported")
    if header.format > 2:
        raise MidiReadError(path, f"bad header: unknown MIDI file type {header.format}")
    if header.division & 0x8000:
        raise MidiReadError(path, "SMPTE time division is not supported")
    if header.division == 0:
        raise MidiReadError(path, "bad header: invalid time division (0 ticks per beat)")
    if header.n_tracks > MAX_TRACKS:
        raise MidiReadError(
            path, f"bad header: {header.n_tracks:,} tracks (the format allows {MAX_TRACKS:,})"
        )
    try:
        scanned = scan(data)
    except ScanError as e:
        raise MidiReadError(path, str(e)) from None
    if scanned.n_events > MAX_EVENTS:
        raise MidiReadError(path, f"too many events ({scanned.n_events:,}; the limit is {MAX_EVENTS:,})")
    if scanned.n_notes > MAX_NOTES:
        raise MidiReadError(path, f"too many notes ({scanned.n_notes:,}; the limit is {MAX_NOTES:,})")
    try:
        mid = mido.MidiFile(file=io.BytesIO(without_unknown_chunks(data, scanned.unknown_chunks)))
    except Exception as e:  # mido raises OSError, EOFError, ValueError, KeyError...
        raise MidiReadError(path, f"corrupt MIDI file ({_describe(e)})") from None
    if len(mid.tracks) != len(scanned.offsets):
        raise MidiReadError(path, "corrupt MIDI file (track count does not line up)")
    return _collect_notes(path, data, mid, scanned.offsets)


def require_notes(path: str | Path, score: MidiScore) -> None:
    """Refuse a file with no notes at all.

    Such a file (a tempo map, an empty export) is almost surely not what the user
    meant to humanize, so it is an error. A file whose notes are all drums or all
    outside the 88 keys is still music: the caller copies it with a warning, so a
    batch does not fail on a drum loop.
    """
    if len(score.notes) or score.n_out_of_range_notes or score.n_drum_notes:
        return
    raise MidiReadError(path, "no notes; nothing to humanize")


def _describe(e: Exception) -> str:
    text = str(e).strip()
    if isinstance(e, EOFError) or not text:
        return "unexpected end of file" if isinstance(e, EOFError) else type(e).__name__
    return text.splitlines()[0]


def _collect_notes(path: str | Path, data: bytes, mid: mido.MidiFile, offsets: list[list[int]]) -> MidiScore:
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
            elif msg.type == "program_change":
                events.append((tick, t, i, 2, msg.channel, msg.program, -1))
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
    rows: list[tuple[int, int, int, int, int]] = []  # pitch, channel, track, byte offset, program
    program = [-1] * 16  # in force on each channel; -1: no program change yet
    for tick, track_i, _i, kind, ch, note, off in events:
        if kind == 1:
            open_notes[(ch, note)].append(len(on_tick))
            on_tick.append(tick)
            off_tick.append(-1)
            rows.append((note, ch, track_i, off, program[ch]))
        elif kind == 2:
            program[ch] = note
        else:
            queue = open_notes.get((ch, note))
            if queue:  # a note-off without a note-on is ignored
                off_tick[queue.popleft()] = tick
    for j, row in enumerate(rows):
        if off_tick[j] < 0:  # never released: ends at the end of its track
            off_tick[j] = max(track_end[row[2]], on_tick[j])

    arr = np.asarray(rows, dtype=np.int64).reshape(-1, 5)
    pitch, channel, track, byte_off, programs = arr.T
    drum = channel == DRUM_CHANNEL
    in_range = (pitch >= LOWEST_KEY) & (pitch <= HIGHEST_KEY)
    keep = ~drum & in_range
    ticks = np.concatenate([np.asarray(on_tick, dtype=np.int64), np.asarray(off_tick, dtype=np.int64)])
    secs = tempo_map_seconds(ticks, tempo_ticks, tempos, mid.ticks_per_beat)
    onset, offset = secs[: len(on_tick)], secs[len(on_tick) :]
    vel = (
        np.frombuffer(data, dtype=np.uint8)[byte_off].astype(np.int64)
        if len(byte_off)
        else np.zeros(0, dtype=np.int64)
    )
    notes = Notes(
        onset=onset[keep],
        offset=offset[keep],
        pitch=pitch[keep],
        velocity=vel[keep],
        channel=channel[keep],
        track=track[keep],
        byte_offset=byte_off[keep],
    )
    end_tick = max(track_end) if track_end else 0
    duration = float(tempo_map_seconds(np.asarray([end_tick]), tempo_ticks, tempos, mid.ticks_per_beat)[0])
    return MidiScore(
        data=data,
        notes=notes,
        programs=programs[keep],
        n_tracks=len(mid.tracks),
        n_drum_notes=int(drum.sum()),
        n_out_of_range_notes=int((~drum & ~in_range).sum()),
        duration=duration,
    )


def track_names(data: bytes) -> list[str]:
    """The first ``track_name`` of each track ('' when a track has none); unknown chunks are skipped."""
    mid = mido.MidiFile(file=io.BytesIO(without_unknown_chunks(data)))
    return [next((m.name for m in t if m.type == "track_name"), "") for t in mid.tracks]

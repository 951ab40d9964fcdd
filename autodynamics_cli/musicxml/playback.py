"""Play a read score into MIDI file bytes, as a notation program's MIDI export would.

Type 1, 480 ticks per quarter, one track per staff named after its part, each
part on the channel and program its ``<midi-instrument>`` gives, else on a channel
of its own (channel 10, the drums', skipped) with program 0 (acoustic grand);
tempo and time signature events in the first track, 120 quarters per minute
until the score's first metronome mark. Grace notes sound just before their
main note (a 32nd each, so the main note stays on its beat); staccato notes
sound half their length, staccatissimo a quarter of it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import mido
import numpy as np

from autodynamics_cli.musicxml.dynamics import playback_velocities
from autodynamics_cli.musicxml.parts import ScoreNotes

TICKS_PER_QUARTER = 480
DEFAULT_QPM = 120.0  # MIDI's and partitura's default tempo; tempo words alone do not change it
GRACE_QUARTERS = 0.125  # each grace note: a 32nd before the next one / the main note
MIN_TICKS = 10  # the shortest note written
PROGRAM = 0  # General MIDI acoustic grand piano
NOTE_OFF_VELOCITY = 64  # mido's default, as the files were written before
SHORTEN = {"staccatissimo": 0.25, "staccato": 0.5, "spiccato": 0.5}


@dataclass
class Playback:
    """The MIDI bytes and, per note of the score (parts concatenated), where it went."""

    midi: bytes
    order: np.ndarray  # the score's note indices in the order read_midi lists the file's notes
    channel: np.ndarray  # channel per score note, int64 (DRUMS: not a note read_midi keeps)
    tick: np.ndarray  # onset tick per score note, int64
    track: np.ndarray  # track per score note, int64
    velocity: np.ndarray  # velocity written per score note, int64


def _meta_text(text: str) -> str:
    """Text for a meta event: mido writes latin-1, so pass UTF-8 bytes through as latin-1 characters."""
    return text.encode("utf-8")[:255].decode("utf-8", errors="ignore").encode("utf-8").decode("latin-1")


DRUMS = 9  # channel 10
MELODIC = [c for c in range(16) if c != DRUMS]


def part_channels(score: ScoreNotes) -> list[int]:
    """Each part's channel: its own where the score gives one that no part with another program
    has taken, else the next free one (channel 10 only where the score says so)."""
    taken: dict[int, int] = {}
    out: list[int] = []
    for part in score.parts:
        program = PROGRAM if part.program is None else part.program
        ch = part.channel
        if ch is None or taken.get(ch, program) != program:
            free = [c for c in MELODIC if c not in taken]
            ch = free[0] if free else MELODIC[len(out) % len(MELODIC)]
        taken.setdefault(ch, program)
        out.append(ch)
    return out


def played_onsets(onset: np.ndarray, grace: np.ndarray) -> np.ndarray:
    """Onsets in quarters with each grace note moved just before its main note (never before 0)."""
    return np.maximum(onset - grace * GRACE_QUARTERS, 0.0)


def _lengths(score: ScoreNotes) -> np.ndarray:
    """Sounding length in ticks of every note (parts concatenated)."""
    out = []
    for part in score.parts:
        factor = np.asarray(
            [min((SHORTEN.get(a, 1.0) for a in arts), default=1.0) for arts in part.articulations]
        )
        quarters = np.where(part.grace > 0, GRACE_QUARTERS, part.duration * factor)
        out.append(np.maximum(np.round(quarters * TICKS_PER_QUARTER), MIN_TICKS).astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _conductor(score: ScoreNotes) -> list[tuple[int, mido.MetaMessage]]:
    """Time signature and tempo events (for the first track)."""
    events = []
    for q, num, den in score.time_signatures:
        if 1 <= num <= 255 and den in (1, 2, 4, 8, 16, 32, 64):
            events.append(
                (
                    round(q * TICKS_PER_QUARTER),
                    mido.MetaMessage("time_signature", numerator=num, denominator=den),
                )
            )
    tempos = list(score.tempos)
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0.0, DEFAULT_QPM))
    for q, qpm in tempos:
        events.append(
            (round(q * TICKS_PER_QUARTER), mido.MetaMessage("set_tempo", tempo=int(round(60e6 / qpm))))
        )
    return events


def play(score: ScoreNotes) -> Playback:
    """The score as a type 1 MIDI file, and where each of its notes is in it."""
    names: list[str] = []
    track, channel, tick, vel, pitch = [], [], [], [], []
    channels = part_channels(score)
    for i, part in enumerate(score.parts):
        first = len(names)
        names += (
            [part.name]
            if part.n_staves == 1
            else [f"{part.name} (staff {s})" for s in range(1, part.n_staves + 1)]
        )
        track.append(first + np.minimum(part.staff, part.n_staves) - 1)
        channel.append(np.full(len(part), channels[i], dtype=np.int64))
        tick.append(np.round(played_onsets(part.onset, part.grace) * TICKS_PER_QUARTER).astype(np.int64))
        vel.append(playback_velocities(part))
        pitch.append(np.clip(part.pitch, 0, 127))
    if not names:
        names = ["Piano"]
    track_a, channel_a, tick_a, vel_a, pitch_a = (
        np.concatenate(x) if x else np.zeros(0, dtype=np.int64) for x in (track, channel, tick, vel, pitch)
    )
    off_a = tick_a + _lengths(score)
    idx = np.arange(len(pitch_a))
    chunks = [b"MThd" + struct.pack(">IHHH", 6, 1, len(names), TICKS_PER_QUARTER)]
    part_of_track = (
        np.concatenate([np.full(p.n_staves, i) for i, p in enumerate(score.parts)])
        if score.parts
        else np.zeros(1, dtype=np.int64)
    )
    for k, name in enumerate(names):
        events: list[tuple[int, int, int, int, bytes | mido.MetaMessage]] = [
            (0, 0, 0, -1, mido.MetaMessage("track_name", name=_meta_text(name))),
            (
                0,
                0,
                0,
                0,
                _program_change(score, channels, int(part_of_track[k])),
            ),
        ]
        if k == 0:
            events += [(t, 0, 0, j + 1, msg) for j, (t, msg) in enumerate(_conductor(score))]
        for j in idx[track_a == k].tolist():
            ch, p = int(channel_a[j]), int(pitch_a[j])
            events.append((int(tick_a[j]), 2, p, j, bytes((0x90 | ch, p, int(vel_a[j])))))
            events.append((int(off_a[j]), 1, p, j, bytes((0x80 | ch, p, NOTE_OFF_VELOCITY))))
        chunks.append(_track(events))
    order = np.lexsort((idx, pitch_a, track_a, tick_a))  # read_midi: by tick, track, then file order
    return Playback(b"".join(chunks), order, channel_a, tick_a, track_a, vel_a)


def _program_change(score: ScoreNotes, channels: list[int], part: int) -> bytes:
    program = score.parts[part].program if score.parts else None
    channel = channels[part] if score.parts else 0
    return bytes((0xC0 | channel, PROGRAM if program is None else program))


def _varlen(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _track(events: list[tuple[int, int, int, int, bytes | mido.MetaMessage]]) -> bytes:
    """An MTrk chunk from (tick, kind, pitch, index, message): at one tick meta first, offs before ons.

    Channel messages are given as bytes and written with running status, as mido writes
    them (the bytes are mido's own, without building a message object per note).
    """
    events.sort(key=lambda e: e[:4])
    data = bytearray()
    now, running = 0, None
    for t, _, _, _, msg in events:
        data += _varlen(t - now)
        now = t
        if isinstance(msg, bytes):
            data += msg[1:] if msg[0] == running else msg
            running = msg[0]
        else:
            data += bytes(msg.bytes())
            running = None
    data += b"\x00\xff\x2f\x00"  # end of track
    return b"MTrk" + struct.pack(">I", len(data)) + bytes(data)

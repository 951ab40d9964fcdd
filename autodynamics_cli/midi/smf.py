"""Read a Standard MIDI File from its raw bytes: the chunks, every event, and where each velocity is.

Write-back patches velocities in a copy of the input's bytes instead of
re-serialising, so every other byte (running status, sysex, odd meta events,
chunk layout, trailing bytes) stays exactly as it was. This module is the one
parser: it walks every event once, keeps what the reader needs (note on/off,
program changes, tempos, track names) and the byte offset of each note_on's
velocity, which is all write-back needs.

It is a tolerant reader, as the MIDI standard's robustness advice asks. Within a
track it follows mido's reader with ``clip=True`` rule for rule (running status
carries across meta events; a data byte above 127 reads as 127; variable-length
numbers of any length), so every file mido reads is read, with the same events but
in one case: running status after a sysex event (which the standard forbids) goes on
with the status before the sysex, as players and jazz-soft's reader take it, where
mido reads the data byte as the start of another sysex (which it still is when no
status came before the sysex).

Beyond mido it trusts the chunks actually present over the header: tracks past
the header's count are read, a missing track is not looked for; a track without
an end-of-track event ends at its chunk's end; a last track whose length runs past
the end of the file is read up to its end-of-track event (which may itself be cut
short by the end of the file); bytes after the last chunk are left alone; chunks
of another type than MTrk ("alien chunks" in the standard) are skipped; meta events
that the reading does not need (a key signature out of range, a time signature of
the wrong length...) are not decoded. Each such fault gives one warning line
(``Scan.warnings``, "tolerated: ..."); the same fault many times gives one line
that counts them.

What is still refused raises ``ScanError`` with one line naming the byte offset
and what was found there: no MThd, a garbled header, a chunk that cannot be a
chunk before a track the header promises, a track cut short (no end-of-track
event before the file ends), an event that runs past its track's end, running
status with no status byte before it, an undefined status byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

# Number of data bytes that follow each channel-voice status nibble.
_DATA_LEN = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}
# System common / realtime bytes that mido accepts inside a track.
_SYSTEM_LEN = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0, 0xFE: 0}
MAX_VARLEN_BYTES = 4  # the SMF limit: values up to 0x0FFFFFFF; longer ones are read, with a warning
MAX_TRACKS = 65_535  # the most a header can announce; more MTrk chunks are refused
MAX_TICK = 2**62  # a track whose times run past this is refused (they would not fit in int64)
EOT_META = 0x2F
TEMPO_META = 0x51
TRACK_NAME_META = 0x03
# Event kinds in ``Track.events``.
NOTE_OFF, NOTE_ON, PROGRAM = 0, 1, 2
# Meta events with a fixed layout: type -> (name, lengths mido decodes, the length the standard gives)
_META_LAYOUT = {
    0x00: ("a sequence number", (0, 2), 2),
    0x20: ("a channel prefix", (1,), 1),
    0x21: ("a MIDI port event", (0, 1), 1),
    EOT_META: ("an end-of-track event", (0,), 0),
    TEMPO_META: ("a tempo event", (3,), 3),
    0x54: ("an SMPTE offset", (5,), 5),
    0x58: ("a time signature", (4,), 4),
    0x59: ("a key signature", (2,), 2),
}


class ScanError(ValueError):
    """The bytes do not form a MIDI file the reader can make sense of; the message says where."""


@dataclass
class Header:
    """The MThd chunk, read unsigned."""

    size: int  # length of the header chunk's data (6 in every normal file)
    format: int  # 0, 1 or 2 (other numbers are read as 1)
    n_tracks: int  # what the header says; the tracks actually present are ``Scan.tracks``
    division: int  # ticks per beat, or SMPTE when the top bit is set


@dataclass
class Track:
    """One MTrk chunk as read."""

    start: int  # byte offset of its chunk ('MTrk')
    offsets: list[int] = field(default_factory=list)  # velocity byte of every note_on (velocity 0 too)
    ticks: list[int] = field(default_factory=list)  # absolute tick of each of those note_ons
    # (tick, kind, channel, note or program, velocity byte offset or -1) of each note_on (NOTE_ON, or
    # NOTE_OFF at velocity 0), note_off (NOTE_OFF) and program change (PROGRAM), in file order
    events: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    tempos: list[tuple[int, int]] = field(default_factory=list)  # (tick, microseconds per beat)
    end_tick: int = 0  # tick of its last event
    name: str | None = None  # its first track name (latin-1, as mido decodes it)


@dataclass
class Scan:
    """A file's tracks, how big it is in events, and what was tolerated on the way."""

    header: Header
    tracks: list[Track]
    n_events: int  # all events of all tracks
    n_notes: int  # note_on events with a velocity above 0
    # (start, end) byte spans of the skipped non-MTrk chunks before the last track, header included
    unknown_chunks: list[tuple[int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # one "tolerated: ..." line per kind of fault

    @property
    def offsets(self) -> list[list[int]]:
        """Per track, the velocity byte of every note_on (velocity 0 too), in event order."""
        return [t.offsets for t in self.tracks]

    @property
    def ticks(self) -> list[list[int]]:
        """Per track, the absolute tick of each note_on of ``offsets``."""
        return [t.ticks for t in self.tracks]


class _Faults:
    """Tolerated faults, one line per kind: the first one's text, then how many more there were."""

    def __init__(self) -> None:
        self.first: dict[str, str] = {}
        self.count: dict[str, int] = {}

    def add(self, kind: str, text: str) -> None:
        if kind not in self.first:
            self.first[kind] = text
        self.count[kind] = self.count.get(kind, 0) + 1

    def merge(self, other: _Faults) -> None:
        for kind, text in other.first.items():
            self.first.setdefault(kind, text)
            self.count[kind] = self.count.get(kind, 0) + other.count[kind]

    def hint(self) -> str:
        """The first fault, as a clue to what went wrong after it ('' when there is none)."""
        return f"; before it, {next(iter(self.first.values()))}" if self.first else ""

    def lines(self) -> list[str]:
        out = []
        for kind, text in self.first.items():
            more = self.count[kind] - 1
            out.append(f"tolerated: {text}" + (f" (and {more:,} more like it)" if more else ""))
        return out


class _Budget:
    """Counts events and notes; past a limit, events are only counted, no longer kept."""

    def __init__(self, max_events: int | None, max_notes: int | None) -> None:
        self.n_events = self.n_notes = 0
        self.max_events = max_events
        self.max_notes = max_notes

    @property
    def keep(self) -> bool:
        return (self.max_events is None or self.n_events <= self.max_events) and (
            self.max_notes is None or self.n_notes <= self.max_notes
        )


class _PastEnd(Exception):
    """An event runs past the end of the bytes its track may use."""

    def __init__(self, at: int, what: str) -> None:
        super().__init__(what)
        self.at = at
        self.what = what


def _shown(raw: bytes) -> str:
    """Bytes as a quoted string, unprintable ones escaped: 'MThd', '\\x00unk'."""
    return repr(raw.decode("latin-1"))


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def read_header(data: bytes) -> Header:
    """Parse the header chunk's fields; raise ``ScanError`` if there is no MThd or it is cut short."""
    if data[:4] != b"MThd":
        raise ScanError(f"not a MIDI file: expected 'MThd' at byte 0, found {_shown(data[:4])}")
    if len(data) < 14:
        raise ScanError(
            f"truncated header: the file ends at byte {len(data)}, inside its MThd chunk (14 bytes at least)"
        )
    (size,) = struct.unpack(">L", data[4:8])
    fmt, n_tracks, division = struct.unpack(">HHH", data[8:14])
    return Header(size, fmt, n_tracks, division)


def _first_chunk(data: bytes, header: Header, faults: _Faults) -> int:
    """Where the chunks after the header start, trusting a track found at byte 14 over a bad length."""
    pos = 8 + header.size
    if header.size >= 6 and pos <= len(data):
        return pos
    if data[14:18] == b"MTrk":
        faults.add(
            "header_size",
            f"chunk 'MThd' at byte 0 claims {_plural(header.size, 'byte')} (6 expected); "
            "read as 6, since a track follows at byte 14",
        )
        return 14
    if header.size >= 6 and (header.n_tracks == 0 or header.n_tracks >= 0x8000):
        faults.add(
            "header_size",
            f"chunk 'MThd' at byte 0 claims {_plural(header.size, 'byte')}, {len(data) - 8:,} remain",
        )
        return len(data)  # no track promised, none there: mido reads this too
    if header.size < 6:
        raise ScanError(
            f"garbled header: chunk 'MThd' at byte 0 claims {_plural(header.size, 'byte')}; "
            "6 at least are needed"
        )
    raise ScanError(
        f"garbled header: chunk 'MThd' at byte 0 claims {_plural(header.size, 'byte')}, "
        f"{len(data) - 8:,} remain"
    )


class _TrackReader:
    """Reads the events of one track (number ``number``, from 1) from ``data[pos:end]`` into ``track``."""

    def __init__(self, data: bytes, track: Track, number: int, end: int, budget: _Budget) -> None:
        self.data = data
        self.track = track
        self.number = number
        self.end = end
        self.budget = budget
        self.faults = _Faults()  # merged into the file's only once the track reads

    def varlen(self, pos: int, at: int) -> tuple[int, int]:
        """A variable-length number at ``pos`` (any length, as mido reads it); its value and the next byte."""
        data, value, start = self.data, 0, pos
        while True:
            if pos >= self.end:
                raise _PastEnd(at, "an event")
            byte = data[pos]
            pos += 1
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        if pos - start > MAX_VARLEN_BYTES:
            self.faults.add(
                "varlen",
                f"a variable-length number of {pos - start:,} bytes "
                f"({MAX_VARLEN_BYTES} at most) at byte {start}",
            )
        return value, pos

    def events(self, pos: int, until_eot: bool) -> int:
        """Read events from ``pos``; the byte after the last one read.

        With ``until_eot`` the track ends at its end-of-track event, and one that has none
        raises ``_PastEnd``. A garbled event raises ``ScanError``.
        """
        data, track, end = self.data, self.track, self.end
        tick = 0
        last_status: int | None = None  # running status as mido keeps it: any status but a meta event's
        last_channel: int | None = None  # as players keep it: a sysex does not replace it either
        eot_seen = after_eot = False
        while pos < end:
            at = pos
            delta, pos = self.varlen(pos, at)
            tick += delta
            if tick > MAX_TICK:
                raise ScanError(f"garbled event at byte {at}: its time runs past tick 2**62")
            track.end_tick = tick
            if pos >= end:
                raise _PastEnd(at, "an event")
            status = data[pos]
            running = status < 0x80
            if running:
                if last_status is None:
                    raise ScanError(
                        f"garbled event at byte {pos}: running status (data byte 0x{status:02X}) "
                        "with no status byte before it"
                    )
                if last_status in (0xF0, 0xF7) and last_channel is not None:
                    # a sysex cancels running status; players (and jazz-soft's reader) carry on with
                    # the status before it, so the notes after it are heard: read them
                    self.faults.add(
                        "sysex_running",
                        f"running status after a sysex event at byte {at}, read as 0x{last_channel:02X} "
                        "(the status before the sysex)",
                    )
                    last_status = last_channel
                status = last_status
            else:
                pos += 1
                if status != 0xFF:  # meta events do not touch running status
                    last_status = status
                    last_channel = last_channel if status in (0xF0, 0xF7) else status
            if eot_seen and not after_eot:
                after_eot = True
                self.faults.add(
                    "after_eot", f"events after the end-of-track event of track {self.number}, from byte {at}"
                )
            self.budget.n_events += 1
            if status == 0xFF:
                pos, eot = self.meta(pos, at, tick)
                eot_seen = eot_seen or eot
                if eot and until_eot:
                    return pos
            elif status in (0xF0, 0xF7):
                if running:  # no status before the sysex: as mido, drop this byte and read another sysex
                    self.faults.add("sysex_running", f"running status after a sysex event at byte {at}")
                    pos += 1
                pos = self.sysex(
                    pos, at, status, "a sysex event (running status)" if running else "a sysex event"
                )
            else:
                pos = self.message(pos, at, tick, status, running)
        if until_eot:
            raise _PastEnd(pos, "the track")
        if not eot_seen:
            self.faults.add("no_eot", f"track {self.number} has no end-of-track event")
        return pos

    def meta(self, pos: int, at: int, tick: int) -> tuple[int, bool]:
        """A meta event whose type is at ``pos``: the byte after it, and whether it ends the track."""
        if pos >= self.end:
            raise _PastEnd(at, "a meta event")
        kind = self.data[pos]
        if kind == EOT_META and pos + 1 == self.end == len(self.data):  # the file ends in it: nothing lost
            self.faults.add(
                "eot_cut", f"the end-of-track event at byte {at} is cut short by the end of the file"
            )
            return self.end, True
        length, pos = self.varlen(pos + 1, at)
        if pos + length > self.end:
            raise _PastEnd(at, f"a meta event of {_plural(length, 'byte')}")
        body = self.data[pos : pos + length]
        if kind == TRACK_NAME_META and self.track.name is None:
            self.track.name = body.decode("latin-1")
        if kind in _META_LAYOUT:
            self.check_meta(kind, body, at)
        if kind == TEMPO_META and length >= 3 and self.budget.keep:
            self.track.tempos.append((tick, int.from_bytes(body[:3], "big")))
        return pos + length, kind == EOT_META

    def check_meta(self, kind: int, body: bytes, at: int) -> None:
        """Note the faults of the meta events mido decodes (the reading itself needs only tempos)."""
        name, decodable, standard = _META_LAYOUT[kind]
        if len(body) not in decodable:
            ignored = "; ignored" if kind == TEMPO_META and len(body) < 3 else ""
            self.faults.add(
                f"meta_length_{kind}",
                f"{name} with {_plural(len(body), 'data byte')} ({standard} expected) at byte {at}{ignored}",
            )
        if kind == 0x59 and len(body) >= 2:
            key = body[0] - 256 if body[0] >= 0x80 else body[0]
            if not -7 <= key <= 7 or body[1] > 1:
                self.faults.add("key_signature", f"a key signature out of range at byte {at}")
        elif kind == 0x54 and len(body) >= 5 and body[0] >> 5 > 3:
            self.faults.add("smpte_offset", f"an SMPTE offset with an undefined frame rate at byte {at}")

    def sysex(self, pos: int, at: int, status: int, label: str) -> int:
        """A sysex (F0) or escape (F7) event whose length is at ``pos``; the byte after it."""
        length, pos = self.varlen(pos, at)
        if pos + length > self.end:
            raise _PastEnd(at, f"{label} of {_plural(length, 'byte')}")
        payload = self.data[pos : pos + length]
        if payload[:1] == b"\xf0":  # mido drops these framing bytes, then clips the rest to 0..127
            payload = payload[1:]
        if payload[-1:] == b"\xf7":
            payload = payload[:-1]
        if max(payload, default=0) >= 0x80:
            if status == 0xF7:
                self.faults.add(
                    "escape",
                    f"an F7 escape event carrying bytes above 127 at byte {at} (kept, not read as notes)",
                )
            else:
                self.faults.add("sysex", f"a sysex event carrying bytes above 127 at byte {at}")
        return pos + length

    def message(self, pos: int, at: int, tick: int, status: int, running: bool) -> int:
        """A channel or system message whose data starts at ``pos``; the byte after it."""
        data, track = self.data, self.track
        if status >= 0xF0:
            if status not in _SYSTEM_LEN:
                raise ScanError(f"garbled event at byte {pos - 1}: status byte 0x{status:02X} is undefined")
            n = _SYSTEM_LEN[status]
            if running and n == 0:
                raise ScanError(
                    f"garbled event at byte {pos}: running status after system message 0x{status:02X}, "
                    "which takes no data"
                )
        else:
            n = _DATA_LEN[status >> 4]
        if pos + n > self.end:
            raise _PastEnd(at, "an event")
        for k in range(pos, pos + n):
            if data[k] >= 0x80:
                self.faults.add("clip", f"a data byte 0x{data[k]:02X} at byte {k}, read as 127")
        hi = status >> 4
        if hi == 0x9:
            velocity = min(data[pos + 1], 127)
            self.budget.n_notes += velocity > 0
            if self.budget.keep:
                track.offsets.append(pos + 1)
                track.ticks.append(tick)
                kind = NOTE_ON if velocity else NOTE_OFF
                track.events.append((tick, kind, status & 0xF, min(data[pos], 127), pos + 1))
        elif hi in (0x8, 0xC) and self.budget.keep:
            kind = NOTE_OFF if hi == 0x8 else PROGRAM
            track.events.append((tick, kind, status & 0xF, min(data[pos], 127), -1))
        return pos + n


def _track(data: bytes, pos: int, number: int, budget: _Budget, faults: _Faults) -> tuple[Track, int]:
    """The MTrk chunk at ``pos`` (track ``number``, from 1) and the byte after it.

    A chunk whose length runs past the end of the file is read up to its end-of-track
    event, which must come before the file ends.
    """
    (size,) = struct.unpack(">L", data[pos + 4 : pos + 8])
    end = pos + 8 + size
    fits = end <= len(data)
    remain = len(data) - pos - 8
    reader = _TrackReader(data, Track(pos), number, min(end, len(data)), budget)
    try:
        after = reader.events(pos + 8, until_eot=not fits)
    except _PastEnd as e:
        if not fits:
            raise ScanError(
                f"truncated track: chunk 'MTrk' at byte {pos} claims {_plural(size, 'byte')}, "
                f"{remain:,} remain"
            ) from None
        raise ScanError(
            f"garbled event at byte {e.at}: {e.what} runs past the end of track {number} "
            f"(chunk 'MTrk' at byte {pos} ends at byte {end}){reader.faults.hint()}"
        ) from None
    except ScanError as e:
        raise ScanError(f"{e}{reader.faults.hint()}") from None
    faults.merge(reader.faults)
    if not fits:
        faults.add(
            f"past_end_{number}",
            f"track {number} (chunk 'MTrk' at byte {pos}) claims {_plural(size, 'byte')}, {remain:,} remain; "
            "read up to its end-of-track event",
        )
    return reader.track, after


def scan(data: bytes, max_events: int | None = None, max_notes: int | None = None) -> Scan:
    """Read every chunk and event; see the module docstring for the rules.

    Past ``max_events`` events or ``max_notes`` notes the events are only counted, so
    that an absurd file is measured (and refused by the caller) without keeping it.
    """
    header = read_header(data)
    faults = _Faults()
    pos = first = _first_chunk(data, header, faults)
    promised = 0 if header.n_tracks >= 0x8000 else header.n_tracks  # mido reads the count signed
    budget = _Budget(max_events, max_notes)
    tracks: list[Track] = []
    unknown: list[tuple[int, int]] = []
    while pos < len(data):
        owed = len(tracks) < promised
        if len(data) - pos < 8:
            _trailing(data, pos, bool(tracks), faults)
            break
        name, size = struct.unpack(">4sL", data[pos : pos + 8])
        if name == b"MTrk":
            if len(tracks) >= MAX_TRACKS:
                raise ScanError(f"too many tracks (more than {MAX_TRACKS:,})")
            try:
                track, pos = _track(data, pos, len(tracks) + 1, budget, faults)
            except ScanError as e:
                if owed:
                    raise
                _trailing(data, pos, bool(tracks), faults, f"a garbled extra track there: {e}")
                break
            tracks.append(track)
        elif all(0x20 <= b <= 0x7E for b in name) and pos + 8 + size <= len(data):
            unknown.append((pos, pos + 8 + size))  # an alien chunk: skipped, as the standard asks
            pos += 8 + size
        elif owed and data.find(b"MTrk", pos) >= 0:
            if all(0x20 <= b <= 0x7E for b in name):
                raise ScanError(
                    f"garbled chunk at byte {pos}: chunk {_shown(name)} claims {_plural(size, 'byte')}, "
                    f"{len(data) - pos - 8:,} remain"
                )
            raise ScanError(f"garbled chunk at byte {pos}: expected 'MTrk', found {_shown(name)}")
        else:
            _trailing(data, pos, bool(tracks), faults)
            break
    if not tracks and promised:
        at = unknown[0][0] if unknown else first
        if at >= len(data):
            raise ScanError(
                f"truncated: the file ends at byte {len(data)}, before its first track "
                f"(the header says {_plural(header.n_tracks, 'track')})"
            )
        raise ScanError(
            f"no tracks: the header says {_plural(header.n_tracks, 'track')}, but no 'MTrk' chunk "
            f"follows (found {_shown(data[at : at + 4])} at byte {at})"
        )
    if header.n_tracks != len(tracks):
        faults.add(
            "n_tracks", f"header says {_plural(header.n_tracks, 'track')}, the file has {len(tracks):,}"
        )
    last = tracks[-1].start if tracks else 0
    spans = [s for s in unknown if s[0] < last]
    return Scan(header, tracks, budget.n_events, budget.n_notes, spans, faults.lines())


def _trailing(data: bytes, pos: int, after_tracks: bool, faults: _Faults, why: str = "") -> None:
    where = "the last track" if after_tracks else "the header"
    note = f" ({why})" if why else ""
    faults.add(
        "trailing", f"{_plural(len(data) - pos, 'trailing byte')} after {where}, from byte {pos}{note}"
    )


def unknown_chunks(data: bytes) -> list[tuple[int, int]]:
    """The spans ``scan`` skips (``Scan.unknown_chunks``)."""
    return scan(data).unknown_chunks


def without_unknown_chunks(data: bytes, spans: list[tuple[int, int]] | None = None) -> bytes:
    """``data`` without the unknown chunks (``spans``, or found anew): what mido can read.

    With none to drop, ``data`` itself is returned, not a copy.
    """
    if spans is None:
        spans = unknown_chunks(data)
    if not spans:
        return data
    parts, pos = [], 0
    for start, end in spans:
        parts.append(data[pos:start])
        pos = end
    parts.append(data[pos:])
    return b"".join(parts)


def note_on_velocity_offsets(data: bytes) -> list[list[int]]:
    """Return, per track, the byte offset of the velocity of every note_on event.

    Offsets are listed in event order and include note_on events with velocity 0.
    """
    return scan(data).offsets


def note_on_ticks(data: bytes) -> dict[int, int]:
    """The absolute tick of every note_on, keyed by its velocity byte's offset (``Notes.byte_offset``)."""
    s = scan(data)
    return {o: t for track in s.tracks for o, t in zip(track.offsets, track.ticks, strict=True)}


def patch_velocities(data: bytes, offsets: list[int], velocities: list[int]) -> bytes:
    """Return a copy of ``data`` with the byte at each offset set to its velocity."""
    out = bytearray(data)
    for off, vel in zip(offsets, velocities, strict=True):
        if not 1 <= vel <= 127:
            raise ValueError(f"velocity {vel} outside 1..127")
        out[off] = vel
    return bytes(out)

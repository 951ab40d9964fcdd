"""Locate note_on velocity bytes inside the raw bytes of a Standard MIDI File.

Write-back patches velocities in a copy of the input's bytes instead of
re-serialising with mido, so every other byte (running status, sysex, odd
meta events, chunk layout) stays exactly as it was. The scanner follows
mido's reader rule for rule (``mido/midifiles/midifiles.py``: chunk order,
meta events not touching running status) so that the k-th note_on it finds in
a track is the k-th note_on mido parsed there. Where mido would read garbage
or run on (an event crossing its track's end, running status after a sysex,
numbers longer than the 4 bytes the format allows) the scanner is stricter and
says what is wrong, so a broken file gets a precise one-line reason. It runs
before mido, also to count events and notes cheaply, so an absurd file is
refused before mido builds millions of objects.

Chunks of a type other than MTrk before or between the tracks ("alien chunks"
in the SMF spec, such as the ``Junk`` chunk of jazz-soft's
test-non-midi-track.mid) are skipped, as the spec asks readers to do, when they
look like chunks: a type of 4 printable ASCII bytes and a length that fits in
the file. ``Scan.unknown_chunks`` lists where they are; mido refuses them, so
``without_unknown_chunks`` gives it a copy of the bytes without them, while
velocity offsets stay offsets into the original bytes and write-back keeps the
chunks byte for byte. Bytes after the last track are not read at all.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

# Number of data bytes that follow each channel-voice status nibble.
_DATA_LEN = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}
# System common / realtime bytes that mido accepts inside a track.
_SYSTEM_LEN = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0, 0xFE: 0}
MAX_VARLEN_BYTES = 4  # the SMF limit: values up to 0x0FFFFFFF


class ScanError(ValueError):
    """The bytes do not form a track structure the scanner understands."""


@dataclass
class Header:
    """The MThd chunk, read unsigned."""

    size: int  # length of the header chunk's data (6 in every normal file)
    format: int  # 0, 1 or 2
    n_tracks: int
    division: int  # ticks per beat, or SMPTE when the top bit is set


@dataclass
class Scan:
    """Where each track's note_on velocities are, and how big the file is in events."""

    offsets: list[list[int]]  # per track, the velocity byte of every note_on (velocity 0 too)
    ticks: list[list[int]]  # per track, the absolute tick of each of those note_ons
    n_events: int  # all events of all tracks
    n_notes: int  # note_on events with a velocity above 0
    # (start, end) byte spans of the skipped non-MTrk chunks before the last track, header included
    unknown_chunks: list[tuple[int, int]] = field(default_factory=list)


def read_header(data: bytes) -> Header:
    """Parse the header chunk; raise ``ScanError`` if there is none or it is cut short."""
    if data[:4] != b"MThd":
        raise ScanError("no MThd header")
    if len(data) < 14:
        raise ScanError("truncated: the file ends inside its header")
    (size,) = struct.unpack(">L", data[4:8])
    if size < 6:
        raise ScanError(f"bad header: its chunk is {size} bytes long; it must be at least 6")
    fmt, n_tracks, division = struct.unpack(">HHH", data[8:14])
    return Header(size, fmt, n_tracks, division)


def _varlen(data: bytes, pos: int, end: int, where: str) -> tuple[int, int]:
    value = 0
    for _ in range(MAX_VARLEN_BYTES):
        if pos >= end:
            raise ScanError(f"wrong chunk length: an event runs past the end of {where}")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos
    raise ScanError(
        f"corrupt: a variable-length number longer than {MAX_VARLEN_BYTES} bytes ({where}, byte {pos})"
    )


def _is_chunk_type(name: bytes) -> bool:
    """A plausible chunk type: 4 printable ASCII bytes (the spec's chunk types are letters)."""
    return all(0x20 <= b <= 0x7E for b in name)


def _next_track(
    data: bytes, pos: int, t: int, n_tracks: int, skipped: list[tuple[int, int]]
) -> tuple[int, int]:
    """From ``pos``, skip unknown chunks up to track ``t`` (0-based); the (start, end) of its events.

    Each skipped chunk's span is appended to ``skipped``. Anything that is not a
    plausible chunk, and any chunk running past the end of the file, is an error.
    """
    first_skip = len(skipped)
    while True:
        if pos + 8 > len(data):
            if len(skipped) > first_skip:
                last = skipped[-1][0]
                raise ScanError(
                    f"truncated: the file ends before track {t + 1} of {n_tracks} (an MTrk "
                    f"chunk), after an unknown chunk {_chunk_name(data, last)} at byte {last}"
                )
            raise ScanError(f"truncated: the file ends before track {t + 1} of {n_tracks}")
        name, size = struct.unpack(">4sL", data[pos : pos + 8])
        end = pos + 8 + size
        if name == b"MTrk":
            if end > len(data):
                raise ScanError(
                    f"truncated or wrong chunk length: track {t + 1} says it is {size:,} bytes "
                    f"long, but only {len(data) - pos - 8:,} bytes remain"
                )
            return pos + 8, end
        if not _is_chunk_type(name):
            raise ScanError(f"corrupt: expected track {t + 1} (an MTrk chunk) at byte {pos}, found {name!r}")
        if end > len(data):
            raise ScanError(
                f"truncated or wrong chunk length: an unknown chunk {_chunk_name(data, pos)} "
                f"at byte {pos} says it is {size:,} bytes long, but only "
                f"{len(data) - pos - 8:,} bytes remain"
            )
        skipped.append((pos, end))
        pos = end


def _chunk_name(data: bytes, pos: int) -> str:
    return repr(data[pos : pos + 4].decode("ascii"))


def unknown_chunks(data: bytes) -> list[tuple[int, int]]:
    """The spans ``scan`` skips (``Scan.unknown_chunks``), from the chunk headers alone.

    Cheaper than ``scan``: it follows each chunk's length instead of reading its events.
    """
    header = read_header(data)
    pos = 8 + header.size
    if pos > len(data):
        raise ScanError("truncated: the file ends inside its header")
    skipped: list[tuple[int, int]] = []
    for t in range(header.n_tracks):
        _start, pos = _next_track(data, pos, t, header.n_tracks, skipped)
    return skipped


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


def scan(data: bytes) -> Scan:
    """Walk every track's events; see the module docstring for the rules."""
    header = read_header(data)
    pos = 8 + header.size
    if pos > len(data):
        raise ScanError("truncated: the file ends inside its header")
    tracks: list[list[int]] = []
    track_ticks: list[list[int]] = []
    skipped: list[tuple[int, int]] = []
    n_events = n_notes = 0
    for t in range(header.n_tracks):
        where = f"track {t + 1}"
        pos, end = _next_track(data, pos, t, header.n_tracks, skipped)
        offsets: list[int] = []
        ticks: list[int] = []
        tick = 0
        last_status: int | None = None
        while pos < end:
            delta, pos = _varlen(data, pos, end, where)
            tick += delta
            if pos >= end:
                raise ScanError(f"wrong chunk length: an event runs past the end of {where}")
            status = data[pos]
            if status < 0x80:
                if last_status is None:
                    raise ScanError(
                        f"corrupt: running status without a previous status byte ({where}, byte {pos})"
                    )
                if last_status >= 0xF0:
                    raise ScanError(
                        f"corrupt: running status after a sysex or system message ({where}, byte {pos})"
                    )
                status = last_status
            else:
                pos += 1
                if status != 0xFF:
                    last_status = status
            n_events += 1
            if status == 0xFF:
                pos += 1  # meta type
                length, pos = _varlen(data, pos, end, where)
                pos += length
            elif status in (0xF0, 0xF7):
                length, pos = _varlen(data, pos, end, where)
                payload = data[pos : pos + length]
                if payload[:1] == b"\xf0":  # mido drops these framing bytes, then needs 0..127
                    payload = payload[1:]
                if payload[-1:] == b"\xf7":
                    payload = payload[:-1]
                if max(payload, default=0) >= 0x80:
                    raise ScanError(
                        f"unsupported: a sysex or F7 escape event carries bytes above 127 "
                        f"({where}, byte {pos})"
                    )
                pos += length
            else:
                if status >= 0xF0:
                    if status not in _SYSTEM_LEN:
                        raise ScanError(
                            f"corrupt: undefined status byte 0x{status:02x} ({where}, byte {pos - 1})"
                        )
                    n = _SYSTEM_LEN[status]
                else:
                    n = _DATA_LEN[status >> 4]
                if pos + n > end:
                    raise ScanError(f"wrong chunk length: an event runs past the end of {where}")
                for k in range(pos, pos + n):
                    if data[k] >= 0x80:
                        raise ScanError(
                            f"corrupt: status byte 0x{data[k]:02x} where a data byte belongs "
                            f"({where}, byte {k})"
                        )
                if status >> 4 == 0x9:
                    offsets.append(pos + 1)
                    ticks.append(tick)
                    n_notes += data[pos + 1] > 0
                pos += n
            if pos > end:
                raise ScanError(f"wrong chunk length: an event runs past the end of {where}")
        tracks.append(offsets)
        track_ticks.append(ticks)
    return Scan(tracks, track_ticks, n_events, n_notes, skipped)


def note_on_velocity_offsets(data: bytes) -> list[list[int]]:
    """Return, per track, the byte offset of the velocity of every note_on event.

    Offsets are listed in event order and include note_on events with velocity 0.
    """
    return scan(data).offsets


def note_on_ticks(data: bytes) -> dict[int, int]:
    """The absolute tick of every note_on, keyed by its velocity byte's offset (``Notes.byte_offset``)."""
    s = scan(data)
    return {
        o: t for offs, ticks in zip(s.offsets, s.ticks, strict=True) for o, t in zip(offs, ticks, strict=True)
    }


def patch_velocities(data: bytes, offsets: list[int], velocities: list[int]) -> bytes:
    """Return a copy of ``data`` with the byte at each offset set to its velocity."""
    out = bytearray(data)
    for off, vel in zip(offsets, velocities, strict=True):
        if not 1 <= vel <= 127:
            raise ValueError(f"velocity {vel} outside 1..127")
        out[off] = vel
    return bytes(out)

"""Locate note_on velocity bytes inside the raw bytes of a Standard MIDI File.

Write-back patches velocities in a copy of the input's bytes instead of
re-serialising with mido, so every other byte (running status, sysex, odd
meta events, chunk layout) stays exactly as it was. The scanner follows
mido's reader rule for rule (``mido/midifiles/midifiles.py``: chunk order,
running status kept after sysex, meta events not touching it) so that the
k-th note_on it finds in a track is the k-th note_on mido parsed there.
"""

from __future__ import annotations

import struct

# Number of data bytes that follow each channel-voice status nibble.
_DATA_LEN = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}
# System common / realtime bytes that mido accepts inside a track.
_SYSTEM_LEN = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0, 0xFE: 0}


class ScanError(ValueError):
    """The bytes do not form a track structure the scanner understands."""


def _varlen(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        if pos >= len(data):
            raise ScanError("unexpected end of data in a variable-length number")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos


def note_on_velocity_offsets(data: bytes) -> list[list[int]]:
    """Return, per track, the byte offset of the velocity of every note_on event.

    Offsets are listed in event order and include note_on events with velocity 0.
    """
    if len(data) < 14 or data[:4] != b"MThd":
        raise ScanError("no MThd header")
    (header_size,) = struct.unpack(">L", data[4:8])
    _fmt, n_tracks, _division = struct.unpack(">hhh", data[8:14])
    pos = 8 + header_size
    tracks: list[list[int]] = []
    for _ in range(n_tracks):
        if pos + 8 > len(data):
            raise ScanError("unexpected end of file before a track header")
        name, size = struct.unpack(">4sL", data[pos : pos + 8])
        if name != b"MTrk":
            raise ScanError("no MTrk header at start of track")
        pos += 8
        start = pos
        offsets: list[int] = []
        last_status: int | None = None
        while pos - start != size:
            _delta, pos = _varlen(data, pos)
            if pos >= len(data):
                raise ScanError("unexpected end of track")
            status = data[pos]
            pos += 1
            if status < 0x80:
                if last_status is None:
                    raise ScanError("running status without a previous status")
                status = last_status
                if status not in (0xF0, 0xF7):
                    pos -= 1  # the byte just read was the first data byte (mido drops it for sysex)
            elif status != 0xFF:
                last_status = status
            if status == 0xFF:
                pos += 1  # meta type
                length, pos = _varlen(data, pos)
                pos += length
            elif status in (0xF0, 0xF7):
                length, pos = _varlen(data, pos)
                pos += length
            elif status >= 0xF0:
                if status not in _SYSTEM_LEN:
                    raise ScanError(f"undefined status byte 0x{status:02x}")
                pos += _SYSTEM_LEN[status]
            else:
                n = _DATA_LEN[status >> 4]
                if status >> 4 == 0x9:
                    offsets.append(pos + 1)
                pos += n
            if pos > len(data):
                raise ScanError("unexpected end of file inside an event")
        tracks.append(offsets)
    return tracks


def patch_velocities(data: bytes, offsets: list[int], velocities: list[int]) -> bytes:
    """Return a copy of ``data`` with the byte at each offset set to its velocity."""
    out = bytearray(data)
    for off, vel in zip(offsets, velocities, strict=True):
        if not 1 <= vel <= 127:
            raise ValueError(f"velocity {vel} outside 1..127")
        out[off] = vel
    return bytes(out)

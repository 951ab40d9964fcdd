"""A corpus of broken and of odd-but-valid MIDI files, built in code.

``BROKEN`` maps a name to (bytes, a phrase its one-line error must contain);
``ODD`` maps a name to bytes that must humanize correctly.
"""

from __future__ import annotations

import mido
from midi_factory import off, on, rich_file, running_status_file, simple_file, to_bytes, track


def vlq(n: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def mtrk(body: bytes, length: int | None = None) -> bytes:
    return b"MTrk" + (len(body) if length is None else length).to_bytes(4, "big") + body


def smf(*tracks: bytes, fmt: int = 1, tpb: int = 480, n_tracks: int | None = None,
        header_len: int = 6, header_extra: bytes = b"") -> bytes:
    n = len(tracks) if n_tracks is None else n_tracks
    head = b"MThd" + header_len.to_bytes(4, "big") + fmt.to_bytes(2, "big") + n.to_bytes(2, "big") \
        + tpb.to_bytes(2, "big") + header_extra
    return head + b"".join(tracks)


EOT = b"\x00\xff\x2f\x00"
NOTE = b"\x00\x90\x3c\x40\x60\x80\x3c\x00"  # C4 on, off 96 ticks later


def _chunk_too_short() -> bytes:
    body = NOTE + EOT
    return smf(mtrk(body, length=len(body) - 2), fmt=0) + b"\x00\x00"


def _type2() -> bytes:
    return to_bytes(mido.MidiFile(type=2, tracks=[track(on(60), off(60, time=10))]))


def _no_notes() -> bytes:
    return to_bytes(mido.MidiFile(type=1, tracks=[track(
        mido.MetaMessage("set_tempo", tempo=400_000), mido.MetaMessage("track_name", name="x"),
        mido.Message("control_change", control=64, value=127, time=10))]))


def _only_drums() -> bytes:
    return to_bytes(mido.MidiFile(type=0, tracks=[track(
        on(36, 100, ch=9), off(36, time=100, ch=9), on(42, 80, ch=9), off(42, time=100, ch=9))]))


BROKEN: dict[str, tuple[bytes, str]] = {
    "text.mid": (b"This is not MIDI at all.\n", "not a MIDI file"),
    "empty.mid": (b"", "empty"),
    "truncated.mid": (simple_file(20)[:-25], "truncated"),
    "header_cut.mid": (b"MThd\x00\x00\x00\x06\x00", "truncated"),
    "bad_header_len.mid": (smf(mtrk(NOTE + EOT), header_len=2), "bad header"),
    "bad_format.mid": (smf(mtrk(NOTE + EOT), fmt=7), "unknown MIDI file type 7"),
    "chunk_past_end.mid": (smf(mtrk(NOTE + EOT, length=0x00FFFFFF), fmt=0), "wrong chunk length"),
    "chunk_too_short.mid": (_chunk_too_short(), "wrong chunk length"),
    "no_mtrk.mid": (smf(b"XTrk" + (12).to_bytes(4, "big") + NOTE + EOT, fmt=0), "MTrk"),
    "running_status_first.mid": (smf(mtrk(b"\x00\x3c\x40" + EOT), fmt=0), "running status"),
    "running_status_after_sysex.mid": (
        smf(mtrk(b"\x00\xf0\x02\x7e\xf7" + b"\x00\x3c\x40" + EOT), fmt=0), "running status"),
    "status_in_data.mid": (smf(mtrk(b"\x00\x90\x3c\x90\x3c\x40" + EOT), fmt=0), "status byte"),
    "escape_with_status_bytes.mid": (smf(mtrk(b"\x00\xf7\x03\x90\x3e\x20" + NOTE + EOT), fmt=0),
                                     "sysex or F7 escape"),
    "undefined_status.mid": (smf(mtrk(b"\x00\xf4" + EOT), fmt=0), "undefined status byte"),
    "long_number.mid": (smf(mtrk(b"\xff\xff\xff\xff\x7f\x90\x3c\x40" + EOT), fmt=0), "variable-length"),
    "bad_tempo_meta.mid": (smf(mtrk(b"\x00\xff\x51\x01\x07" + NOTE + EOT), fmt=0), "corrupt MIDI file"),
    "type2.mid": (_type2(), "type 2"),
    "smpte.mid": (smf(mtrk(NOTE + EOT), fmt=0, tpb=0xE728), "SMPTE"),
    "zero_division.mid": (smf(mtrk(NOTE + EOT), fmt=0, tpb=0), "time division"),
    "riff.rmi": (b"RIFF\x20\x00\x00\x00RMIDdata" + simple_file(), "RIFF MIDI"),
    "no_tracks.mid": (smf(n_tracks=0), "no notes"),
    "no_notes.mid": (_no_notes(), "no notes"),
    "only_drums.mid": (_only_drums(), "only drum notes"),
}


def _no_note_offs() -> bytes:
    return smf(mtrk(b"\x00\x90\x3c\x40\x60\x90\x40\x50\x60\x90\x43\x01" + vlq(960) + b"\xff\x2f\x00"), fmt=0)


def _note_offs_without_ons() -> bytes:
    return to_bytes(mido.MidiFile(type=0, tracks=[track(
        off(61), off(62, time=5), on(60), off(60, time=100), off(60, time=10), off(70, time=10))]))


def _same_pitch_overlaps() -> bytes:
    msgs = []
    for i in range(20):
        msgs += [on(60, 30 + i, time=10), on(60, 90, time=5), off(60, time=5)]
    msgs += [off(60, time=50)] * 20
    return to_bytes(mido.MidiFile(type=0, tracks=[track(*msgs)]))


def _zero_length_notes() -> bytes:
    msgs = []
    for i in range(30):
        msgs += [on(40 + i, 64, time=100), off(40 + i, time=0), on(41 + i, 0, time=0)]
    return to_bytes(mido.MidiFile(type=0, tracks=[track(*msgs)]))


def _dense_chord_second(n: int = 3000) -> bytes:
    # n notes, all starting within one second (tpb 480 at 120 bpm: 960 ticks per second)
    msgs = [on(21 + i % 88, 1 + i % 127, time=1 if i % 3 == 0 else 0) for i in range(n)]
    msgs += [off(21 + i % 88, time=0) for i in range(n)]
    return to_bytes(mido.MidiFile(type=0, tracks=[track(*msgs)]))


def _hours_long(hours: float = 3.0) -> bytes:
    every = 30  # seconds between notes
    msgs = []
    for i in range(int(hours * 3600 / every)):
        msgs += [on(48 + i % 24, 64, time=0 if i == 0 else (every - 1) * 960),
                 off(48 + i % 24, time=960)]
    return to_bytes(mido.MidiFile(type=1, tracks=[track(*msgs)]))


def _hundreds_of_tracks(n: int = 300) -> bytes:
    tracks = [track(mido.MetaMessage("set_tempo", tempo=600_000))]
    for i in range(n):
        tracks.append(track(mido.MetaMessage("track_name", name=f"t{i}"),
                            on(30 + i % 70, 64, time=i * 7, ch=i % 9), off(30 + i % 70, time=200, ch=i % 9)))
    return to_bytes(mido.MidiFile(type=1, tracks=tracks))


def _tempo_every_beat(beats: int = 600) -> bytes:
    tempo = track(*[mido.MetaMessage("set_tempo", tempo=300_000 + (i * 7919) % 900_000,
                                     time=0 if i == 0 else 480) for i in range(beats)])
    notes = track(*[m for i in range(beats) for m in
                    (on(55 + i % 20, 70, time=0 if i == 0 else 240), off(55 + i % 20, time=240))])
    return to_bytes(mido.MidiFile(type=1, tracks=[tempo, notes]))


def _every_event_kind() -> bytes:
    M = mido.MetaMessage
    metas = track(
        M("sequence_number", number=3), M("text", text="hello"), M("copyright", text="(c) nobody"),
        M("track_name", name="all"), M("instrument_name", name="Piano"), M("lyrics", text="la"),
        M("marker", text="A"), M("cue_marker", text="cue"), M("device_name", name="dev"),
        M("channel_prefix", channel=2), M("midi_port", port=1),
        M("smpte_offset", frame_rate=25, hours=0, minutes=0, seconds=1, frames=2, sub_frames=3),
        M("time_signature", numerator=7, denominator=8), M("key_signature", key="Ebm"),
        M("sequencer_specific", data=(1, 2, 3)), M("set_tempo", tempo=450_000),
        mido.UnknownMetaMessage(0x60, data=(9, 9)),
        mido.Message("sysex", data=(0x7E, 0x7F, 0x09, 0x01)),
    )
    msgs = [
        mido.Message("program_change", program=5), mido.Message("control_change", control=7, value=100),
        mido.Message("control_change", control=64, value=127), mido.Message("pitchwheel", pitch=-8000),
        mido.Message("polytouch", note=60, value=50), mido.Message("aftertouch", value=30),
        on(60, 64), mido.Message("polytouch", note=60, value=10, time=20), off(60, time=100),
        mido.Message("sysex", data=(0x43, 0x10, 0x4C), time=5), on(64, 80, time=5),
        M("marker", text="mid-track", time=10), off(64, time=100),
        mido.Message("control_change", control=64, value=0),
    ]
    data = to_bytes(mido.MidiFile(type=1, tracks=[metas, track(*msgs)]))
    # a sysex split in two packets (F0 ..., then an F7 continuation), in a third track
    body = b"\x00\xf0\x03\x43\x12\x00" + b"\x10\xf7\x03\x07\x01\xf7" + NOTE + EOT
    raw = smf(mtrk(body))
    return data[:10] + (3).to_bytes(2, "big") + data[12:] + raw[14:]


def _format0_all_channels() -> bytes:
    msgs = []
    for ch in range(16):
        msgs += [mido.Message("program_change", program=ch, channel=ch), on(40 + ch * 3, 50 + ch, ch=ch)]
    msgs += [off(40 + ch * 3, time=60 if ch == 0 else 0, ch=ch) for ch in range(16)]
    return to_bytes(mido.MidiFile(type=0, tracks=[track(*msgs)]))


def _extreme_velocities() -> bytes:
    msgs = []
    for i, v in enumerate([1, 127, 1, 127, 64, 0, 1]):
        msgs += [on(60 + i, v, time=10), off(60 + i, time=50)]
    return to_bytes(mido.MidiFile(type=0, tracks=[track(*msgs)]))


def _running_status_across_meta() -> bytes:
    body = (b"\x00\x90\x3c\x40" + b"\x00\xff\x01\x02hi" + b"\x00\x40\x40" + b"\x60\x3c\x00" + b"\x00\x40\x00"
            + EOT)
    return smf(mtrk(body), fmt=0)


def _padded_header_and_trailing_bytes() -> bytes:
    return smf(mtrk(NOTE + NOTE + EOT), fmt=0, header_len=8, header_extra=b"\x00\x00") + b"\x00garbage"


def _out_of_range_only() -> bytes:
    return to_bytes(mido.MidiFile(type=0, tracks=[track(on(10, 64), off(10, time=100), on(115, 64),
                                                        off(115, time=100))]))


ODD: dict[str, bytes] = {
    "no_note_offs.mid": _no_note_offs(),
    "note_offs_without_ons.mid": _note_offs_without_ons(),
    "same_pitch_overlaps.mid": _same_pitch_overlaps(),
    "zero_length_notes.mid": _zero_length_notes(),
    "dense_chord_second.mid": _dense_chord_second(),
    "hours_long.mid": _hours_long(),
    "hundreds_of_tracks.mid": _hundreds_of_tracks(),
    "tempo_every_beat.mid": _tempo_every_beat(),
    "every_event_kind.mid": _every_event_kind(),
    "format0_all_channels.mid": _format0_all_channels(),
    "extreme_velocities.mid": _extreme_velocities(),
    "running_status.mid": running_status_file(),
    "running_status_across_meta.mid": _running_status_across_meta(),
    "padded_header_trailing_bytes.mid": _padded_header_and_trailing_bytes(),
    "rich.mid": rich_file(),
    "out_of_range_only.mid": _out_of_range_only(),  # copied unchanged, with a warning
}

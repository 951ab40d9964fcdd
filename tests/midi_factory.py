"""Build small MIDI files in memory for tests."""

from __future__ import annotations

import io

import mido


def to_bytes(mid: mido.MidiFile) -> bytes:
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def track(*msgs: mido.Message | mido.MetaMessage) -> mido.MidiTrack:
    t = mido.MidiTrack()
    t.extend(msgs)
    return t


def on(note: int, vel: int = 64, time: int = 0, ch: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=vel, time=time, channel=ch)


def off(note: int, time: int = 0, ch: int = 0, vel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, velocity=vel, time=time, channel=ch)


def simple_file(n_notes: int = 8, tpb: int = 480, vel: int = 64, step: int = 240) -> bytes:
    """One track of ``n_notes`` consecutive notes, one every ``step`` ticks."""
    msgs: list = [mido.MetaMessage("set_tempo", tempo=500_000, time=0)]
    for i in range(n_notes):
        msgs += [on(60 + i % 12, vel), off(60 + i % 12, time=step)]
    msgs.append(mido.MetaMessage("end_of_track", time=0))
    return to_bytes(mido.MidiFile(type=0, ticks_per_beat=tpb, tracks=[track(*msgs)]))


def rich_file() -> bytes:
    """Type 1: a tempo track with changes, two piano tracks on two channels with
    controllers, pedal, program changes, a same-pitch overlap, drums and an
    out-of-range note."""
    meta = track(
        mido.MetaMessage("track_name", name="tempo", time=0),
        mido.MetaMessage("set_tempo", tempo=500_000, time=0),
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=250_000, time=960),
        mido.MetaMessage("set_tempo", tempo=1_000_000, time=960),
        mido.MetaMessage("end_of_track", time=0),
    )
    right = track(
        mido.MetaMessage("track_name", name="right", time=0),
        mido.Message("program_change", program=0, time=0),
        mido.Message("control_change", control=64, value=127, time=0),
        on(72, 80), on(76, 80), off(72, time=480), on(72, 80), off(76, time=10),
        on(76, 70, time=100), off(72, time=200), off(76, time=0),
        mido.Message("control_change", control=64, value=0, time=0),
        on(79, 90, time=100), on(79, 90, time=100),  # same-pitch overlap
        off(79, time=100), off(79, time=100),
        mido.Message("pitchwheel", pitch=100, time=0),
        on(110, 50, time=10), off(110, time=10),  # above the piano's range
        on(84, 60, time=2000), off(84, time=480),
        mido.MetaMessage("end_of_track", time=0),
    )
    left = track(
        mido.Message("program_change", program=1, channel=1, time=0),
        on(48, 70, ch=1), on(55, 70, ch=1), off(48, time=960, ch=1), off(55, ch=1),
        on(36, 100, ch=9, time=0), off(36, ch=9, time=120),  # drums
        on(50, 55, ch=1, time=240), on(50, 0, ch=1, time=480),  # velocity-0 note-off
        mido.Message("aftertouch", value=10, channel=1, time=0),
        mido.MetaMessage("end_of_track", time=0),
    )
    return to_bytes(mido.MidiFile(type=1, ticks_per_beat=480, tracks=[meta, right, left]))


def running_status_file() -> bytes:
    """Raw bytes of a type 0 file that uses running status and a sysex, as many
    sequencers write it (mido itself never writes running status)."""
    body = bytes([
        0x00, 0xF0, 0x05, 0x7E, 0x7F, 0x09, 0x01, 0xF7,  # GM on sysex
        0x00, 0x90, 0x3C, 0x40,  # note_on C4 64
        0x00, 0x40, 0x40,  # running status: note_on E4 64
        0x60, 0x3C, 0x00,  # running status: C4 off (velocity 0)
        0x00, 0x40, 0x00,  # E4 off
        0x00, 0xB0, 0x40, 0x7F,  # sustain on
        0x10, 0x90, 0x43, 0x50,  # G4 80
        0x60, 0x80, 0x43, 0x20,  # note_off with release velocity 32
        0x00, 0xFF, 0x2F, 0x00,
    ])
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 0, 96])
    return header + b"MTrk" + len(body).to_bytes(4, "big") + body

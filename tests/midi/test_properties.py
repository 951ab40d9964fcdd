"""Property-based tests (hypothesis): valid files keep every non-velocity byte; anything else
fails only through the clean error path (``MidiReadError``, one line naming the file)."""

from __future__ import annotations

import functools
import io

import mido
from helpers import (
    EOT,
    ODD,
    TOLERATED,
    alien_chunk_spans,
    assert_only_velocities_changed,
    assert_only_velocities_changed_keeping_chunks,
    chunk,
    mtrk,
    rich_file,
    running_status_file,
    simple_file,
    smf,
    tiny_model,
    vlq,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from autodynamics_cli.errors import MidiReadError
from autodynamics_cli.inference.model import Model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.inference.torch_engine import TorchEngine
from autodynamics_cli.midi.notes import MidiScore
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.midi.smf import scan as midi_scan
from autodynamics_cli.midi.write import with_velocities

FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
CHEAP = settings(FAST, max_examples=80)  # examples that mostly stop at the reader: milliseconds each


@functools.cache
def engine() -> TorchEngine:
    return Model.from_network(tiny_model(max_decoder_len=64))


def humanized(score: MidiScore) -> bytes:
    """The bytes the CLI would write for a score it read."""
    if len(score.notes) == 0:
        return score.data
    (vel,) = predict_velocities(engine(), [score.notes], batch_size=16)
    return with_velocities(score, vel)


data7 = st.integers(0, 127)
pitch = st.one_of(st.integers(21, 108), data7)
channel = st.one_of(st.just(0), st.integers(0, 15))
delta = st.one_of(st.integers(0, 200), st.integers(0, 0x0FFFFFFF))


@st.composite
def midi_event(draw) -> tuple[int | None, bytes]:
    """(channel status or None for meta/sysex, the event's bytes after its status)."""
    kind = draw(
        st.sampled_from(
            ["on"] * 6
            + ["off"] * 3
            + ["cc", "program", "bend", "touch", "poly", "tempo", "text", "timesig", "sysex", "unknown_meta"]
        )
    )
    ch = draw(channel)
    if kind == "on":
        return 0x90 | ch, bytes([draw(pitch), draw(st.one_of(st.integers(1, 127), st.just(0)))])
    if kind == "off":
        return 0x80 | ch, bytes([draw(pitch), draw(data7)])
    if kind == "cc":
        return 0xB0 | ch, bytes([draw(st.sampled_from([1, 7, 11, 64, 66, 67, 121])), draw(data7)])
    if kind == "program":
        return 0xC0 | ch, bytes([draw(data7)])
    if kind == "bend":
        return 0xE0 | ch, bytes([draw(data7), draw(data7)])
    if kind == "touch":
        return 0xD0 | ch, bytes([draw(data7)])
    if kind == "poly":
        return 0xA0 | ch, bytes([draw(pitch), draw(data7)])
    if kind == "tempo":
        return None, b"\xff\x51\x03" + draw(st.integers(1, 0xFFFFFF)).to_bytes(3, "big")
    if kind == "text":
        text = draw(st.binary(max_size=12))
        return None, b"\xff" + bytes([draw(st.integers(1, 7))]) + vlq(len(text)) + text
    if kind == "timesig":
        return None, b"\xff\x58\x04" + bytes([draw(st.integers(1, 16)), draw(st.integers(0, 5)), 24, 8])
    if kind == "sysex":
        payload = draw(st.binary(max_size=10).map(lambda b: bytes(x & 0x7F for x in b))) + b"\xf7"
        return 0xF0, b"\xf0" + vlq(len(payload)) + payload
    payload = draw(st.binary(max_size=6))
    return None, b"\xff\x60" + vlq(len(payload)) + payload


@st.composite
def valid_midi(draw) -> bytes:
    """A random type 0/1 file: tracks of notes, controllers, tempos, metas and sysex, with or
    without running status, any ticks per beat."""
    fmt = draw(st.sampled_from([0, 1]))
    tracks = []
    for _ in range(1 if fmt == 0 else draw(st.integers(1, 4))):
        running = draw(st.booleans())
        last = None
        body = b""
        if not tracks and draw(st.integers(0, 3)):  # most files get at least one modelled note
            body += b"\x00" + bytes(
                [
                    0x90 | draw(st.sampled_from([0, 3, 15])),
                    draw(st.integers(21, 108)),
                    draw(st.integers(1, 127)),
                ]
            )
            last = None
        for status, rest in draw(st.lists(midi_event(), min_size=1, max_size=40)):
            body += vlq(draw(delta) if draw(st.integers(0, 9)) == 0 else draw(st.integers(0, 200)))
            if status is None:  # meta: running status carries on past it (as mido reads it)
                body += rest
            elif status == 0xF0:
                body += rest
                last = None  # sysex ends running status
            else:
                body += rest if running and status == last else bytes([status]) + rest
                last = status
        tracks.append(mtrk(body + EOT))
    return smf(*tracks, fmt=fmt, tpb=draw(st.integers(1, 0x7FFF)))


@FAST
@given(valid_midi())
def test_random_valid_midi_keeps_every_non_velocity_byte(data: bytes):
    score = read_midi("random.mid", data)  # valid: must never raise
    event(f"{min(len(score.notes), 10)}{'+' if len(score.notes) >= 10 else ''} modelled notes")
    out = humanized(score)
    assert_only_velocities_changed(data, out)
    assert read_midi("out.mid", out).notes.pitch.tolist() == score.notes.pitch.tolist()


chunk_type = (
    st.binary(min_size=4, max_size=4)
    .map(lambda b: bytes(0x20 + x % 0x5F for x in b))
    .filter(lambda b: b != b"MTrk")
)


@st.composite
def with_alien_chunks(draw) -> tuple[bytes, bytes]:
    """(a valid file with unknown chunks put before, between and after its tracks, the file)."""
    data = draw(valid_midi())
    cuts, pos = [14], 14
    while pos < len(data):  # after each track
        pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "big")
        cuts.append(pos)
    where = draw(st.lists(st.sampled_from(cuts), min_size=1, max_size=4))
    out, last = b"", 0
    for cut in sorted(where):
        out += data[last:cut] + chunk(draw(chunk_type), draw(st.binary(max_size=20)))
        last = cut
    return out + data[last:], data


@FAST
@given(with_alien_chunks())
def test_unknown_chunks_are_skipped_and_kept(files: tuple[bytes, bytes]):
    data, clean = files
    event(f"{len(alien_chunk_spans(data))} unknown chunk(s) before the last track")
    score, want = read_midi("alien.mid", data), read_midi("clean.mid", clean)
    for field in ("onset", "offset", "pitch", "velocity", "channel", "track"):
        assert getattr(score.notes, field).tolist() == getattr(want.notes, field).tolist()
    out = humanized(score)
    assert_only_velocities_changed_keeping_chunks(data, out)
    assert read_midi("out.mid", out).notes.pitch.tolist() == score.notes.pitch.tolist()


def mido_clip_tracks(data: bytes) -> list | None:
    """The tracks mido reads with ``clip=True`` (the yardstick of issue 32), or None if it cannot."""
    try:
        return mido.MidiFile(file=io.BytesIO(data), clip=True).tracks
    except Exception:  # mido raises OSError, EOFError, ValueError, KeyError, IndexError...
        return None


def assert_only_velocity_bytes_changed(before: bytes, after: bytes, score: MidiScore, tracks: list | None):
    """Only the score's velocity bytes changed; reading ``after`` gives the same notes and warnings; and
    where mido reads ``before`` (``tracks``), it sees the same messages in ``after`` but note_on
    velocities, and as many note_ons per track as the reader found."""
    assert len(before) == len(after)
    offsets = score.notes.byte_offset
    assert {i for i in range(len(before)) if before[i] != after[i]} <= set(offsets.tolist())
    again = read_midi("out.mid", after)
    for name in ("onset", "offset", "pitch", "channel", "track", "byte_offset"):
        assert getattr(again.notes, name).tolist() == getattr(score.notes, name).tolist(), name
    assert again.notes.velocity.tolist() == [min(after[o], 127) for o in offsets.tolist()]
    assert again.programs.tolist() == score.programs.tolist()
    if any(before[o] >= 0x80 for o in offsets.tolist()):  # a velocity read as 127 is now a plain one
        assert [w for w in again.warnings if "a data byte" not in w] == [
            w for w in score.warnings if "a data byte" not in w
        ]
    else:
        assert again.warnings == score.warnings
    if tracks is None or any("after a sysex" in w for w in score.warnings):  # read as players do, not mido
        return
    scanned = midi_scan(before)
    for t, (ta, tb) in enumerate(zip(tracks, mido_clip_tracks(after), strict=True)):
        assert sum(m.type == "note_on" for m in ta) == len(scanned.offsets[t])
        for ma, mb in zip(ta, tb, strict=True):
            assert ma == mb or (ma.type == mb.type == "note_on" and ma.copy(velocity=mb.velocity) == mb)


def only_clean_errors(data: bytes) -> None:
    """Reading and humanizing either works (and changes only velocities) or raises one clean error;
    and a file mido reads with ``clip=True`` is read (issue 32)."""
    tracks = mido_clip_tracks(data)
    try:
        score = read_midi("in.mid", data)  # a file without notes is read too (humanize copies it)
    except MidiReadError as e:
        assert str(e).startswith("in.mid: ") and "\n" not in str(e) and e.reason
        assert tracks is None, f"mido reads it, the reader refused: {e}"
        event(f"refused: {e.reason.split(':')[0].split('(')[0].strip()}")
        return
    event("humanized, with warnings" if score.warnings else "humanized")
    assert all(w.startswith("tolerated: ") and "\n" not in w for w in score.warnings)
    assert_only_velocity_bytes_changed(data, humanized(score), score, tracks)


@CHEAP
@given(
    st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda b: b"MThd" + b),
        st.binary(max_size=300).map(lambda b: smf(mtrk(b), fmt=0)),
    )
)
def test_random_bytes_only_raise_the_clean_error(data: bytes):
    only_clean_errors(data)


BASES = [
    *(
        TOLERATED[name][0]
        for name in ("type2.mid", "smpte_25fps.mid", "missing_eot.mid", "trailing_bytes.mid")
    ),
    rich_file(),
    running_status_file(),
    simple_file(12),
    ODD["every_event_kind.mid"],
    ODD["extreme_velocities.mid"],
    ODD["format0_all_channels.mid"],
    ODD["zero_length_notes.mid"],
    ODD["padded_header_trailing_bytes.mid"],
    ODD["running_status_across_meta.mid"],
]
mutation = st.tuples(
    st.sampled_from(["set"] * 4 + ["insert", "delete", "truncate", "duplicate"]),
    st.one_of(st.floats(0, 1, exclude_max=True), st.just(-1.0)),
    st.integers(0, 255),
)


def mutate(data: bytes, ops: list[tuple[str, float, int]]) -> bytes:
    b = bytearray(data)
    for op, where, value in ops:  # where: a fraction of the events' bytes, or -1 for the header
        i = int(where * (len(b) - 14)) + 14 if where >= 0 and len(b) > 14 else value % max(len(b), 1)
        if op == "set" and b:
            b[i] = value
        elif op == "insert":
            b[i:i] = bytes([value])
        elif op == "delete" and b:
            del b[i]
        elif op == "truncate":
            del b[i:]
        elif op == "duplicate":
            b[i:i] = b[i : i + 1 + value % 8]
    return bytes(b)


@CHEAP
@given(st.sampled_from(BASES), st.lists(mutation, min_size=1, max_size=4))
def test_mutated_valid_files_only_raise_the_clean_error(base: bytes, ops):
    only_clean_errors(mutate(base, ops))

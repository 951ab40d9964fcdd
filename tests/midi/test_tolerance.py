"""Issue 32: the reader refuses only what a tolerant reader cannot make sense of.

Type 2 files and SMPTE time division are read; a wrong header, a missing end-of-track,
trailing bytes, an unknown file type and meta events mido cannot decode are tolerated with
one warning line each; whatever is written back changes only note_on velocity bytes; what
is still refused says at which byte and what was found there.
"""

from __future__ import annotations

import io

import mido
import numpy as np
import pytest
from helpers import (
    EOT,
    NOTE,
    TEMPO_60,
    TOLERATED,
    assert_only_note_velocities_changed,
    assert_only_velocities_changed,
    meta,
    mtrk,
    simple_file,
    smf,
    vlq,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from autodynamics_cli.errors import MidiReadError
from autodynamics_cli.midi.read import read_midi, track_names
from autodynamics_cli.midi.smf import scan
from autodynamics_cli.midi.write import with_velocities


def strict_mido_reads(data: bytes) -> bool:
    try:
        mido.MidiFile(file=io.BytesIO(data))
    except Exception:
        return False
    return True


# --- the corpus of tolerated faults ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TOLERATED))
def test_tolerated_files_read_with_one_warning_per_fault_and_write_back_only_velocities(name):
    data, phrases = TOLERATED[name]
    score = read_midi(name, data)
    assert len(score.notes) > 0
    assert len(score.warnings) == len(phrases), score.warnings
    for phrase, line in zip(phrases, score.warnings, strict=True):
        assert line.startswith("tolerated: ") and phrase in line and "\n" not in line
    vel = np.random.default_rng(len(name)).integers(1, 128, len(score.notes))
    out = with_velocities(score, vel)
    assert_only_note_velocities_changed(data, out, score.notes)
    if strict_mido_reads(data) and len(mido.MidiFile(file=io.BytesIO(data)).tracks) == score.n_tracks:
        assert_only_velocities_changed(data, out, len(score.notes))
    again = read_midi("out.mid", out)
    assert again.notes.velocity.tolist() == vel.tolist() and again.warnings == score.warnings


def test_mido_cannot_read_a_key_signature_out_of_range_and_the_reader_can():
    data, _ = TOLERATED["key_signature_out_of_range.mid"]
    with pytest.raises(mido.KeySignatureError):
        mido.MidiFile(file=io.BytesIO(data), clip=True)
    assert read_midi("k.mid", data).notes.pitch.tolist() == [60, 62, 64, 66]


def test_type2_tracks_are_sequences_of_their_own():
    """Each track starts at 0 with its own tempo map: 120 bpm in track 1, 60 bpm in track 2."""
    score = read_midi("t2.mid", TOLERATED["type2.mid"][0])
    assert score.independent_tracks and score.n_tracks == 2 and score.warnings == ()
    by_track = {t: score.notes.onset[score.notes.track == t].tolist() for t in (0, 1)}
    assert by_track[0] == pytest.approx([0.0, 0.1, 0.2, 0.3])  # 96 ticks at 480 tpb, 120 bpm
    assert by_track[1] == pytest.approx([0.0, 0.2, 0.4, 0.6])  # 60 bpm
    assert score.duration == pytest.approx(0.8)


def test_type2_pairs_notes_and_programs_within_each_track():
    long = mtrk(b"\x00\xc0\x21" + b"\x00\x90\x3c\x40" + vlq(960) + b"\x80\x3c\x00" + EOT)  # a bass
    short = mtrk(b"\x00\x90\x3c\x40" + vlq(96) + b"\x80\x3c\x00" + EOT)
    # type 1 merges the tracks: the first note-off of pitch 60 ends the first note-on, and the program
    # change on the first channel holds for both tracks; type 2 keeps each track to itself
    for fmt, offsets, programs in [(2, [1.0, 0.1], [33, -1]), (1, [0.1, 1.0], [33, 33])]:
        score = read_midi("x.mid", smf(long, short, fmt=fmt))
        order = np.argsort(score.notes.track, kind="stable")
        assert score.notes.offset[order].tolist() == pytest.approx(offsets)
        assert score.programs[order].tolist() == programs


@pytest.mark.parametrize(
    "name,ticks_per_second", [("smpte_25fps.mid", 25 * 40), ("smpte_2997_drop_frame.mid", 30000 / 1001 * 100)]
)
def test_smpte_time_division(name, ticks_per_second):
    """Seconds are ticks / (frames per second x ticks per frame); tempo events change nothing."""
    score = read_midi(name, TOLERATED[name][0])
    assert score.notes.onset.tolist() == pytest.approx([96 * i / ticks_per_second for i in range(4)])
    assert score.notes.offset.tolist() == pytest.approx([96 * (i + 1) / ticks_per_second for i in range(4)])


def test_a_wrong_track_count_reads_the_tracks_present():
    more = read_midi("m.mid", TOLERATED["more_tracks_than_header.mid"][0])
    fewer = read_midi("f.mid", TOLERATED["fewer_tracks_than_header.mid"][0])
    for score in (more, fewer):
        assert score.n_tracks == 2 and sorted(set(score.notes.track.tolist())) == [0, 1]
        assert sorted(score.notes.pitch.tolist()) == sorted([60, 62, 64, 66, 48, 50, 52, 54])


def test_unknown_format_merges_tracks_like_type_1():
    """A tempo in one track holds for the others, as in a type 1 file."""
    data = smf(mtrk(TEMPO_60 + EOT), mtrk(NOTE + NOTE + EOT), fmt=9)
    score = read_midi("u.mid", data)
    assert score.notes.onset.tolist() == pytest.approx([0.0, 0.2])  # 96 ticks at 60 bpm
    assert score.warnings == ("tolerated: unknown MIDI file type 9, read as type 1",)


def test_missing_eot_and_trailing_bytes_are_written_back_as_they_were():
    for name in ("missing_eot.mid", "trailing_bytes.mid", "chunk_length_past_end.mid"):
        data, _ = TOLERATED[name]
        score = read_midi(name, data)
        out = with_velocities(score, np.full(len(score.notes), 99))
        assert out[:22] == data[:22] and out != data
        assert_only_note_velocities_changed(data, out, score.notes)
        if name == "trailing_bytes.mid":
            assert out[-17:] == data[-17:] == b"\x00" * 9 + b"trailing"


def test_track_names_follow_the_tracks_read():
    data = smf(mtrk(meta(3, b"right") + NOTE + EOT), mtrk(meta(3, b"left \xe9") + NOTE), n_tracks=1)
    assert track_names(data) == ["right", "left é"]  # latin-1, as mido decodes them


# --- program changes within a tick -------------------------------------------------------------


def test_a_program_change_at_a_notes_tick_applies_whatever_the_order():
    """Issue 32: a note that comes before its channel's program change at the same tick is not taken as
    a piano; a program change at a later tick does not apply; another channel is not touched."""
    body = (
        b"\x00\x90\x3c\x40"  # note on, tick 0
        + b"\x00\xc0\x21"  # program 33 (a bass), tick 0, after the note
        + b"\x00\x91\x40\x40"  # channel 2, no program change
        + b"\x60\x80\x3c\x00\x00\x81\x40\x00"
        + b"\x00\x90\x3e\x40"  # tick 96: program 33 still
        + b"\x00\xc0\x00"  # program 1 at tick 96, after the note: applies to it
        + b"\x60\x80\x3e\x00"
        + b"\x00\x90\x41\x40\x10\xc0\x05\x50\x80\x41\x00"  # tick 192; program 6 at 208: not for it
        + EOT
    )
    score = read_midi("p.mid", smf(mtrk(body), fmt=0))
    assert list(zip(score.notes.pitch.tolist(), score.programs.tolist(), strict=True)) == [
        (60, 33),
        (64, -1),
        (62, 0),
        (65, 0),
    ]


def test_a_program_change_in_another_track_at_the_same_tick_applies():
    data = smf(mtrk(b"\x00\x90\x3c\x40\x60\x80\x3c\x00" + EOT), mtrk(b"\x00\xc0\x30" + EOT))
    assert read_midi("p.mid", data).programs.tolist() == [48]


# --- still refused, with the byte offset -------------------------------------------------------


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "file is empty"),
        (b"This is not MIDI at all.\n", "not a MIDI file: expected 'MThd' at byte 0, found 'This'"),
        (b"RIFF\x00\x00\x00\x00WAVE", "not a MIDI file: expected 'MThd' at byte 0, found 'RIFF'"),
        (b"\x00\x01", "not a MIDI file: expected 'MThd' at byte 0, found '\\x00\\x01'"),
        (
            b"MThd\x00\x00",
            "truncated header: the file ends at byte 6, inside its MThd chunk (14 bytes at least)",
        ),
        (
            smf(header_len=3) + b"\x00" * 4,
            "garbled header: chunk 'MThd' at byte 0 claims 3 bytes; 6 at least are needed",
        ),
        (
            smf(header_len=5000, n_tracks=1) + mtrk(NOTE + EOT)[1:],
            "garbled header: chunk 'MThd' at byte 0 claims 5,000 bytes, 25 remain",
        ),
        (
            smf(fmt=0, n_tracks=1),
            "truncated: the file ends at byte 14, before its first track (the header says 1 track)",
        ),
        (
            smf(mtrk(NOTE + NOTE, length=5000), fmt=0),  # no end-of-track event before the file ends
            "truncated track: chunk 'MTrk' at byte 14 claims 5,000 bytes, 16 remain",
        ),
        (
            simple_file(4)[:-10],
            "truncated track: chunk 'MTrk' at byte 14 claims 47 bytes, 37 remain",
        ),
        (
            smf(mtrk(NOTE + EOT, length=10), fmt=0) + b"\x00\x00",
            "garbled event at byte 30: a meta event runs past the end of track 1 (chunk 'MTrk' at byte 14 "
            "ends at byte 32)",
        ),
        (smf(mtrk(b"\x00\xf4" + EOT), fmt=0), "garbled event at byte 23: status byte 0xF4 is undefined"),
        (
            smf(mtrk(b"\x00\x3c\x40" + EOT), fmt=0),
            "garbled event at byte 23: running status (data byte 0x3C) with no status byte before it",
        ),
        (
            smf(mtrk(b"\x00\xf8\x00\x3c" + EOT), fmt=0),
            "garbled event at byte 25: running status after system message 0xF8, which takes no data",
        ),
        (
            smf(mtrk(b"\x00\xb0\x07\x90\x40\x40" + EOT), fmt=0),
            "garbled event at byte 29: an event runs past the end of track 1 (chunk 'MTrk' at byte 14 ends "
            "at byte 32); before it, a data byte 0x90 at byte 25, read as 127",
        ),
        (
            smf(mtrk(NOTE + EOT), b"\x00\x00\x00\x00\x00\x00\x00\x00", mtrk(NOTE + EOT)),
            "garbled chunk at byte 34: expected 'MTrk', found '\\x00\\x00\\x00\\x00'",
        ),
    ],
)
def test_what_is_still_refused_says_where(data, reason):
    with pytest.raises(MidiReadError) as e:
        read_midi("bad.mid", data)
    assert str(e.value) == f"bad.mid: {reason}"


def test_a_garbled_extra_track_past_the_headers_count_is_left_alone():
    data = smf(mtrk(NOTE + EOT), mtrk(b"\x00\xf4" + EOT), n_tracks=1)
    score = read_midi("x.mid", data)
    assert score.n_tracks == 1 and score.notes.pitch.tolist() == [60]
    assert score.warnings == (
        "tolerated: 14 trailing bytes after the last track, from byte 34 (a garbled extra track there: "
        "garbled event at byte 43: status byte 0xF4 is undefined)",
    )


# --- random files with random tolerated faults -------------------------------------------------

FAULTS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def track_body(draw) -> tuple[bytes, list[tuple[int, bool]], set[str]]:
    """Random events: (bytes, (offset in the body, modelled) of each note_on's velocity, warning phrases)."""
    body = b""
    notes: list[tuple[int, bool]] = []
    faults: set[str] = set()
    last, after_sysex = None, False
    for _ in range(draw(st.integers(0, 25))):
        if draw(st.integers(0, 30)) == 0:
            body += b"\x80\x80\x80\x80" + bytes([draw(st.integers(0, 127))])  # 5 bytes: read all the same
            faults.add("a variable-length number of 5 bytes")
        else:
            body += vlq(draw(st.integers(0, 300)))
        kind = draw(st.sampled_from(["on"] * 5 + ["off", "cc", "program", "tempo", "key", "text", "sysex"]))
        ch = draw(st.sampled_from([0, 1, 3, 9]))
        if kind in ("on", "off", "cc", "program"):
            status = {"on": 0x90, "off": 0x80, "cc": 0xB0, "program": 0xC0}[kind] | ch
            if status != last or draw(st.booleans()):
                body += bytes([status])
            elif after_sysex:
                faults.add("running status after a sysex event")
            last, after_sysex = status, False
            if kind == "on":
                pitch, vel = draw(st.integers(15, 115)), draw(st.integers(0, 127))
                notes.append((len(body) + 1, vel > 0 and ch != 9 and 21 <= pitch <= 108))
                body += bytes([pitch, vel])
            elif kind == "cc":
                value = draw(st.integers(0, 255))
                faults |= {"a data byte"} if value > 127 else set()
                body += bytes([draw(st.integers(0, 127)), value])
            else:
                body += bytes([draw(st.integers(0, 127))] * (1 if kind == "program" else 2))
        elif kind == "tempo":
            n = draw(st.sampled_from([3, 3, 3, 1, 4]))
            faults |= {"a tempo event with"} if n != 3 else set()
            body += b"\xff\x51" + bytes([n]) + draw(st.binary(min_size=n, max_size=n))
        elif kind == "key":
            key, mode = draw(st.integers(0, 255)), draw(st.integers(0, 2))
            signed = key - 256 if key > 127 else key
            faults |= {"a key signature out of range"} if not -7 <= signed <= 7 or mode > 1 else set()
            body += b"\xff\x59\x02" + bytes([key, mode])
        elif kind == "text":
            text = draw(st.binary(max_size=10))
            body += b"\xff\x01" + vlq(len(text)) + text
        else:
            escape = draw(st.booleans())
            payload = draw(st.binary(max_size=8))
            if escape:  # any bytes; above 127 (but framing F0 ... F7) they are a fault mido clips
                inner = payload[1:] if payload[:1] == b"\xf0" else payload
                inner = inner[:-1] if inner[-1:] == b"\xf7" else inner
                faults |= {"an F7 escape event"} if max(inner, default=0) >= 0x80 else set()
                body += b"\xf7" + vlq(len(payload)) + payload
            else:
                payload = bytes(b & 0x7F for b in payload) + b"\xf7"
                body += b"\xf0" + vlq(len(payload)) + payload
            after_sysex = True  # a sysex cancels running status; players carry on with the one before
    return body, notes, faults


@st.composite
def faulty_midi(draw) -> tuple[bytes, set[int], set[str], int]:
    """A random file with random tolerated faults: (bytes, modelled velocity offsets, warning phrases,
    the number of tracks)."""
    fmt = draw(st.sampled_from([0, 1, 1, 2, 5]))
    n = 1 if fmt == 0 else draw(st.integers(1, 3))
    faults: set[str] = {"unknown MIDI file type 5"} if fmt == 5 else set()
    division = draw(
        st.one_of(
            st.integers(1, 0x7FFF),
            st.tuples(st.sampled_from([24, 25, 29, 30]), st.integers(1, 255)).map(
                lambda f: (256 - f[0]) << 8 | f[1]
            ),
            st.just(0),
        )
    )
    faults |= {"a time division of 0 ticks"} if division == 0 else set()
    tracks, offsets = [], []
    for _ in range(n):
        body, notes, track_faults = draw(track_body())
        faults |= track_faults
        if draw(st.integers(0, 4)):
            body += EOT
        else:
            faults.add("has no end-of-track event")
        tracks.append(body)
        offsets.append(notes)
    header_count = draw(st.sampled_from([n, n, n, 0, n + 1, n + 2] + ([n - 1] if n > 1 else [])))
    faults |= {"header says"} if header_count != n else set()
    past_end = tracks[-1].endswith(EOT) and draw(st.integers(0, 4)) == 0
    trailing = b""
    if draw(st.integers(0, 3)) == 0:
        trailing = b"\x00" + draw(st.binary(max_size=20).filter(lambda b: b"MTrk" not in b))
        faults.add("trailing byte")
    chunks = [mtrk(b) for b in tracks]
    if past_end:
        chunks[-1] = mtrk(tracks[-1], length=len(tracks[-1]) + len(trailing) + draw(st.integers(1, 10**6)))
        faults.add("read up to its end-of-track event")
    data = smf(*chunks, fmt=fmt, tpb=division, n_tracks=header_count) + trailing
    modelled, pos = set(), 14
    for chunk_bytes, notes in zip(chunks, offsets, strict=True):
        modelled |= {pos + 8 + rel for rel, is_modelled in notes if is_modelled}
        pos += len(chunk_bytes)
    return data, modelled, faults, n


@FAULTS
@given(faulty_midi(), st.randoms(use_true_random=False))
def test_random_faulty_files_read_and_write_back_only_velocities(case, rng):
    data, modelled, faults, n_tracks = case
    score = read_midi("faulty.mid", data)  # every fault here is tolerated: must never raise
    event(f"{len(score.warnings)} warning(s)")
    assert score.n_tracks == n_tracks and set(score.notes.byte_offset.tolist()) == modelled
    for phrase in faults:
        assert any(phrase in line for line in score.warnings), (phrase, score.warnings)
    for line in score.warnings:
        assert any(phrase in line for phrase in faults), (line, faults)
    vel = [rng.randint(1, 127) for _ in range(len(score.notes))]
    out = with_velocities(score, np.asarray(vel))
    changed = {i for i in range(len(data)) if data[i] != out[i]}
    assert changed == {o for o, v in zip(score.notes.byte_offset.tolist(), vel, strict=True) if data[o] != v}
    again = read_midi("out.mid", out)
    assert again.notes.velocity.tolist() == vel and again.warnings == score.warnings
    assert again.notes.onset.tolist() == score.notes.onset.tolist()
    assert [len(t) for t in scan(out).offsets] == [len(t) for t in scan(data).offsets]

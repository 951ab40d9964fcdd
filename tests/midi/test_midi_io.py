from __future__ import annotations

import mido
import numpy as np
import pytest
from helpers import (
    ALIEN,
    EOT,
    JUNK,
    NOTE,
    alien_chunk_spans,
    assert_only_velocities_changed_keeping_chunks,
    chunk,
    mtrk,
    off,
    on,
    rich_file,
    running_status_file,
    simple_file,
    smf,
    to_bytes,
    track,
)

from autodynamics_cli.errors import MidiReadError
from autodynamics_cli.midi.read import read_midi, tempo_map_seconds, track_names
from autodynamics_cli.midi.smf import scan, without_unknown_chunks
from autodynamics_cli.midi.write import with_velocities


def test_tempo_map_piecewise():
    # 480 tpb; 120 bpm until tick 960, then 240 bpm, then 60 bpm from tick 1920
    secs = tempo_map_seconds(
        np.array([0, 480, 960, 1440, 1920, 2400]), [960, 1920], [250_000, 1_000_000], 480
    )
    assert np.allclose(secs, [0.0, 0.5, 1.0, 1.25, 1.5, 2.5])


def test_default_tempo_before_first_change():
    secs = tempo_map_seconds(np.array([96]), [], [], 96)
    assert secs[0] == pytest.approx(0.5)


def test_rich_file_notes_and_counts():
    s = read_midi("rich.mid", rich_file())
    assert s.n_tracks == 3
    assert s.n_drum_notes == 1
    assert s.n_out_of_range_notes == 1
    n = s.notes
    # right: 72,76,72,76,79,79,84 ; left: 48,55,50
    assert sorted(n.pitch.tolist()) == sorted([72, 76, 72, 76, 79, 79, 84, 48, 55, 50])
    # tempo changes at 960 (x2 speed) and 1920 (half speed) apply across tracks
    i84 = int(np.flatnonzero(n.pitch == 84)[0])
    # pitch 84 starts at tick 480+10+100+200+100+100+100+100+10+10+2000 = 3210
    expect = 1.0 + 960 / 480 * 0.25 + (3210 - 1920) / 480 * 1.0
    assert n.onset[i84] == pytest.approx(expect)


def test_same_pitch_overlap_pairs_first_in_first_out():
    s = read_midi("x.mid", rich_file())
    n = s.notes
    idx = np.flatnonzero(n.pitch == 79)
    idx = idx[np.argsort(n.onset[idx])]
    first, second = idx
    # on t, on t+100, off t+200, off t+300 (ticks), before any tempo change? t = 1000 ticks
    assert n.offset[first] < n.offset[second]
    assert n.onset[first] < n.onset[second]


def test_velocity_zero_is_note_off_and_unclosed_note_ends_at_track_end():
    data = to_bytes(
        mido.MidiFile(
            type=0,
            ticks_per_beat=100,
            tracks=[
                track(
                    on(60, 50),
                    on(60, 0, time=100),
                    on(62, 70, time=0),
                    on(64, 1, time=50),
                    mido.MetaMessage("end_of_track", time=150),
                )
            ],
        )
    )
    n = read_midi("x.mid", data).notes
    by_pitch = {int(p): (a, b) for p, a, b in zip(n.pitch, n.onset, n.offset, strict=True)}
    assert by_pitch[60] == pytest.approx((0.0, 0.5))
    assert by_pitch[62] == pytest.approx((0.5, 1.5))  # never released: ends at track end
    assert by_pitch[64] == pytest.approx((0.75, 1.5))
    assert sorted(n.velocity.tolist()) == [1, 50, 70]


def test_note_off_without_note_on_is_ignored():
    data = to_bytes(mido.MidiFile(type=0, tracks=[track(off(61), on(60), off(60, time=10))]))
    assert read_midi("x.mid", data).notes.pitch.tolist() == [60]


def test_running_status_and_sysex_locate_velocity_bytes():
    data = running_status_file()
    s = read_midi("rs.mid", data)
    assert sorted(s.notes.pitch.tolist()) == [60, 64, 67]
    out = with_velocities(s, np.array([11, 22, 33]))
    diff = [i for i in range(len(data)) if data[i] != out[i]]
    assert len(diff) == 3 and len(out) == len(data)
    assert sorted(out[i] for i in diff) == [11, 22, 33]


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "empty"),
        (b"RIFF0000", "not a MIDI file"),
        (simple_file()[:40], "truncated"),
        (
            b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\xe7\x28",
            "truncated: the file ends at byte 14, before its first",
        ),
    ],
)
def test_bad_files_raise_read_error(data, reason):
    with pytest.raises(MidiReadError, match=reason) as e:
        read_midi("bad.mid", data)
    assert str(e.value).startswith("bad.mid: ")
    assert "\n" not in str(e.value)


def test_missing_file():
    with pytest.raises(MidiReadError, match="nope.mid"):
        read_midi("nope.mid")


# --- unknown chunks (issue 22) ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALIEN))
def test_unknown_chunks_are_skipped_and_offsets_point_into_the_original(name):
    data, clean = ALIEN[name]
    spans = alien_chunk_spans(data)
    assert scan(data).unknown_chunks == spans and scan(clean).unknown_chunks == []
    assert without_unknown_chunks(data) == clean
    assert without_unknown_chunks(clean) is clean  # nothing to drop: no copy
    got, want = read_midi(name, data), read_midi(name, clean)
    assert got.data is data and got.n_tracks == want.n_tracks
    for field in ("onset", "offset", "pitch", "velocity", "channel", "track"):
        assert getattr(got.notes, field).tolist() == getattr(want.notes, field).tolist(), field
    # the same note_on bytes, shifted by the unknown chunks before them
    shift = [sum(e - s for s, e in spans if e <= off) for off in got.notes.byte_offset]
    assert (got.notes.byte_offset - shift).tolist() == want.notes.byte_offset.tolist()
    assert [data[o] for o in got.notes.byte_offset] == got.notes.velocity.tolist()
    assert track_names(data) == track_names(clean)


def test_unknown_chunks_read_the_right_notes():
    between = read_midi("a.mid", ALIEN["junk_between_tracks.mid"][0])
    assert between.n_tracks == 2
    assert sorted(
        zip(
            between.notes.track.tolist(),
            between.notes.pitch.tolist(),
            between.notes.velocity.tolist(),
            strict=True,
        )
    ) == [(0, 72 + i, 70 + i) for i in range(6)] + [(1, 48 + i, 40 + i) for i in range(6)]
    assert track_names(ALIEN["junk_between_tracks.mid"][0]) == ["right", "left"]
    scale = read_midi("b.mid", ALIEN["junk_before_track_type0.mid"][0])
    assert scale.notes.pitch.tolist() == [72, 74, 76, 77, 79, 81, 83, 84]
    assert scale.notes.onset.tolist() == pytest.approx([0.5 * i for i in range(8)])  # 96 ticks, 96 tpb
    assert scale.notes.velocity.tolist() == [127] * 8


@pytest.mark.parametrize("name", sorted(ALIEN))
def test_unknown_chunks_are_written_back_byte_for_byte(name):
    data, _ = ALIEN[name]
    score = read_midi(name, data)
    vel = np.arange(len(score.notes)) % 127 + 1
    out = with_velocities(score, vel)
    assert len(out) == len(data)
    for start, end in alien_chunk_spans(data):
        assert out[start:end] == data[start:end]
    if name == "junk_between_tracks.mid":  # and the chunk after the last track
        assert out.endswith(chunk(b"Tail", b"\x00after\xff"))
    changed = {i for i in range(len(data)) if data[i] != out[i]}
    assert changed <= set(score.notes.byte_offset.tolist()) and changed
    assert_only_velocities_changed_keeping_chunks(data, out, n_modelled=len(score.notes))
    assert read_midi("out.mid", out).notes.velocity.tolist() == vel.tolist()


@pytest.mark.parametrize(
    "data,reason",
    [
        (
            smf(chunk(b"Junk", b"short", length=5000), mtrk(NOTE + EOT), fmt=0, n_tracks=1),
            "garbled chunk at byte 14: chunk 'Junk' claims 5,000 bytes, 25 remain",
        ),
        (
            smf(mtrk(NOTE + EOT), b"\x00unk" + (4).to_bytes(4, "big") + b"data", mtrk(NOTE + EOT)),
            "garbled chunk at byte 34: expected 'MTrk', found '\\x00unk'",
        ),
        (
            smf(JUNK, fmt=0, n_tracks=1),
            "no tracks: the header says 1 track, but no 'MTrk' chunk follows (found 'Junk' at byte 14)",
        ),
    ],
)
def test_implausible_or_overlong_unknown_chunks_are_refused(data, reason):
    """Before a track the header promises, what cannot be a chunk is refused, with its byte offset."""
    with pytest.raises(MidiReadError) as e:
        read_midi("bad.mid", data)
    assert str(e.value) == f"bad.mid: {reason}"


def test_unknown_chunks_where_a_track_was_promised_are_tolerated():
    """Issue 32: a header that promises a track the file does not have is wrong, not the file."""
    score = read_midi("x.mid", smf(mtrk(NOTE + EOT), JUNK, n_tracks=2))
    assert score.n_tracks == 1 and score.notes.pitch.tolist() == [60]
    assert score.warnings == ("tolerated: header says 2 tracks, the file has 1",)
    tail = smf(mtrk(NOTE + EOT), chunk(b"Junk", b"short", length=5000), n_tracks=1)  # after the last track
    assert read_midi("y.mid", tail).warnings == (
        "tolerated: 13 trailing bytes after the last track, from byte 34",
    )

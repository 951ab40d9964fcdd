"""Issue 5, reading and writing: broken and odd files, limits, atomic writes, through ``autodyn``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    ALIEN,
    BROKEN,
    ODD,
    TOLERATED,
    alien_chunk_spans,
    assert_only_note_velocities_changed,
    assert_only_velocities_changed,
    assert_only_velocities_changed_keeping_chunks,
    cli,
    no_temp_files,
    simple_file,
)

from autodynamics_cli.errors import OutputError
from autodynamics_cli.midi import read as midi_read
from autodynamics_cli.midi import write as midi_write
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.midi.smf import scan as midi_scan
from autodynamics_cli.midi.write import write_atomic

# --- the corpus ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_one_line_error_and_no_output(name, tmp_path, tiny_weights, capsys, monkeypatch):
    data, reason = BROKEN[name]
    src = tmp_path / name
    src.write_bytes(data)
    code, out, err = cli(capsys, monkeypatch, "humanize", src, "-m", tiny_weights)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {src}: ") and reason in lines[0]
    assert "Traceback" not in err and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no output, no temp file


def test_broken_corpus_in_one_real_process(tmp_path, tiny_weights):
    """The installed entry point, in its own process: each broken file one line, no traceback."""
    for name, (data, _) in BROKEN.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "good.mid").write_bytes(simple_file())
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodynamics_cli",
            "humanize",
            *sorted(BROKEN),
            "good.mid",
            "-o",
            str(out),
            "-m",
            str(tiny_weights),
            "--device",
            "cpu",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(BROKEN)
    for name, (_, reason) in BROKEN.items():
        assert any(line.startswith(f"error: {name}: ") and reason in line for line in errors), name
    assert sorted(p.name for p in out.iterdir()) == ["good.mid"]


def test_odd_but_valid_corpus(tmp_path, tiny_weights, capsys, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    for name, data in ODD.items():
        (src / name).write_bytes(data)
    code, out, err = cli(
        capsys, monkeypatch, "humanize", src, "-o", tmp_path / "out", "-m", tiny_weights, "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    status = {Path(f["input"]).name: f["status"] for f in report["files"]}
    assert status == {name: "copied" if name == "out_of_range_only.mid" else "written" for name in ODD}
    assert "warning: " in err and "out_of_range_only.mid" in err
    for name, data in ODD.items():
        assert_only_velocities_changed(data, (tmp_path / "out" / name).read_bytes())
    assert (tmp_path / "out" / "out_of_range_only.mid").read_bytes() == ODD["out_of_range_only.mid"]
    dense = read_midi("x", (tmp_path / "out" / "dense_chord_second.mid").read_bytes())
    assert len(dense.notes) == 3000 and dense.notes.velocity.min() >= 1


def test_tolerated_corpus_humanized_with_its_warnings(tmp_path, tiny_weights, capsys, monkeypatch):
    """Issue 32: files with faults the reader tolerates are humanized (only velocity bytes change) and
    each fault is one ``warning: FILE: tolerated: ...`` line."""
    src = tmp_path / "in"
    src.mkdir()
    for name, (data, _) in TOLERATED.items():
        (src / name).write_bytes(data)
    code, out, err = cli(
        capsys, monkeypatch, "humanize", src, "-o", tmp_path / "out", "-m", tiny_weights, "--json"
    )
    assert code == 0, err
    assert {Path(f["input"]).name: f["status"] for f in json.loads(out)["files"]} == dict.fromkeys(
        TOLERATED, "written"
    )
    for name, (data, _) in TOLERATED.items():
        score = read_midi(name, data)
        assert_only_note_velocities_changed(data, (tmp_path / "out" / name).read_bytes(), score.notes)
        for line in score.warnings:
            assert f"warning: {src / name}: {line}" in err


def test_unknown_chunks_humanized_and_kept_byte_for_byte(tmp_path, tiny_weights, capsys, monkeypatch):
    """Issue 22: an unknown chunk (jazz-soft's test-non-midi-track.mid has a ``Junk`` one) is
    skipped on reading and written back as it was."""
    src = tmp_path / "in"
    src.mkdir()
    for name, (data, _) in ALIEN.items():
        (src / name).write_bytes(data)
    code, out, err = cli(
        capsys, monkeypatch, "humanize", src, "-o", tmp_path / "out", "-m", tiny_weights, "--json"
    )
    assert code == 0, err
    assert {Path(f["input"]).name: f["status"] for f in json.loads(out)["files"]} == dict.fromkeys(
        ALIEN, "written"
    )
    for name, (data, _) in ALIEN.items():
        after = (tmp_path / "out" / name).read_bytes()
        assert len(after) == len(data)
        spans = alien_chunk_spans(data)
        assert spans and all(after[s:e] == data[s:e] for s, e in spans)
        velocity_bytes = {o for track in midi_scan(data).offsets for o in track}
        assert {i for i in range(len(data)) if after[i] != data[i]} <= velocity_bytes
        n_modelled = len(read_midi(name, data).notes)
        assert_only_velocities_changed_keeping_chunks(data, after, n_modelled=n_modelled)


def test_unknown_chunks_and_a_track_chosen_by_name(tmp_path, tiny_weights, capsys, monkeypatch):
    data, _ = ALIEN["junk_between_tracks.mid"]
    src = tmp_path / "band.mid"
    src.write_bytes(data)
    code, _, err = cli(capsys, monkeypatch, "humanize", src, "-m", tiny_weights, "--tracks", "left")
    assert code == 0, err
    after = (tmp_path / "band_humanized.mid").read_bytes()
    right, left = midi_scan(data).offsets
    changed = {i for i in range(len(data)) if after[i] != data[i]}
    assert changed and changed <= set(left)
    assert all(after[o] == data[o] for o in right)
    assert_only_velocities_changed_keeping_chunks(data, after)


# --- writing ---------------------------------------------------------------------------------


def test_write_atomic_refuses_to_clobber_and_keeps_modes(tmp_path):
    dst = tmp_path / "x.mid"
    dst.write_bytes(b"first")
    with pytest.raises(OutputError, match="already exists"):
        write_atomic(dst, b"second", overwrite=False)
    assert dst.read_bytes() == b"first" and no_temp_files(tmp_path)
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new.mid", b"data", overwrite=False)
    finally:
        os.umask(old)
    assert (tmp_path / "new.mid").stat().st_mode & 0o777 == 0o644
    os.chmod(dst, 0o600)
    write_atomic(dst, b"second")
    assert dst.read_bytes() == b"second" and dst.stat().st_mode & 0o777 == 0o600


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    dst = tmp_path / "x.mid"
    dst.write_bytes(b"previous")

    def boom(_fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(midi_write.os, "fsync", boom)
    for target, overwrite in [(dst, True), (tmp_path / "y.mid", False)]:
        with pytest.raises(KeyboardInterrupt):
            write_atomic(target, b"new data", overwrite=overwrite)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mid"]
    assert dst.read_bytes() == b"previous"


# --- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limit,value,expect",
    [
        ("MAX_NOTES", 50, "too many notes (60; the limit is 50)"),
        ("MAX_EVENTS", 100, "too many events"),
        ("MAX_FILE_BYTES", 300, "too large"),
    ],
)
def test_limits_give_a_clear_error(limit, value, expect, tmp_path, tiny_weights, capsys, monkeypatch):
    src = tmp_path / "big.mid"
    src.write_bytes(simple_file(60))
    monkeypatch.setattr(midi_read, limit, value)
    # refused after the byte scan, before any note is built
    monkeypatch.setattr(
        midi_read, "_collect_notes", lambda *_a: pytest.fail("built the notes of an over-limit file")
    )
    code, _, err = cli(capsys, monkeypatch, "humanize", src, "-m", tiny_weights)
    assert code == 1 and expect in err and err.count("\n") == 1
    assert not (tmp_path / "big_humanized.mid").exists()

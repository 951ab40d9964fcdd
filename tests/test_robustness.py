"""Issue 5: bad input, big batches, and nothing lost, through the real ``autodyn`` entry point."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import mido
import pytest
from midi_corpus import BROKEN, ODD
from midi_factory import rich_file, simple_file

from autodynamics_cli import midi_io
from autodynamics_cli.cli import main
from autodynamics_cli.errors import OutputError
from autodynamics_cli.midi_io import read_midi, write_atomic

MODELLED_PITCHES = range(21, 109)


def cli(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    """Run ``autodyn ARGS`` in this process through ``main`` (as the console script does)."""
    monkeypatch.setattr(sys, "argv", ["autodyn", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_velocity_only_diff(before: bytes, after: bytes) -> None:
    """Only velocity bytes of modelled note_ons differ, every message is otherwise identical,
    and every modelled note's velocity is 1..127."""
    assert len(before) == len(after)
    a = mido.MidiFile(file=io.BytesIO(before))
    b = mido.MidiFile(file=io.BytesIO(after))
    n_modelled = 0
    for ta, tb in zip(a.tracks, b.tracks, strict=True):
        assert len(ta) == len(tb)
        for ma, mb in zip(ta, tb, strict=True):
            if ma.type == "note_on" and ma.velocity > 0 and ma.channel != 9 and ma.note in MODELLED_PITCHES:
                n_modelled += 1
                assert mb.type == "note_on" and 1 <= mb.velocity <= 127
                assert (ma.note, ma.channel, ma.time) == (mb.note, mb.channel, mb.time)
            else:
                assert ma == mb
    diff = [i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y]
    assert len(diff) <= n_modelled


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


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
    proc = subprocess.run([sys.executable, "-m", "autodynamics_cli", "humanize", *sorted(BROKEN),
                           "good.mid", "-o", str(out), "-m", str(tiny_weights), "--device", "cpu"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
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
    code, out, err = cli(capsys, monkeypatch, "humanize", src, "-o", tmp_path / "out", "-m", tiny_weights,
                         "--json")
    assert code == 0, err
    report = json.loads(out)
    status = {Path(f["input"]).name: f["status"] for f in report["files"]}
    assert status == {name: "copied" if name == "out_of_range_only.mid" else "written" for name in ODD}
    assert "warning: " in err and "out_of_range_only.mid" in err
    for name, data in ODD.items():
        assert_velocity_only_diff(data, (tmp_path / "out" / name).read_bytes())
    assert (tmp_path / "out" / "out_of_range_only.mid").read_bytes() == ODD["out_of_range_only.mid"]
    dense = read_midi("x", (tmp_path / "out" / "dense_chord_second.mid").read_bytes())
    assert len(dense.notes) == 3000 and dense.notes.velocity.min() >= 1


# --- batches ---------------------------------------------------------------------------------

def test_batch_of_100_with_10_broken(tmp_path, tiny_weights, capsys, monkeypatch):
    broken = sorted(BROKEN)[:10]
    names = []
    for i in range(100):
        if i % 10 == 3:
            name = f"f{i:03d}_{broken[i // 10]}"
            (tmp_path / name).write_bytes(BROKEN[broken[i // 10]][0])
        else:
            name = f"f{i:03d}.mid"
            (tmp_path / name).write_bytes(simple_file(3 + i % 7, vel=1 + i))
        names.append(name)
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, monkeypatch, "humanize", *(tmp_path / n for n in names), "-o", out,
                            "-m", tiny_weights, "--json")
    assert code == 1
    assert len(list(out.iterdir())) == 90
    report = json.loads(stdout)
    assert report["summary"] | {} == {**report["summary"], "planned": 100, "written": 90, "failed": 10}
    assert report["exit_code"] == 1
    failed = sorted(Path(f["input"]).name for f in report["files"] if f["status"] == "failed")
    assert failed == sorted(n for n in names if not n.endswith(".mid") or "_" in n)
    assert "failed: 10 file(s):" in err
    summary = err.split("failed: 10 file(s):")[1]
    assert all(n in summary for n in failed)  # the closing summary lists every failure with its reason
    assert "Traceback" not in err


def test_skip_existing_resumes_and_overwrite(tmp_path, tiny_weights, capsys, monkeypatch):
    ins = []
    for i in range(3):
        ins.append(tmp_path / f"s{i}.mid")
        ins[-1].write_bytes(simple_file(4 + i))
    out = tmp_path / "out"
    assert cli(capsys, monkeypatch, "humanize", *ins, "-o", out, "-m", tiny_weights)[0] == 0
    (out / "s0.mid").write_bytes(b"kept as it is")
    code, _, err = cli(capsys, monkeypatch, "humanize", *ins, "-o", out, "-m", tiny_weights)
    assert code == 1 and "--overwrite" in err and "--skip-existing" in err
    assert (out / "s0.mid").read_bytes() == b"kept as it is"
    (out / "s1.mid").unlink()  # as if the first run had been interrupted before s1
    code, _, err = cli(capsys, monkeypatch, "humanize", *ins, "-o", out, "-m", tiny_weights,
                       "--skip-existing")
    assert code == 0, err
    assert "2 skipped" in err
    assert (out / "s0.mid").read_bytes() == b"kept as it is" and (out / "s1.mid").is_file()
    code, _, err = cli(capsys, monkeypatch, "humanize", *ins, "-o", out, "-m", tiny_weights,
                       "--skip-existing", "--overwrite")
    assert code == 2 and "contradict" in err
    assert cli(capsys, monkeypatch, "humanize", *ins, "-o", out, "-m", tiny_weights, "--overwrite")[0] == 0
    assert_velocity_only_diff(ins[0].read_bytes(), (out / "s0.mid").read_bytes())


def test_skip_existing_with_nothing_to_do_does_not_load_a_model(tmp_path, capsys, monkeypatch):
    src = tmp_path / "a.mid"
    src.write_bytes(simple_file())
    (tmp_path / "a_humanized.mid").write_bytes(b"done before")
    code, _, err = cli(capsys, monkeypatch, "humanize", src, "-m", tmp_path / "missing.safetensors",
                       "--skip-existing")
    assert code == 0 and "1 skipped" in err


def _tree(root: Path) -> None:
    (root / "a" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "top.mid").write_bytes(simple_file(5))
    (root / "a" / "one.MID").write_bytes(simple_file(6))
    (root / "a" / "deep" / "two.midi").write_bytes(rich_file())
    (root / "a" / "notes.txt").write_text("not a MIDI file name, ignored")
    (root / ".hidden" / "h.mid").write_bytes(simple_file(3))


def test_folder_inputs_recursive_mirrored(tmp_path, tiny_weights, capsys, monkeypatch):
    src = tmp_path / "exports"
    src.mkdir()
    _tree(src)
    out = tmp_path / "humanized"
    code, _, err = cli(capsys, monkeypatch, "humanize", src, "-o", out, "-m", tiny_weights)
    assert code == 0, err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["top.mid"]
    code, _, err = cli(capsys, monkeypatch, "humanize", "-r", src, "-o", out, "-m", tiny_weights,
                       "--skip-existing")
    assert code == 0, err
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == ["a/deep/two.midi", "a/one.MID", "top.mid"]
    assert_velocity_only_diff(rich_file(), (out / "a" / "deep" / "two.midi").read_bytes())


def test_output_folder_inside_input_folder_is_not_searched(tmp_path, tiny_weights, capsys, monkeypatch):
    src = tmp_path / "songs"
    src.mkdir()
    (src / "x.mid").write_bytes(simple_file())
    out = src / "out"
    for _ in range(2):  # the rerun must not humanize its own outputs
        code, _, err = cli(capsys, monkeypatch, "humanize", "-r", src, "-o", out, "-m", tiny_weights,
                           "--skip-existing")
        assert code == 0, err
    assert sorted(p.relative_to(src).as_posix() for p in src.rglob("*.mid")) == ["out/x.mid", "x.mid"]


def test_folder_input_errors(tmp_path, tiny_weights, capsys, monkeypatch):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "x.mid").write_bytes(simple_file())
    code, _, err = cli(capsys, monkeypatch, "humanize", empty, "-o", tmp_path / "o", "-m", tiny_weights)
    assert code == 1 and "no MIDI files" in err and "-r" in err
    code, _, err = cli(capsys, monkeypatch, "humanize", empty, "-m", tiny_weights)
    assert code == 2 and "needs -o" in err
    code, _, err = cli(capsys, monkeypatch, "humanize", "-r", empty, "-o", empty, "-m", tiny_weights)
    assert code == 2 and "input folder" in err
    assert sorted(p.name for p in empty.rglob("*")) == ["sub", "x.mid"]


# --- never lose data -------------------------------------------------------------------------

def test_never_writes_over_an_input_by_any_path(tmp_path, tiny_weights, capsys, monkeypatch):
    song = tmp_path / "song.mid"
    song.write_bytes(rich_file())
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.mid").symlink_to(song)
    os.link(song, tmp_path / "hard.mid")
    for target in [song, tmp_path / "sub" / ".." / "song.mid", tmp_path / "link.mid", tmp_path / "hard.mid"]:
        code, _, err = cli(capsys, monkeypatch, "humanize", song, "-o", target, "-m", tiny_weights,
                           "--overwrite")
        assert code == 1 and "refusing to write over an input file" in err, (target, err)
    # in a batch: the output folder holds an input, and one input is another's default output
    other = tmp_path / "song_humanized.mid"
    other.write_bytes(simple_file())
    code, _, err = cli(capsys, monkeypatch, "humanize", song, other, "-m", tiny_weights, "--overwrite")
    assert code == 1 and "refusing to write over an input file" in err
    assert (tmp_path / "song_humanized_humanized.mid").is_file()
    code, _, err = cli(capsys, monkeypatch, "humanize", song, tmp_path / "sub" / ".." / "hard.mid",
                       "-o", tmp_path, "-m", tiny_weights, "--overwrite")
    assert code == 1
    assert song.read_bytes() == rich_file() and other.read_bytes() == simple_file()
    assert no_temp_files(tmp_path)


def test_output_folder_forms_for_one_input(tmp_path, tiny_weights, capsys, monkeypatch):
    song = tmp_path / "song.mid"
    song.write_bytes(simple_file())
    code, _, err = cli(capsys, monkeypatch, "humanize", song, "-o", f"{tmp_path / 'newdir'}/", "-m",
                       tiny_weights)
    assert code == 0, err
    assert (tmp_path / "newdir" / "song.mid").is_file()
    (tmp_path / "existing").mkdir()
    assert cli(capsys, monkeypatch, "humanize", song, "-o", tmp_path / "existing", "-m", tiny_weights)[0] == 0
    assert (tmp_path / "existing" / "song.mid").is_file()


def test_single_output_in_a_missing_folder_is_an_error_not_a_new_folder(tmp_path, tiny_weights, capsys,
                                                                         monkeypatch):
    song = tmp_path / "song.mid"
    song.write_bytes(simple_file())
    code, _, err = cli(capsys, monkeypatch, "humanize", song, "-o", tmp_path / "typo" / "x.mid", "-m",
                       tiny_weights)
    assert code == 1 and "cannot write" in err and not (tmp_path / "typo").exists()


def test_same_output_name_is_refused_before_any_work(tmp_path, tiny_weights, capsys, monkeypatch):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "song.mid").write_bytes(simple_file())
    out = tmp_path / "out"
    code, _, err = cli(capsys, monkeypatch, "humanize", tmp_path / "a" / "song.mid",
                       tmp_path / "b" / "song.mid", "-o", out, "-m", tiny_weights)
    assert code == 2 and "a/song.mid" in err and "b/song.mid" in err and "-r" in err
    assert not out.exists()
    # the same stem with other extensions keeps distinct names in a folder...
    (tmp_path / "a" / "song.midi").write_bytes(simple_file(5))
    code, _, err = cli(capsys, monkeypatch, "humanize", tmp_path / "a", "-o", out, "-m", tiny_weights)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["song.mid", "song.midi"]
    # ...but not beside the inputs, where both would be song_humanized.mid
    code, _, err = cli(capsys, monkeypatch, "humanize", tmp_path / "a" / "song.mid",
                       tmp_path / "a" / "song.midi", "-m", tiny_weights)
    assert code == 2 and "song_humanized.mid" in err
    assert not (tmp_path / "a" / "song_humanized.mid").exists()


def test_same_input_twice_is_humanized_once(tmp_path, tiny_weights, capsys, monkeypatch):
    song = tmp_path / "song.mid"
    song.write_bytes(simple_file())
    code, out, err = cli(capsys, monkeypatch, "humanize", song, tmp_path / "." / "song.mid", "-o",
                         tmp_path / "o", "-m", tiny_weights, "--json")
    assert code == 0, err
    assert len(json.loads(out)["files"]) == 1


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

    monkeypatch.setattr(midi_io.os, "fsync", boom)
    for target, overwrite in [(dst, True), (tmp_path / "y.mid", False)]:
        with pytest.raises(KeyboardInterrupt):
            write_atomic(target, b"new data", overwrite=overwrite)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mid"]
    assert dst.read_bytes() == b"previous"


def test_ctrl_c_in_a_batch_keeps_finished_files_and_exits_130(tmp_path, tiny_weights, capsys, monkeypatch):
    from autodynamics_cli import batch

    ins = []
    for i in range(5):
        ins.append(tmp_path / f"s{i}.mid")
        ins[-1].write_bytes(simple_file(4 + i))
    real = batch.write_atomic
    calls = []

    def write_then_interrupt(path, data, overwrite=False):
        calls.append(path)
        if len(calls) == 3:
            monkeypatch.setattr(midi_io.os, "fsync", lambda _fd: (_ for _ in ()).throw(KeyboardInterrupt))
        real(path, data, overwrite=overwrite)

    monkeypatch.setattr(batch, "write_atomic", write_then_interrupt)
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, monkeypatch, "humanize", *ins, "-o", out, "-m", tiny_weights, "--json")
    assert code == 130
    assert sorted(p.name for p in out.iterdir()) == ["s0.mid", "s1.mid"]  # no partial s2, no temp file
    assert "interrupted after 2 of 5" in err and "--skip-existing" in err
    report = json.loads(stdout)
    assert report["summary"]["interrupted"] and report["exit_code"] == 130


def test_sigterm_stops_a_real_batch_cleanly(tmp_path, tiny_weights):
    import signal
    import time

    src = tmp_path / "in"
    src.mkdir()
    for i in range(400):
        (src / f"s{i:03d}.mid").write_bytes(simple_file(30))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "autodynamics_cli", "humanize", str(src), "-o", str(out),
                             "-m", str(tiny_weights), "--device", "cpu", "-q"],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(out.glob("s*.mid"))) and time.monotonic() < deadline \
            and proc.poll() is None:  # wait for a first finished output, not just a temp file
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted" in err and "Traceback" not in err
    written = list(out.iterdir())
    assert 0 < len(written) < 400 and no_temp_files(out)
    for p in written:  # every file that is there is complete
        assert_velocity_only_diff((src / p.name).read_bytes(), p.read_bytes())


# --- pipes and reports -----------------------------------------------------------------------

def test_stdin_to_stdout_pipe(tiny_weights, capsysbinary, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(rich_file())))
    code, out, err = cli(capsysbinary, monkeypatch, "humanize", "-", "-m", tiny_weights)
    assert code == 0, err
    assert_velocity_only_diff(rich_file(), out)
    assert b"-> standard output" in err


def test_bad_stdin_is_one_line_and_writes_nothing(tiny_weights, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"garbage")))
    code, out, err = cli(capsys, monkeypatch, "humanize", "-", "-o", "-", "-m", tiny_weights)
    assert code == 1 and out == ""
    assert err == "error: <stdin>: not a MIDI file (no MThd header)\n"


def test_stdout_and_json_usage(tmp_path, tiny_weights, capsys, monkeypatch):
    song = tmp_path / "song.mid"
    song.write_bytes(simple_file())
    code, _, err = cli(capsys, monkeypatch, "humanize", song, "-o", "-", "--json", "-m", tiny_weights)
    assert code == 2 and "--json" in err
    code, _, err = cli(capsys, monkeypatch, "humanize", song, song.with_name("b.mid"), "-o", "-")
    assert code == 2 and "exactly one input" in err
    code, _, err = cli(capsys, monkeypatch, "humanize", "-", song)
    assert code == 2 and "only input" in err


def test_json_report_per_file(tmp_path, tiny_weights, capsys, monkeypatch):
    (tmp_path / "good.mid").write_bytes(rich_file())
    (tmp_path / "bad.mid").write_bytes(b"MThd")
    code, out, _ = cli(capsys, monkeypatch, "humanize", tmp_path / "good.mid", tmp_path / "bad.mid",
                       tmp_path / "missing.mid", "-o", tmp_path / "o", "-m", tiny_weights, "--json", "-q")
    assert code == 1
    report = json.loads(out)
    files = {Path(f["input"]).name: f for f in report["files"]}
    assert files["good.mid"]["status"] == "written" and files["good.mid"]["notes"] == 10
    assert files["good.mid"]["drum_notes"] == 1
    assert files["good.mid"]["output"] == str(tmp_path / "o" / "good.mid")
    assert files["bad.mid"]["status"] == "failed" and "truncated" in files["bad.mid"]["error"]
    assert "No such file" in files["missing.mid"]["error"]
    assert report["summary"]["failed"] == 2 and report["exit_code"] == 1


# --- limits ----------------------------------------------------------------------------------

@pytest.mark.parametrize("limit,value,expect", [
    ("MAX_NOTES", 50, "too many notes (60; the limit is 50)"),
    ("MAX_EVENTS", 100, "too many events"),
    ("MAX_FILE_BYTES", 300, "too large"),
])
def test_limits_give_a_clear_error(limit, value, expect, tmp_path, tiny_weights, capsys, monkeypatch):
    src = tmp_path / "big.mid"
    src.write_bytes(simple_file(60))
    monkeypatch.setattr(midi_io, limit, value)
    # refused by the byte scan, before mido builds an object per event
    monkeypatch.setattr(midi_io.mido, "MidiFile", lambda **_kw: pytest.fail("parsed an over-limit file"))
    code, _, err = cli(capsys, monkeypatch, "humanize", src, "-m", tiny_weights)
    assert code == 1 and expect in err and err.count("\n") == 1
    assert not (tmp_path / "big_humanized.mid").exists()


def test_internal_error_in_one_file_does_not_stop_the_batch(tmp_path, tiny_weights, capsys, monkeypatch):
    from autodynamics_cli import batch

    real = batch.read_midi

    def flaky(path, data=None):
        if str(path).endswith("b.mid"):
            raise ZeroDivisionError("simulated bug")
        return real(path, data)

    monkeypatch.setattr(batch, "read_midi", flaky)
    for n in ("a", "b", "c"):
        (tmp_path / f"{n}.mid").write_bytes(simple_file())
    code, _, err = cli(capsys, monkeypatch, "humanize", *(tmp_path / f"{n}.mid" for n in "abc"),
                       "-o", tmp_path / "o", "-m", tiny_weights)
    assert code == 1 and "internal error (ZeroDivisionError: simulated bug)" in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.mid", "c.mid"]
    monkeypatch.setenv("AUTODYN_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli(capsys, monkeypatch, "humanize", tmp_path / "b.mid", "-o", tmp_path / "o2", "-m", tiny_weights)

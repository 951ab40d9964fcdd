"""Issue 5, the humanize batch: big batches, folders, never losing data, pipes and reports,
through the real ``autodyn`` entry point; and the file loop's read-ahead."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    BROKEN,
    as_numpy,
    assert_only_velocities_changed,
    band_file,
    cli,
    no_temp_files,
    off,
    on,
    only_drums,
    rich_file,
    simple_file,
    tiny_model,
    to_bytes,
    track,
)

from autodynamics_cli.humanize import files
from autodynamics_cli.humanize.inputs import expand_inputs, plan_outputs
from autodynamics_cli.inference.model import Model
from autodynamics_cli.midi import write as midi_write

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
    code, stdout, err = cli(
        capsys,
        monkeypatch,
        "humanize",
        *(tmp_path / n for n in names),
        "-o",
        out,
        "-m",
        tiny_weights,
        "--json",
    )
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
    code, _, err = cli(
        capsys, monkeypatch, "humanize", *ins, "-o", out, "-m", tiny_weights, "--skip-existing"
    )
    assert code == 0, err
    assert "2 skipped" in err
    assert (out / "s0.mid").read_bytes() == b"kept as it is" and (out / "s1.mid").is_file()
    code, _, err = cli(
        capsys, monkeypatch, "humanize", *ins, "-o", out, "-m", tiny_weights, "--skip-existing", "--overwrite"
    )
    assert code == 2 and "contradict" in err
    assert cli(capsys, monkeypatch, "humanize", *ins, "-o", out, "-m", tiny_weights, "--overwrite")[0] == 0
    assert_only_velocities_changed(ins[0].read_bytes(), (out / "s0.mid").read_bytes())


def test_skip_existing_with_nothing_to_do_does_not_load_a_model(tmp_path, capsys, monkeypatch):
    src = tmp_path / "a.mid"
    src.write_bytes(simple_file())
    (tmp_path / "a_humanized.mid").write_bytes(b"done before")
    code, _, err = cli(
        capsys, monkeypatch, "humanize", src, "-m", tmp_path / "missing.safetensors", "--skip-existing"
    )
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
    code, _, err = cli(
        capsys, monkeypatch, "humanize", "-r", src, "-o", out, "-m", tiny_weights, "--skip-existing"
    )
    assert code == 0, err
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == ["a/deep/two.midi", "a/one.MID", "top.mid"]
    assert_only_velocities_changed(rich_file(), (out / "a" / "deep" / "two.midi").read_bytes())


def test_output_folder_inside_input_folder_is_not_searched(tmp_path, tiny_weights, capsys, monkeypatch):
    src = tmp_path / "songs"
    src.mkdir()
    (src / "x.mid").write_bytes(simple_file())
    out = src / "out"
    for _ in range(2):  # the rerun must not humanize its own outputs
        code, _, err = cli(
            capsys, monkeypatch, "humanize", "-r", src, "-o", out, "-m", tiny_weights, "--skip-existing"
        )
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
    """An output that is an input (by any path to it) is a usage error, before any work (issue 32)."""
    song = tmp_path / "song.mid"
    song.write_bytes(rich_file())
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.mid").symlink_to(song)
    os.link(song, tmp_path / "hard.mid")
    missing_model = tmp_path / "missing.safetensors"  # loading it would fail: nothing may be loaded
    for target in [song, tmp_path / "sub" / ".." / "song.mid", tmp_path / "link.mid", tmp_path / "hard.mid"]:
        code, out, err = cli(
            capsys, monkeypatch, "humanize", song, "-o", target, "-m", missing_model, "--overwrite", "--json"
        )
        assert code == 2 and "refusing to write over an input file" in err, (target, err)
        assert out == "" and len(err.strip().splitlines()) == 1
    # in a batch: one input is another's default output, or the output folder holds an input
    other = tmp_path / "song_humanized.mid"
    other.write_bytes(simple_file())
    code, _, err = cli(capsys, monkeypatch, "humanize", song, other, "-m", tiny_weights, "--overwrite")
    assert code == 2 and "refusing to write over an input file" in err and "song_humanized.mid" in err
    assert not (tmp_path / "song_humanized_humanized.mid").exists()  # nothing was done
    code, _, err = cli(
        capsys,
        monkeypatch,
        "humanize",
        song,
        tmp_path / "sub" / ".." / "hard.mid",
        "-o",
        tmp_path,
        "-m",
        tiny_weights,
        "--overwrite",
    )
    assert code == 2 and "refusing to write over an input file" in err
    code, _, err = cli(
        capsys, monkeypatch, "humanize", song, "-o", song, "-m", tiny_weights, "--skip-existing"
    )
    assert code == 2 and "refusing to write over an input file" in err
    assert song.read_bytes() == rich_file() and other.read_bytes() == simple_file()
    assert no_temp_files(tmp_path)


def test_output_folder_forms_for_one_input(tmp_path, tiny_weights, capsys, monkeypatch):
    song = tmp_path / "song.mid"
    song.write_bytes(simple_file())
    code, _, err = cli(
        capsys, monkeypatch, "humanize", song, "-o", f"{tmp_path / 'newdir'}/", "-m", tiny_weights
    )
    assert code == 0, err
    assert (tmp_path / "newdir" / "song.mid").is_file()
    (tmp_path / "existing").mkdir()
    assert cli(capsys, monkeypatch, "humanize", song, "-o", tmp_path / "existing", "-m", tiny_weights)[0] == 0
    assert (tmp_path / "existing" / "song.mid").is_file()


def test_single_output_in_a_missing_folder_is_an_error_not_a_new_folder(
    tmp_path, tiny_weights, capsys, monkeypatch
):
    song = tmp_path / "song.mid"
    song.write_bytes(simple_file())
    code, _, err = cli(
        capsys, monkeypatch, "humanize", song, "-o", tmp_path / "typo" / "x.mid", "-m", tiny_weights
    )
    assert code == 1 and "cannot write" in err and not (tmp_path / "typo").exists()


def test_same_output_name_is_refused_before_any_work(tmp_path, tiny_weights, capsys, monkeypatch):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "song.mid").write_bytes(simple_file())
    out = tmp_path / "out"
    code, _, err = cli(
        capsys,
        monkeypatch,
        "humanize",
        tmp_path / "a" / "song.mid",
        tmp_path / "b" / "song.mid",
        "-o",
        out,
        "-m",
        tiny_weights,
    )
    assert code == 2 and "a/song.mid" in err and "b/song.mid" in err and "-r" in err
    assert not out.exists()
    # the same stem with other extensions keeps distinct names in a folder...
    (tmp_path / "a" / "song.midi").write_bytes(simple_file(5))
    code, _, err = cli(capsys, monkeypatch, "humanize", tmp_path / "a", "-o", out, "-m", tiny_weights)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["song.mid", "song.midi"]
    # ...but not beside the inputs, where both would be song_humanized.mid
    code, _, err = cli(
        capsys,
        monkeypatch,
        "humanize",
        tmp_path / "a" / "song.mid",
        tmp_path / "a" / "song.midi",
        "-m",
        tiny_weights,
    )
    assert code == 2 and "song_humanized.mid" in err
    assert not (tmp_path / "a" / "song_humanized.mid").exists()


def test_same_input_twice_is_humanized_once(tmp_path, tiny_weights, capsys, monkeypatch):
    song = tmp_path / "song.mid"
    song.write_bytes(simple_file())
    code, out, err = cli(
        capsys,
        monkeypatch,
        "humanize",
        song,
        tmp_path / "." / "song.mid",
        "-o",
        tmp_path / "o",
        "-m",
        tiny_weights,
        "--json",
    )
    assert code == 0, err
    assert len(json.loads(out)["files"]) == 1


def test_ctrl_c_in_a_batch_keeps_finished_files_and_exits_130(tmp_path, tiny_weights, capsys, monkeypatch):
    ins = []
    for i in range(5):
        ins.append(tmp_path / f"s{i}.mid")
        ins[-1].write_bytes(simple_file(4 + i))
    real = files.write_atomic
    calls = []

    def write_then_interrupt(path, data, overwrite=False):
        calls.append(path)
        if len(calls) == 3:
            monkeypatch.setattr(midi_write.os, "fsync", lambda _fd: (_ for _ in ()).throw(KeyboardInterrupt))
        real(path, data, overwrite=overwrite)

    monkeypatch.setattr(files, "write_atomic", write_then_interrupt)
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
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autodynamics_cli",
            "humanize",
            str(src),
            "-o",
            str(out),
            "-m",
            str(tiny_weights),
            "--device",
            "cpu",
            "-q",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 60
    while (
        not (out.is_dir() and any(out.glob("s*.mid"))) and time.monotonic() < deadline and proc.poll() is None
    ):  # wait for a first finished output, not just a temp file
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted" in err and "Traceback" not in err
    written = list(out.iterdir())
    assert 0 < len(written) < 400 and no_temp_files(out)
    for p in written:  # every file that is there is complete
        assert_only_velocities_changed((src / p.name).read_bytes(), p.read_bytes())


# --- pipes and reports -----------------------------------------------------------------------


def test_stdin_to_stdout_pipe(tiny_weights, capsysbinary, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(rich_file())))
    code, out, err = cli(capsysbinary, monkeypatch, "humanize", "-", "-m", tiny_weights)
    assert code == 0, err
    assert_only_velocities_changed(rich_file(), out)
    assert b"-> standard output" in err


def test_bad_stdin_is_one_line_and_writes_nothing(tiny_weights, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"garbage")))
    code, out, err = cli(capsys, monkeypatch, "humanize", "-", "-o", "-", "-m", tiny_weights)
    assert code == 1 and out == ""
    assert err.startswith("error: <stdin>: not a MIDI file") and err.count("\n") == 1  # one line


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
    code, out, _ = cli(
        capsys,
        monkeypatch,
        "humanize",
        tmp_path / "good.mid",
        tmp_path / "bad.mid",
        tmp_path / "missing.mid",
        "-o",
        tmp_path / "o",
        "-m",
        tiny_weights,
        "--json",
        "-q",
    )
    assert code == 1
    report = json.loads(out)
    files = {Path(f["input"]).name: f for f in report["files"]}
    assert files["good.mid"]["status"] == "written" and files["good.mid"]["notes"] == 10
    assert files["good.mid"]["drum_notes"] == 1
    assert files["good.mid"]["output"] == str(tmp_path / "o" / "good.mid")
    assert files["bad.mid"]["status"] == "failed" and "truncated" in files["bad.mid"]["error"]
    assert "No such file" in files["missing.mid"]["error"]
    assert report["summary"]["failed"] == 2 and report["exit_code"] == 1


def test_json_totals_are_the_per_file_statuses(tmp_path, tiny_weights, capsys, monkeypatch):
    """Written (humanized), copied, skipped and failed files are each counted once, as their status says."""
    import mido

    ins = tmp_path / "in"
    out = tmp_path / "out"
    ins.mkdir()
    out.mkdir()
    for name, n in (("a.mid", 5), ("b.mid", 9), ("skip.mid", 4)):
        (ins / name).write_bytes(simple_file(n))
    (out / "skip.mid").write_bytes(b"kept")
    low = [on(10), off(10, time=480), on(12), off(12, time=480)]  # below the piano's lowest key
    (ins / "copy.mid").write_bytes(to_bytes(mido.MidiFile(type=0, tracks=[track(*low)])))
    (ins / "bad.mid").write_bytes(b"MThd garbage")
    code, stdout, err = cli(
        capsys, monkeypatch, "humanize", ins, "-o", out, "-m", tiny_weights, "--json", "--skip-existing"
    )
    report = json.loads(stdout)
    statuses = {Path(f["input"]).name: f["status"] for f in report["files"]}
    assert statuses == {
        "a.mid": "written",
        "b.mid": "written",
        "copy.mid": "copied",
        "skip.mid": "skipped",
        "bad.mid": "failed",
    }
    counts = {k: list(statuses.values()).count(k) for k in ("written", "copied", "skipped", "failed")}
    assert {k: report["summary"][k] for k in counts} == counts
    assert report["summary"]["finished"] == sum(counts.values()) == report["summary"]["planned"]
    assert report["summary"]["notes"] == sum(f["notes"] for f in report["files"] if f["status"] != "failed")
    assert code == 1
    assert "humanized 2 of 5 file(s)" in err and "1 copied unchanged" in err and "1 skipped" in err
    seconds = {Path(f["input"]).name: f["seconds"] for f in report["files"]}
    assert seconds["a.mid"] > 0 and seconds["b.mid"] > 0 and seconds["skip.mid"] == 0


def test_internal_error_in_one_file_does_not_stop_the_batch(tmp_path, tiny_weights, capsys, monkeypatch):
    real = files.read_input

    def flaky(path, data=None, **kw):
        if str(path).endswith("b.mid"):
            raise ZeroDivisionError("simulated bug")
        return real(path, data, **kw)

    monkeypatch.setattr(files, "read_input", flaky)
    for n in ("a", "b", "c"):
        (tmp_path / f"{n}.mid").write_bytes(simple_file())
    code, _, err = cli(
        capsys,
        monkeypatch,
        "humanize",
        *(tmp_path / f"{n}.mid" for n in "abc"),
        "-o",
        tmp_path / "o",
        "-m",
        tiny_weights,
    )
    assert code == 1 and "internal error (ZeroDivisionError: simulated bug)" in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.mid", "c.mid"]
    monkeypatch.setenv("AUTODYN_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli(capsys, monkeypatch, "humanize", tmp_path / "b.mid", "-o", tmp_path / "o2", "-m", tiny_weights)


def test_read_ahead_gives_the_same_files_and_errors(tmp_path: Path):
    """Parsing the next group in a thread changes nothing but the timing."""
    ins = []
    for i in range(7):
        p = tmp_path / f"in{i}.mid"
        p.write_bytes(b"not midi" if i in (2, 5) else simple_file(6 + 3 * i))
        ins.append(p)
    engine = Model.from_network(tiny_model(feedback=False, max_decoder_len=256))
    outs = {}
    for ahead in (False, True):
        out = tmp_path / f"out{ahead}"
        plans = plan_outputs(expand_inputs([str(p) for p in ins]), str(out) + "/")
        results = files.humanize_files(engine, plans, read_ahead=ahead, group_size=2)
        names = [Path(r.input).name for r in results]
        assert sorted(names) == sorted(p.name for p in ins)
        assert sorted(Path(r.input).name for r in results if not r.ok) == ["in2.mid", "in5.mid"]
        outs[ahead] = ({Path(r.input).name: Path(r.output).read_bytes() for r in results if r.ok}, names)
    assert outs[True] == outs[False]


def test_progress_counts_every_note_once_as_the_engine_decodes(tmp_path: Path):
    """``on_progress`` reports decoded notes per file, batch by batch, adding up to each file's notes,
    with either engine (the numpy engine reports from its threads)."""
    import threading

    ins = []
    for i in range(5):
        p = tmp_path / f"in{i}.mid"
        p.write_bytes(b"not midi" if i == 3 else simple_file(40 + 30 * i, step=120))
        ins.append(p)
    model = tiny_model(feedback=False, causal_decoder=False, max_decoder_len=64)
    for engine in (Model.from_network(model), as_numpy(model, workers=2)):
        seen: dict[str, list[tuple[int, int]]] = {}
        lock = threading.Lock()

        def progress(name: str, n: int, total: int, seen=seen, lock=lock) -> None:
            with lock:
                seen.setdefault(Path(name).name, []).append((n, total))

        out = tmp_path / engine.engine_name
        plans = plan_outputs(expand_inputs([str(p) for p in ins]), str(out) + "/")
        results = files.humanize_files(engine, plans, batch_size=2, group_size=2, on_progress=progress)
        notes = {Path(r.input).name: r.notes for r in results if r.ok}
        assert set(seen) == set(notes)  # the unreadable file reports nothing
        for name, calls in seen.items():
            assert sum(n for n, _ in calls) == notes[name] and {t for _, t in calls} == {notes[name]}
        assert max(len(c) for c in seen.values()) > 1  # it moves within a file, not only at its end


# --- band files and drum loops ----------------------------------------------------------------


def _changed_channels(before: bytes, after: bytes) -> set[int]:
    import mido

    a, b = (mido.MidiFile(file=io.BytesIO(x)) for x in (before, after))
    return {
        ma.channel
        for ta, tb in zip(a.tracks, b.tracks, strict=True)
        for ma, mb in zip(ta, tb, strict=True)
        if ma != mb
    }


def test_band_file_humanizes_only_the_keyboards(tmp_path, tiny_weights, capsys, monkeypatch):
    """Piano and the part without a program change are humanized; bass, strings and drums are not."""
    src = tmp_path / "band.mid"
    src.write_bytes(band_file())
    code, stdout, err = cli(
        capsys, monkeypatch, "humanize", src, "-o", tmp_path / "out.mid", "-m", tiny_weights, "--json"
    )
    assert code == 0
    after = (tmp_path / "out.mid").read_bytes()
    assert_only_velocities_changed(src.read_bytes(), after)
    assert _changed_channels(src.read_bytes(), after) <= {0, 3}
    f = json.loads(stdout)["files"][0]
    assert (f["notes"], f["not_piano_notes"], f["not_piano_parts"], f["drum_notes"]) == (12, 12, 2, 6)
    assert json.loads(stdout)["summary"]["not_piano_parts"] == 2
    assert "2 part(s) left alone: not piano" in err


def test_all_parts_and_explicit_tracks_humanize_other_instruments(
    tmp_path, tiny_weights, capsys, monkeypatch
):
    src = tmp_path / "band.mid"
    src.write_bytes(band_file())
    code, stdout, _ = cli(
        capsys,
        monkeypatch,
        "humanize",
        src,
        "-o",
        tmp_path / "all.mid",
        "-m",
        tiny_weights,
        "--json",
        "--all-parts",
    )
    assert code == 0 and json.loads(stdout)["files"][0]["notes"] == 24
    assert _changed_channels(src.read_bytes(), (tmp_path / "all.mid").read_bytes()) <= {0, 1, 2, 3}
    code, stdout, _ = cli(
        capsys,
        monkeypatch,
        "humanize",
        src,
        "-o",
        tmp_path / "bass.mid",
        "-m",
        tiny_weights,
        "--json",
        "--tracks",
        "2",
    )
    f = json.loads(stdout)["files"][0]
    assert code == 0 and (f["notes"], f["not_piano_parts"]) == (6, 0)
    assert _changed_channels(src.read_bytes(), (tmp_path / "bass.mid").read_bytes()) <= {1}


def test_only_other_instruments_is_copied_with_a_warning(tmp_path, tiny_weights, capsys, monkeypatch):
    import mido

    bass = mido.MidiFile(
        type=0,
        tracks=[
            track(
                mido.Message("program_change", program=33),
                on(40),
                off(40, time=480),
                on(43),
                off(43, time=480),
            )
        ],
    )
    src = tmp_path / "bass.mid"
    src.write_bytes(to_bytes(bass))
    code, stdout, err = cli(
        capsys, monkeypatch, "humanize", src, "-o", tmp_path / "out.mid", "-m", tiny_weights, "--json"
    )
    assert code == 0 and (tmp_path / "out.mid").read_bytes() == src.read_bytes()
    assert json.loads(stdout)["files"][0]["status"] == "copied"
    assert "no piano part (1 other part(s); --all-parts humanizes them); copied unchanged" in err


def test_a_drum_loop_is_copied_with_a_warning_and_exit_0(tmp_path, tiny_weights, capsys, monkeypatch):
    """A batch must not fail on a drum loop: it is copied unchanged, as an all-out-of-range file is."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "drums.mid").write_bytes(only_drums())
    (tmp_path / "in" / "song.mid").write_bytes(simple_file(6))
    code, stdout, err = cli(
        capsys, monkeypatch, "humanize", tmp_path / "in", "-o", tmp_path / "out", "-m", tiny_weights, "--json"
    )
    assert code == 0
    files = {Path(f["input"]).name: f for f in json.loads(stdout)["files"]}
    assert files["drums.mid"]["status"] == "copied" and files["song.mid"]["status"] == "written"
    assert (tmp_path / "out" / "drums.mid").read_bytes() == only_drums()
    assert "drums.mid: only drum notes (channel 10); copied unchanged" in err
    assert "humanized 1 of 2 file(s)" in err and "1 copied unchanged" in err


def test_a_type_2_file_humanizes_each_track_as_its_own_sequence(tmp_path: Path):
    """Two identical one-track sequences: each is read alone from its own start, so both get the
    velocities one of them gets alone; read as one timeline they would be doubled chords."""
    from helpers import EOT, mtrk, smf, vlq

    body = b"".join(
        vlq(0 if i == 0 else 120)
        + bytes([0x90, 55 + (i * 7) % 24, 64])
        + vlq(120)
        + bytes([0x80, 55 + (i * 7) % 24, 0])
        for i in range(24)
    )
    one = smf(mtrk(body + EOT), fmt=0)
    two = smf(mtrk(body + EOT), mtrk(body + EOT), fmt=2)
    model = Model.from_network(tiny_model(feedback=False, causal_decoder=False, max_decoder_len=256))
    from autodynamics_cli.midi.read import read_midi

    alone = read_midi("a", ad_bytes(model, one)).notes.velocity
    both = read_midi("b", ad_bytes(model, two)).notes
    assert sorted(both.track.tolist()) == [0] * 24 + [1] * 24
    for t in (0, 1):
        assert sorted(both.velocity[both.track == t].tolist()) == sorted(alone.tolist())
    assert len(set(alone.tolist())) > 1  # not a comparison of constants
    # progress names the file its tracks belong to, and counts each note once
    src = tmp_path / "two.mid"
    src.write_bytes(two)
    seen: list[tuple[str, int, int]] = []
    plans = plan_outputs(expand_inputs([str(src)]), str(tmp_path / "out.mid"))
    files.humanize_files(model, plans, on_progress=lambda name, n, total: seen.append((name, n, total)))
    assert {name for name, _, _ in seen} == {str(src)} and sum(n for _, n, _ in seen) == 48
    assert {total for _, _, total in seen} == {48}


def ad_bytes(model: Model, data: bytes) -> bytes:
    from autodynamics_cli.humanize.api import humanize_bytes

    return humanize_bytes(data, model=model)

"""Issue 32, the batch: nothing to humanize is a copy with a warning, the reader's warnings are
reported, and one file's unexpected error at any stage fails that file alone."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import mido
import pytest
from helpers import (
    NO_NOTES,
    assert_only_velocities_changed,
    cli,
    off,
    on,
    only_drums,
    simple_file,
    to_bytes,
    track,
)

from autodynamics_cli.humanize import files
from autodynamics_cli.humanize.inputs import expand_inputs, plan_outputs
from autodynamics_cli.inference.model import Model

# --- nothing to humanize: copied unchanged, status copied, exit 0, one warning ----------------


def _meter_only() -> bytes:
    meta = [mido.MetaMessage("time_signature", numerator=3, denominator=4), mido.MetaMessage("set_tempo")]
    return to_bytes(mido.MidiFile(type=1, tracks=[track(*meta), track()]))


def _out_of_range_only() -> bytes:
    return to_bytes(mido.MidiFile(type=0, tracks=[track(on(10), off(10, time=480))]))


def _bass_only() -> bytes:
    prog = mido.Message("program_change", program=33)
    return to_bytes(mido.MidiFile(type=0, tracks=[track(prog, on(40), off(40, time=480))]))


NOTHING = {
    **NO_NOTES,
    "meter_only.mid": _meter_only(),
    "drums.mid": only_drums(),
    "low.mid": _out_of_range_only(),
    "bass.mid": _bass_only(),
}
REASONS = {
    **dict.fromkeys([*NO_NOTES, "meter_only.mid"], "no notes"),
    "drums.mid": "only drum notes (channel 10)",
    "low.mid": "no notes in the piano range",
    "bass.mid": "no piano part (1 other part(s); --all-parts humanizes them)",
}


@pytest.mark.parametrize("name", sorted(NOTHING))
def test_a_file_with_nothing_to_humanize_is_copied_with_one_warning(
    name, tmp_path, tiny_weights, capsys, monkeypatch
):
    src = tmp_path / name
    src.write_bytes(NOTHING[name])
    out = tmp_path / "out.mid"
    code, stdout, err = cli(capsys, monkeypatch, "humanize", src, "-o", out, "-m", tiny_weights, "--json")
    assert code == 0, err
    assert out.read_bytes() == NOTHING[name]
    (f,) = json.loads(stdout)["files"]
    reason = f"{REASONS[name]}; copied unchanged"
    assert (f["status"], f["warnings"], f["error"], f["dynamics"]) == ("copied", [reason], None, None)
    assert f["warning"] == f"{src}: {reason}"  # kept for compatibility
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {src}: {reason}"]
    assert "error" not in err
    code, _, err = cli(
        capsys, monkeypatch, "humanize", src, "-o", out, "-m", tiny_weights, "--overwrite", "-q"
    )
    assert code == 0 and err == ""  # -q: no warning


def test_a_batch_of_files_with_nothing_to_humanize_exits_0(tmp_path, tiny_weights, capsys, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    for name, data in NOTHING.items():
        (src / name).write_bytes(data)
    (src / "song.mid").write_bytes(simple_file(6))
    code, stdout, err = cli(
        capsys, monkeypatch, "humanize", src, "-o", tmp_path / "out", "-m", tiny_weights, "--json"
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert report["summary"] | {"copied": len(NOTHING), "written": 1, "failed": 0} == report["summary"]
    for name, data in NOTHING.items():
        assert (tmp_path / "out" / name).read_bytes() == data
        assert f"warning: {src / name}: {REASONS[name]}; copied unchanged" in err
    assert f"1 of {len(NOTHING) + 1} file(s)" in err and f"{len(NOTHING)} copied unchanged" in err


def test_a_file_without_notes_on_standard_input_comes_out_unchanged(tiny_weights, capsysbinary, monkeypatch):
    data = NO_NOTES["no_notes.mid"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, err = cli(capsysbinary, monkeypatch, "humanize", "-", "-m", tiny_weights)
    assert code == 0, err
    assert out == data and b"warning: <stdin>: no notes; copied unchanged" in err


def test_a_musicxml_score_without_pitched_notes_is_refused_in_one_line(
    tmp_path, tiny_weights, capsys, monkeypatch
):
    pytest.importorskip("lxml")
    import xml_scores as X

    src = tmp_path / "rests.musicxml"
    src.write_text(X.score(X.measure(1, X.rest(4), first=True), X.measure(2, X.rest(4))))
    code, out, err = cli(capsys, monkeypatch, "humanize", src, "-m", tiny_weights)
    assert code == 1 and out == ""
    assert err == f"error: {src}: no pitched notes in this score; nothing to humanize\n"
    assert not (tmp_path / "rests_humanized.mid").exists()


# --- the reader's tolerated faults ------------------------------------------------------------


def _with_reader_warnings(monkeypatch, culprit: str, lines: list[str]) -> None:
    """``read_input`` as if the MIDI reader had tolerated faults in ``culprit`` (``MidiScore.warnings``)."""
    real = files.read_input

    def read(path, data=None, **kw):
        got = real(path, data, **kw)
        if str(path).endswith(culprit):
            got.midi.warnings = list(lines)
        return got

    monkeypatch.setattr(files, "read_input", read)


def test_reader_warnings_are_printed_and_reported(tmp_path, tiny_weights, capsys, monkeypatch):
    lines = ["track 1: 2 note-offs without a note-on ignored", "track 1 ends without an end-of-track event"]
    _with_reader_warnings(monkeypatch, "b.mid", lines)
    for n in "ab":
        (tmp_path / f"{n}.mid").write_bytes(simple_file(5))
    (tmp_path / "drums.mid").write_bytes(only_drums())
    _with_reader_warnings(monkeypatch, "b.mid", lines)
    ins = [tmp_path / n for n in ("a.mid", "b.mid", "drums.mid")]
    code, stdout, err = cli(
        capsys, monkeypatch, "humanize", *ins, "-o", tmp_path / "o", "-m", tiny_weights, "--json"
    )
    assert code == 0, err
    got = {Path(f["input"]).name: f["warnings"] for f in json.loads(stdout)["files"]}
    assert got == {
        "a.mid": [],
        "b.mid": lines,
        "drums.mid": ["only drum notes (channel 10); copied unchanged"],
    }
    assert [line for line in err.splitlines() if line.startswith("warning:")] == [
        *(f"warning: {ins[1]}: {w}" for w in lines),
        f"warning: {ins[2]}: only drum notes (channel 10); copied unchanged",
    ]
    code, _, err = cli(
        capsys, monkeypatch, "humanize", *ins, "-o", tmp_path / "o", "-m", tiny_weights, "--overwrite", "-q"
    )
    assert code == 0 and err == ""


def test_reader_warnings_stay_with_a_file_that_fails_later(tmp_path, tiny_weights, capsys, monkeypatch):
    _with_reader_warnings(monkeypatch, "b.mid", ["a tolerated fault"])
    monkeypatch.setattr(files, "with_velocities", lambda s, v: (_ for _ in ()).throw(ValueError("boom")))
    (tmp_path / "b.mid").write_bytes(simple_file(5))
    code, stdout, err = cli(capsys, monkeypatch, "humanize", tmp_path / "b.mid", "-m", tiny_weights, "--json")
    (f,) = json.loads(stdout)["files"]
    assert code == 1 and f["status"] == "failed" and f["warnings"] == ["a tolerated fault"]
    assert err.splitlines()[0] == f"warning: {tmp_path / 'b.mid'}: a tolerated fault"
    assert err.splitlines()[1].startswith(f"error: {tmp_path / 'b.mid'}: internal error (ValueError: boom)")


# --- one file's unexpected error, at every stage ----------------------------------------------

CULPRIT_NOTES = 7  # b.mid's note count; the others have 5


def _inject(monkeypatch, stage: str) -> None:
    """Make b.mid (and only it) raise an unexpected error at ``stage``."""

    def boom():
        raise RuntimeError(f"simulated bug at {stage}")

    def wrap(name: str, is_culprit):
        real = getattr(files, name)

        def fake(*args, **kw):
            if is_culprit(*args, **kw):
                boom()
            return real(*args, **kw)

        monkeypatch.setattr(files, name, fake)

    if stage == "read":
        wrap("read_input", lambda path, *a, **kw: str(path).endswith("b.mid"))
    elif stage == "choose":
        wrap("choose_notes", lambda notes, *a, **kw: len(notes) == CULPRIT_NOTES)
    elif stage == "predict":  # the shared batch fails, then b.mid alone
        wrap("predict_velocities", lambda model, notes, **kw: any(len(n) == CULPRIT_NOTES for n in notes))
    elif stage == "finalize":
        wrap("humanized_velocities", lambda notes, *a: len(notes) == CULPRIT_NOTES)
    elif stage == "write":
        wrap("write_atomic", lambda path, *a, **kw: path.name == "b.mid")
    elif stage == "group":  # outside any one file's stages: the group's unfinished files fail
        wrap(
            "_humanize_group", lambda model, group, *a: any(p.source.name.endswith("b.mid") for p, _ in group)
        )


@pytest.mark.parametrize("stage", ["read", "choose", "predict", "finalize", "write", "group"])
def test_an_unexpected_error_fails_one_file_and_the_batch_goes_on(
    stage, tmp_path, tiny_weights, capsys, monkeypatch
):
    names = ["a.mid", "b.mid", "c.mid", "d.mid"]
    for n in names:
        (tmp_path / n).write_bytes(simple_file(CULPRIT_NOTES if n == "b.mid" else 5))
    _inject(monkeypatch, stage)
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
    report = json.loads(stdout)
    assert sorted(Path(f["input"]).name for f in report["files"]) == names and report["exit_code"] == 1
    failed = {Path(f["input"]).name: f["error"] for f in report["files"] if f["status"] == "failed"}
    # the first file goes alone, then b, c and d share a group: a bug in the group fails all three
    expected = ["b.mid", "c.mid", "d.mid"] if stage == "group" else ["b.mid"]
    assert sorted(failed) == expected
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(set(names) - set(expected))
    for n in written:
        assert_only_velocities_changed((tmp_path / n).read_bytes(), (out / n).read_bytes())
    why = f"internal error (RuntimeError: simulated bug at {stage}); rerun with AUTODYN_DEBUG=1"
    line = f"error: {tmp_path / 'b.mid'}: {why}"
    assert any(e.startswith(line) for e in err.splitlines()), err
    assert failed["b.mid"] == line.removeprefix("error: ") + " for a traceback and please report it"
    assert f"humanized {len(written)} of 4 file(s)" in err and f"failed: {len(expected)} file(s):" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("stage", ["read", "choose", "predict", "finalize", "write"])
def test_debug_shows_the_traceback_of_a_bug_at_any_stage(stage, tmp_path, tiny_weights, capsys, monkeypatch):
    (tmp_path / "b.mid").write_bytes(simple_file(CULPRIT_NOTES))
    monkeypatch.setenv("AUTODYN_DEBUG", "1")
    _inject(monkeypatch, stage)
    with pytest.raises(RuntimeError, match=f"at {stage}"):
        cli(
            capsys,
            monkeypatch,
            "humanize",
            tmp_path / "b.mid",
            "-o",
            f"{tmp_path / 'o'}/",
            "-m",
            tiny_weights,
        )


def test_the_library_loop_gives_every_plan_a_result(tmp_path: Path, monkeypatch):
    """``humanize_files`` itself (the API's path) keeps going after one file's bug in finishing."""
    from helpers import tiny_model

    _inject(monkeypatch, "finalize")
    ins = []
    for n in ("a", "b", "c"):
        ins.append(tmp_path / f"{n}.mid")
        ins[-1].write_bytes(simple_file(CULPRIT_NOTES if n == "b" else 5))
    plans = plan_outputs(expand_inputs([str(p) for p in ins]), str(tmp_path / "o") + "/")
    results = files.humanize_files(Model.from_network(tiny_model()), plans, group_size=2)
    assert [(Path(r.input).name, r.status) for r in results] == [
        ("a.mid", "written"),
        ("b.mid", "failed"),
        ("c.mid", "written"),
    ]

"""The ``autodyn`` command line as a user meets it: outputs, exit codes, errors, start-up."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, assert_only_velocities_changed, cli, rich_file, simple_file
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.errors import UsageError
from autodynamics_cli.inference.model import load_model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.midi.read import read_midi

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def song(tmp_path: Path) -> Path:
    p = tmp_path / "song.mid"
    p.write_bytes(rich_file())
    return p


def test_single_file_default_output_name(song: Path, tiny_weights: Path):
    r = run("humanize", song, "--model", tiny_weights)
    assert r.exit_code == 0, r.output
    out = song.with_name("song_humanized.mid")
    assert out.is_file()
    assert_only_velocities_changed(song.read_bytes(), out.read_bytes(), 10)
    assert song.read_bytes() == rich_file()  # input untouched
    assert not [p for p in song.parent.iterdir() if p.name.endswith(".tmp")]


def test_single_file_to_named_output(song: Path, tiny_weights: Path, tmp_path: Path):
    out = tmp_path / "sub" / "x.mid"
    out.parent.mkdir()
    r = run("humanize", song, "-o", out, "--model", tiny_weights)
    assert r.exit_code == 0, r.output
    assert out.is_file()


def test_many_files_to_directory_and_exit_codes(tmp_path: Path, tiny_weights: Path):
    ins = []
    for i in range(3):
        p = tmp_path / f"in{i}.mid"
        p.write_bytes(simple_file(5 + i))
        ins.append(p)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi at all")
    outdir = tmp_path / "out"
    r = run("humanize", *ins, bad, "-o", outdir, "--model", tiny_weights)
    assert r.exit_code == 1
    assert sorted(p.name for p in outdir.iterdir()) == ["in0.mid", "in1.mid", "in2.mid"]
    assert "bad.mid: not a MIDI file" in r.output
    assert "Traceback" not in r.output
    r = run("humanize", *ins, "-o", outdir, "--model", tiny_weights)
    assert r.exit_code == 1 and "--overwrite" in r.output  # refuses to replace outputs
    r = run("humanize", *ins, "-o", outdir, "--model", tiny_weights, "--overwrite")
    assert r.exit_code == 0, r.output


def test_refuses_to_write_over_input(song: Path, tiny_weights: Path):
    before = song.read_bytes()
    r = run("humanize", song, "-o", song, "--model", tiny_weights, "--overwrite")
    # a usage error, before any work (``main`` prints it and exits 2; the app itself raises it)
    assert isinstance(r.exception, UsageError) and r.exception.exit_code == 2
    assert "over an input" in str(r.exception)
    assert song.read_bytes() == before


def test_usage_error_exit_code_two():
    assert run("humanize").exit_code == 2
    assert run("humanize", "x.mid", "--device", "tpu").exit_code == 2


def test_bad_model_is_one_line_error(song: Path, tmp_path: Path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 20)
    proc = subprocess.run(
        [sys.executable, "-m", "autodynamics_cli", "humanize", str(song), "--model", str(junk)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: ") and "junk.safetensors" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not song.with_name("song_humanized.mid").exists()


def test_version_and_help_do_not_import_torch():
    code = (
        "import sys; from autodynamics_cli.cli.app import app; "
        "from typer.testing import CliRunner; r = CliRunner().invoke(app, ['--help']); "
        "assert r.exit_code == 0; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run(
        [sys.executable, "-m", "autodynamics_cli", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("autodyn ")


def test_bundled_example_with_default_model(tmp_path: Path):
    example = ROOT / "examples" / "minuet_in_g.mid"
    out = tmp_path / "minuet.mid"
    r = run("humanize", example, "-o", out, "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert_only_velocities_changed(example.read_bytes(), out.read_bytes(), 47)
    # the file carries exactly the default model's predictions, note for note
    src, dst = read_midi(example), read_midi(out)
    (expected,) = predict_velocities(load_model("default", device="cpu", engine="torch"), [src.notes])
    assert dst.notes.velocity.tolist() == expected.tolist()


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_do_not_import_torch(flag):
    code = (
        f"import sys\nsys.argv = ['autodyn', {flag!r}]\nfrom autodynamics_cli.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'numpy', 'mido') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_help_imports_neither_torch_nor_matplotlib():
    code = (
        "import sys; from autodynamics_cli.cli.app import app; from typer.testing import CliRunner; "
        "r = CliRunner(); assert r.invoke(app, ['humanize', '--help']).exit_code == 0; "
        "assert r.invoke(app, ['plot', '--help']).exit_code == 0; "
        "assert not {'torch', 'matplotlib'} & set(sys.modules), 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_models_table_fits_80_columns_and_names_data_portably():
    """``autodyn models`` at 80 columns: no line wider, no cell folded; the bundled model's data by name."""
    env = {**os.environ, "COLUMNS": "80"}
    r = subprocess.run(
        [sys.executable, "-m", "autodynamics_cli", "models"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.rstrip().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("* default") and "ready" in line for line in lines)
    listing = subprocess.run(
        [sys.executable, "-m", "autodynamics_cli", "models", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    default = next(m for m in json.loads(listing) if m["name"] == "default")
    assert "/" not in default["training_data"] and "preliminary" not in default["description"]


# --- issue 32: usage errors exit 2 before any work; binary output never goes to a terminal -------


def _usage_errors(tmp: Path) -> dict[str, list]:
    """docs/cli.md's exit code 2, case by case: arguments that cannot work, found before any file is read."""
    song, other = tmp / "song.mid", tmp / "other.mid"
    for d in ("a", "b", "folder"):
        (tmp / d).mkdir()
        (tmp / d / "song.mid").write_bytes(simple_file())
    song.write_bytes(simple_file())
    other.write_bytes(simple_file())
    (tmp / "song_humanized.mid").write_bytes(simple_file())
    return {
        "a bad option": [song, "--no-such-option"],
        "a bad option value": [song, "--range", "90", "30"],
        "--overwrite with --skip-existing": [song, "--overwrite", "--skip-existing"],
        "a folder input without -o": [tmp / "folder"],
        "two inputs, one output": [tmp / "a" / "song.mid", tmp / "b" / "song.mid", "-o", tmp / "out"],
        "-o - with several inputs": [song, other, "-o", "-"],
        "the output is the input": [song, "-o", song, "--overwrite"],
        "an input's default output is another input": [song, tmp / "song_humanized.mid", "--overwrite"],
        "the output folder is the input folder": ["-r", tmp / "folder", "-o", tmp / "folder"],
        "--json with MIDI data on standard output": [song, "-o", "-", "--json"],
        "standard input beside another input": ["-", song],
        "standard input into a folder": ["-", "-o", f"{tmp / 'out'}/"],
        "an output kind autodyn cannot write": [song, "-o", tmp / "song.txt"],
        "--score that is not MusicXML": [song, "--score", other],
    }


def test_every_usage_error_exits_2_before_any_work(tmp_path: Path, capsys, monkeypatch):
    cases = _usage_errors(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    missing_model = tmp_path / "missing.safetensors"  # loading a model is work: it would fail with 1
    for what, args in cases.items():
        code, out, err = cli(capsys, monkeypatch, "humanize", *args, "-m", missing_model)
        assert code == 2, (what, code, err)
        assert out == "" and "Traceback" not in err, what
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_midi_data_is_never_written_to_a_terminal(tmp_path: Path, capsys, monkeypatch):
    """As gzip: a usage error before any work, whether standard output is chosen by '-' in or by -o -."""
    song = tmp_path / "song.mid"
    song.write_bytes(simple_file())
    stdin = io.BytesIO(simple_file())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    missing_model = tmp_path / "missing.safetensors"
    for args in (["-"], ["-", "-o", "-"], [song, "-o", "-"]):
        code, out, err = cli(capsys, monkeypatch, "humanize", *args, "-m", missing_model)
        assert code == 2 and out == "", (args, err)
        assert err == (
            "error: refusing to write MIDI data to a terminal; redirect standard output or use -o FILE\n"
        )
    assert stdin.tell() == 0  # standard input was not even read
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    code, _, err = cli(capsys, monkeypatch, "humanize", "-", "-m", missing_model)
    assert code == 2 and "standard input, which is a terminal" in err


def test_a_file_output_is_fine_with_a_terminal(tmp_path: Path, tiny_weights: Path, capsys, monkeypatch):
    song = tmp_path / "song.mid"
    song.write_bytes(simple_file())
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, _, err = cli(capsys, monkeypatch, "humanize", song, "-m", tiny_weights)
    assert code == 0, err
    assert song.with_name("song_humanized.mid").is_file()


def test_keep_dynamics_help_says_what_the_default_does():
    r = runner.invoke(app, ["humanize", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    assert "Default: the model reads the input's written dynamics and follows them with less contrast" in text
    assert "--keep-dynamics also lays the input's loudness envelope over the result" in text
    assert "--no-keep-dynamics: the model's own dynamics only" in text

"""``autodyn calibrate``: a run folder or weights file in, the same weights with a fitted calibration out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import TAGGER, tiny_model
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.model.weights_file import read_checked_calibration, save_model
from autodynamics_cli.training.calibrate import tensors_digest

ROOT = Path(__file__).resolve().parents[2]


def test_calibrate_a_run_then_again_from_the_cache(aligned: tuple[Path, Path, Path], tmp_path: Path):
    perf, scores, align = aligned  # two train pieces of two performers each, one validation piece
    run = tmp_path / "run"
    run.mkdir()
    save_model(run / "best.safetensors", tiny_model(**TAGGER))
    out, cache = tmp_path / "cal.safetensors", tmp_path / "cache"
    args = [
        "calibrate",
        str(run),
        "-o",
        str(out),
        "--data",
        str(perf),
        "--scores",
        str(scores),
        "--alignments",
        str(align),
        "--device",
        "cpu",
        "--cache",
        str(cache),
        "--factor",
        "0.85",
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "score input: perf train split: 2 scores, 2 pieces" in r.output
    assert "played input: perf train split: 4 performances flattened to 64, 2 pieces" in r.output
    assert "MusicXML input: not fitted (takes the score input's calibration)" in r.output  # none here
    assert "level - network mean = " in r.output and "2-fold CV MSE: " in r.output
    assert f"wrote {out}" in r.output
    cal = read_checked_calibration(out)
    assert cal is not None and cal.played is not None and cal.factor == 0.85
    assert tensors_digest(out) == tensors_digest(run / "best.safetensors")
    assert len(list(cache.glob("*.npz"))) == 2 + 4
    again = tmp_path / "again.safetensors"
    r = CliRunner().invoke(app, [*args[:3], str(again), *args[4:]])
    assert r.exit_code == 0, r.output
    assert read_checked_calibration(again) == cal  # the cached outputs give the same fit


def test_calibrate_refuses_what_it_cannot_write(aligned: tuple[Path, Path, Path], tmp_path: Path):
    perf, scores, align = aligned
    r = CliRunner().invoke(
        app,
        [
            "calibrate",
            "default",
            "-o",
            str(tmp_path / "cal.mid"),
            "--data",
            str(perf),
            "--scores",
            str(scores),
            "--alignments",
            str(align),
        ],
    )
    assert r.exit_code == 2 and ".safetensors" in r.output
    r = CliRunner().invoke(
        app,
        [
            "calibrate",
            str(tmp_path / "none.safetensors"),
            "-o",
            str(tmp_path / "cal.safetensors"),
            "--data",
            str(perf),
            "--scores",
            str(scores),
            "--alignments",
            str(align),
        ],
    )
    assert r.exit_code != 0 and "not found" in str(r.exception)
    assert not (tmp_path / "cal.safetensors").exists()


def test_calibrate_runs_a_tagger_without_torch(aligned: tuple[Path, Path, Path], tmp_path: Path):
    """The numpy engine runs a tagger, so the light install calibrates it (torch hidden, as uninstalled)."""
    perf, scores, align = aligned
    weights, out = tmp_path / "tagger.safetensors", tmp_path / "cal.safetensors"
    save_model(weights, tiny_model(**TAGGER))
    args = [
        "calibrate",
        str(weights),
        "-o",
        str(out),
        "--data",
        str(perf),
        "--scores",
        str(scores),
        "--alignments",
        str(align),
    ]
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from autodynamics_cli.cli.app import main\n"
        f"sys.argv = ['autodyn', *{args!r}]\n"
        "main()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert read_checked_calibration(out).played is not None

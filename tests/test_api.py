"""The public Python API (autodynamics_cli/__init__.py, humanize/api.py), and the README's example."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, assert_only_velocities_changed, simple_file, tiny_model

import autodynamics_cli as ad
from autodynamics_cli.cli.app import app  # noqa: F401  (the CLI imports as the API does)
from autodynamics_cli.humanize.api import humanize_bytes as api_humanize_bytes

EXAMPLE = ROOT / "examples" / "minuet_in_g.mid"


def readme_example() -> str:
    """The README's Python example: the first ```python block under '## Python API'."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_every_public_name_resolves_and_is_documented():
    doc = (ROOT / "docs" / "api.md").read_text()
    for name in ad.__all__:
        assert getattr(ad, name) is not None
        assert f"`{name}" in doc, f"docs/api.md does not document {name}"
    with pytest.raises(AttributeError):
        ad.no_such_name  # noqa: B018


def test_import_is_light():
    code = (
        "import sys, autodynamics_cli; "
        "assert 'numpy' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_readme_example_runs_as_written(tmp_path: Path):
    example = readme_example()
    assert len(example.strip().splitlines()) <= 10
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLE, tmp_path / "examples")
    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "minuet_humanized.mid"
    assert_only_velocities_changed(EXAMPLE.read_bytes(), out.read_bytes())
    assert re.search(r"\[\s*\d+\s+\d+\s+\d+\s*\]", done.stdout)  # three velocities printed


def test_humanize_bytes_is_what_the_command_writes(tmp_path: Path, capsys, monkeypatch):
    from helpers import cli

    model = ad.load_model()
    got = ad.humanize_bytes(EXAMPLE.read_bytes(), model=model)
    code, _, _ = cli(capsys, monkeypatch, "humanize", EXAMPLE, "-o", tmp_path / "cli.mid")
    assert code == 0 and got == (tmp_path / "cli.mid").read_bytes()
    assert ad.humanize_bytes(EXAMPLE.read_bytes()) == got  # a name (None: the default) loads the same


def test_humanize_file_and_predict_agree_with_the_options(tmp_path: Path):
    model = ad.Model.from_network(tiny_model(feedback=False))
    opts = ad.HumanizeOptions(velocity_range=(40, 90))
    src = tmp_path / "in.mid"
    src.write_bytes(simple_file(12))
    r = ad.humanize_file(src, model=model, options=opts)
    assert r.status == "written" and Path(r.output) == tmp_path / "in_humanized.mid"
    notes = ad.read_input(r.output).midi.notes
    assert notes.velocity.min() >= 40 and notes.velocity.max() <= 90
    table = ad.read_input(src).midi.notes
    want = ad.predict_velocities(table, model=model, options=opts)
    np.testing.assert_array_equal(np.sort(want), np.sort(notes.velocity))
    with pytest.raises(ad.AutodynError, match="already exists"):
        ad.humanize_file(src, model=model)


def test_a_bad_file_raises_its_one_line_error(tmp_path: Path):
    with pytest.raises(ad.AutodynError, match="<stdin>"):
        api_humanize_bytes(b"not a midi file", model=ad.Model.from_network(tiny_model()))


def test_a_note_table_from_plain_lists():
    notes = ad.Notes.table(onset=[0, 0.5, 1.0], offset=[0.5, 1.0, 2.0], pitch=[60, 64, 67])
    assert len(notes) == 3 and notes.velocity.tolist() == [64, 64, 64] and (notes.byte_offset == -1).all()
    vel = ad.predict_velocities(notes, model=ad.Model.from_network(tiny_model(feedback=False)))
    assert vel.shape == (3,) and ((vel >= 1) & (vel <= 127)).all()

"""Humanize real score exports from ../shared (skipped where it is absent)."""

from __future__ import annotations

from pathlib import Path

from helpers import assert_only_velocities_changed
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.midi.read import read_midi


def test_scores_only_note_on_velocities_change(shared_data: Path, tmp_path: Path, tiny_weights: Path):
    scores = sorted((shared_data / "asap-scores").rglob("midi_score.mid"))
    picked = scores[:: max(1, len(scores) // 4)][:4]
    for i, src in enumerate(picked):
        dst = tmp_path / f"score{i}.mid"
        r = CliRunner().invoke(app, ["humanize", str(src), "-o", str(dst), "--model", str(tiny_weights)])
        assert r.exit_code == 0, r.output
        n = len(read_midi(src).notes)
        assert n > 0
        assert_only_velocities_changed(src.read_bytes(), dst.read_bytes(), n)
        assert len(read_midi(dst).notes) == n

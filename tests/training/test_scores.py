"""Learning from and judging on score input, on tiny hand-built score/performance pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import SCORE_NOTES, STAFF_TAGGER, tiny_model
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.errors import AutodynError
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.model.weights_file import save_model
from autodynamics_cli.training.config import TrainConfig
from autodynamics_cli.training.datasets import (
    aligned_targets,
    list_aligned,
    load_aligned,
    load_performance,
    read_alignment,
)
from autodynamics_cli.training.loop import train
from autodynamics_cli.training.sampler import Augment, WindowSampler, source_probabilities

runner = CliRunner()
N = SCORE_NOTES  # notes per hand of each score


def test_alignment_targets_follow_score_note_order(aligned):
    perf_root, score_root, align_root = aligned
    entries = list_aligned(perf_root, score_root, align_root)
    assert len(entries) == 6 and {e.split for e in entries} == {"train", "validation"}
    e = entries[0]
    notes = read_midi(e.score).notes
    target, has = aligned_targets(notes, e.score.read_bytes(), read_alignment(e.alignment))
    assert has.sum() == 2 * N - 1  # row 3 was left out: that note keeps its place, no target
    rh = notes.pitch >= 60
    assert target[rh & has].min() >= 70 and target[~rh].max() < 50  # melody loud, bass soft
    piece = load_aligned(e)
    assert piece.source == "score" and piece.in_velocity is not None  # stepped: notated dynamics
    flat = load_aligned(next(x for x in entries if "Piece1" in str(x.score)))
    assert flat.in_velocity is None  # constant velocities carry no dynamics


def test_alignment_that_does_not_fit_is_refused(aligned, tmp_path):
    perf_root, score_root, align_root = aligned
    e = list_aligned(perf_root, score_root, align_root)[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("score_note_index,pitch,score_onset_s,perf_velocity\n0,21,0.0,50\n1,22,0.0,50\n")
    with pytest.raises(AutodynError, match="does not fit"):
        aligned_targets(read_midi(e.score).notes, e.score.read_bytes(), read_alignment(bad), str(bad))


def test_score_windows_carry_targets_and_notated_velocity(aligned):
    perf_root, score_root, align_root = aligned
    pieces = [load_aligned(e) for e in list_aligned(perf_root, score_root, align_root)]
    sampler = WindowSampler(pieces, 0, 256, 100, Augment(), 0.0, 1.0, drop_dynamics=0.0)
    w = sampler.sample()
    n = (len(w.tokens) - 1) // 3
    vel_pos = 2 + 3 * np.arange(n)
    assert w.weights[vel_pos].sum() >= n - 1  # all matched notes carry loss
    assert w.features.shape == (len(w.tokens), NF.N_FEATURES)
    stepped = [p for p in pieces if p.in_velocity is not None]
    assert stepped and len(stepped) < len(pieces)


def test_sources_mix_by_share(aligned):
    perf_root, score_root, align_root = aligned
    scores = [load_aligned(e) for e in list_aligned(perf_root, score_root, align_root)]
    perfs = [load_performance(perf_root / "Anon/Piece0/Ann.mid")]
    p = source_probabilities(scores + perfs, {"score": 0.25, "performance": 0.75})
    assert p[: len(scores)].sum() == pytest.approx(0.25) and p[-1] == pytest.approx(0.75)


def test_train_on_scores_and_eval_scores_cli(aligned, tmp_path):
    perf_root, score_root, align_root = aligned
    out = tmp_path / "run"
    cfg = TrainConfig(
        data=str(perf_root),
        out=str(out),
        preset="tiny",
        batch_size=2,
        max_steps=2,
        eval_minutes=0.0,
        checkpoint_minutes=1000.0,
        eval_seconds=None,
        log_every=1,
        threads=1,
        device="cpu",
        scores=str(score_root),
        alignments=str(align_root),
        overrides={"causal_decoder": False, "note_features": True, "input_velocity": True},
    )
    train(cfg)
    log = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert log[0]["train_score_pieces"] == 4
    val = [m for m in log if m["event"] == "validation"][-1]
    assert "score_mse" in val and "mse" in val
    report = tmp_path / "scores.json"
    r = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(perf_root),
            "--scores",
            str(score_root),
            "--alignments",
            str(align_root),
            "--model",
            str(out / "best.safetensors"),
            "--json",
            str(report),
            "--device",
            "cpu",
        ],
        env={"COLUMNS": "100"},
    )  # the table unwrapped
    assert r.exit_code == 0, r.output
    assert "another performer" in r.output
    for header in ("MSE", "MAE", "spread", "level error", "|level|"):
        assert header in r.output, header
    res = json.loads(report.read_text())
    assert res["summary"]["performances"] == 2 and res["summary"]["pieces"] == 1
    row = res["performances"][0]
    assert row["notes"] == 2 * N - 1
    assert row["other_mse"] > 0 and row["others_mean_mse"] == pytest.approx(row["other_mse"])
    assert row["notated_mse"] != row["baseline_mse"]
    for prefix in ("", "notated_", "baseline_", "other_", "others_mean_"):
        for m in ("spread", "level_error", "abs_level_error"):
            assert prefix + m in res["summary"] and prefix + m in res["summary_notated_dynamics"]
    assert row["baseline_spread"] == 0.0 and row["other_spread"] > 0
    assert row["others_mean_spread"] == pytest.approx(row["other_spread"])  # one other performer


def test_eval_scores_without_staves(aligned, tmp_path: Path):
    perf_root, score_root, align_root = aligned
    model = tmp_path / "staff.safetensors"
    save_model(model, tiny_model(seed=3, staff=True, **STAFF_TAGGER))
    reports = []
    for flag in ("--read-staves", "--no-read-staves"):
        reports.append(tmp_path / f"{flag}.json")
        r = CliRunner().invoke(
            app,
            [
                "eval",
                "--data",
                str(perf_root),
                "--scores",
                str(score_root),
                "--alignments",
                str(align_root),
                "--model",
                str(model),
                "--json",
                str(reports[-1]),
                "--device",
                "cpu",
                flag,
            ],
        )
        assert r.exit_code == 0, r.output
    got = [json.loads(p.read_text()) for p in reports]
    assert [g["read_staves"] for g in got] == [True, False]

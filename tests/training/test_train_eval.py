"""Training and evaluation end to end on tiny hand-built data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import load_network, performance, performance_bytes, tiny_cfg, tiny_model
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.inference.model import Model
from autodynamics_cli.model.weights_file import read_metadata
from autodynamics_cli.training import evaluate as ev
from autodynamics_cli.training.config import TrainConfig, learning_rate
from autodynamics_cli.training.datasets import Entry, list_dataset
from autodynamics_cli.training.evaluate import PerformanceScore, score_velocities, summarize
from autodynamics_cli.training.loop import train

runner = CliRunner()


def test_dataset_layouts(dataset: Path, tmp_path: Path):
    entries = list_dataset(dataset)
    assert [e.split for e in entries].count("validation") == 1
    plain = tmp_path / "plain"
    plain.mkdir()
    for i in range(12):
        (plain / f"{i}.mid").write_bytes(performance(i))
    splits = [e.split for e in list_dataset(plain)]
    assert splits == [e.split for e in list_dataset(plain)]  # deterministic
    assert set(splits) <= {"train", "validation"}


def test_resume_continues_exactly(dataset: Path, tmp_path: Path):
    straight = tmp_path / "straight"
    train(tiny_cfg(dataset, straight, 4))
    split = tmp_path / "split"
    train(tiny_cfg(dataset, split, 2))
    assert (split / "last.ckpt").is_file() and (split / "best.safetensors").is_file()
    train(tiny_cfg(dataset, split, 4), resume=True)
    a = torch.load(straight / "last.ckpt", weights_only=False)
    b = torch.load(split / "last.ckpt", weights_only=False)
    assert a["step"] == b["step"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    starts = [json.loads(x) for x in (split / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in starts if m["event"] == "start"] == [0, 2]


def test_workers_give_the_same_run_and_resume_exactly(dataset: Path, tmp_path: Path):
    """Batches built in worker processes, stopped with later batches already built."""
    straight = tmp_path / "straight"
    train(tiny_cfg(dataset, straight, 5))
    split = tmp_path / "split"
    train(replace(tiny_cfg(dataset, split, 2), workers=2))
    train(replace(tiny_cfg(dataset, split, 5), workers=2), resume=True)
    a = torch.load(straight / "last.ckpt", weights_only=False)
    b = torch.load(split / "last.ckpt", weights_only=False)
    assert a["step"] == b["step"] == 5
    assert a["sampler"] == b["sampler"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_learning_rate_schedule():
    cfg = TrainConfig(data="d", out="o", lr=1e-3, max_steps=300)
    assert {learning_rate(cfg, s) for s in (0, 150, 299)} == {1e-3}  # the paper's constant rate
    cfg.warmup_steps = 10
    assert learning_rate(cfg, 0) == pytest.approx(1e-4) and learning_rate(cfg, 9) == 1e-3
    cfg.decay_from = 100
    rates = [learning_rate(cfg, s) for s in range(100, 301)]
    assert rates[0] == 1e-3 and rates[100] == pytest.approx(0.55e-3) and rates[-1] == pytest.approx(1e-4)
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    assert learning_rate(cfg, 50) == 1e-3


def test_resume_can_anneal_a_constant_rate_run(dataset: Path, tmp_path: Path):
    run = tmp_path / "run"
    train(tiny_cfg(dataset, run, 2))
    annealed = tiny_cfg(dataset, run, 4)
    annealed.decay_from = 2
    train(annealed, resume=True)
    ckpt = torch.load(run / "last.ckpt", weights_only=False)
    assert ckpt["train_config"]["decay_from"] == 2
    # the rate of the last step taken (step index 3, halfway from 2 to 4)
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.55e-3)


def test_train_and_eval_cli(dataset: Path, tmp_path: Path):
    out = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(dataset),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--max-steps",
            "3",
            "--batch-size",
            "2",
            "--threads",
            "1",
            "--eval-minutes",
            "0",
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (out / "best.safetensors").is_file()
    shipped = tmp_path / "shipped.safetensors"
    r = runner.invoke(app, ["export", str(out), "-o", str(shipped), "--readout", "mean"])
    assert r.exit_code == 0, r.output
    assert "CC BY-NC-SA 4.0" in read_metadata(shipped)["license"]
    assert load_network(str(shipped)).cfg.readout == "mean"
    report = tmp_path / "eval.json"
    r = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(dataset),
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
    assert "constant 64" in r.output
    for header in ("MSE", "MAE", "spread", "level error", "|level|"):
        assert header in r.output, header
    res = json.loads(report.read_text())
    assert res["summary"]["performances"] == 1
    assert {"spread", "level_error", "abs_level_error", "baseline_spread"} <= set(res["summary"])
    p = res["performances"][0]
    assert p["notes"] == 80
    # melody at 90, accompaniment at 40: the constant-64 baseline is known exactly
    assert p["baseline_mse"] == pytest.approx((26**2 + 24**2) / 2)
    assert p["baseline_spread"] == 0.0 and p["baseline_level_error"] == pytest.approx(64 - 65)
    assert p["abs_level_error"] == pytest.approx(abs(p["level_error"]))
    assert res["summary"]["level_error"] == pytest.approx(p["level_error"])  # one performance


def test_metrics_average_per_piece_then_over_pieces():
    def ps(group, mse):
        return PerformanceScore("x", group, 10, mse, 0.0, 0.0, 0.0, 0.0)

    s = summarize([ps("a", 10), ps("a", 30), ps("b", 100)])
    assert s["mse"] == pytest.approx((20 + 100) / 2)
    m = score_velocities(np.array([64, 70]), np.array([60, 80]))
    assert m["mse"] == pytest.approx((16 + 100) / 2) and m["mae"] == pytest.approx(7)


def test_torchrun_two_processes_gloo(dataset: Path, tmp_path: Path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "autodynamics_cli",
            "train",
            "--data",
            str(dataset),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--eval-minutes",
            "0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = torch.load(out / "last.ckpt", weights_only=False)
    assert ckpt["step"] == 2 and len(ckpt["sampler"]) == 2
    start = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert start["world_size"] == 2


def test_performance_eval_never_shows_the_answers(monkeypatch, tmp_path):
    """eval hands the model flattened velocities, so a model that reads input
    velocities cannot read the pianist's."""
    seen = []

    def spy(engine, notes_list, **kw):
        seen.extend(n.velocity.copy() for n in notes_list)
        return [np.full(len(n), 64) for n in notes_list]

    monkeypatch.setattr(ev, "predict_velocities", spy)
    path = tmp_path / "p.mid"
    path.write_bytes(performance_bytes(1))
    model = Model.from_network(tiny_model(input_velocity=True))
    (row,) = ev.evaluate(model, [Entry(path, "validation", "g")])
    assert seen and all((v == 64).all() for v in seen)
    assert row.mse == row.baseline_mse > 0  # the real velocities are still the targets

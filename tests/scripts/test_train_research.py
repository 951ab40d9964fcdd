"""``scripts/train_research.py``: the research settings ``autodyn train`` no longer offers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_script


def test_refuses_fields_that_are_not_train_config(tmp_path: Path):
    script = load_script("train_research")
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"data": "d", "out": "o", "corr_weigth": 1}))
    with pytest.raises(SystemExit, match="corr_weigth"):
        script.config_from_json(cfg)


def test_trains_with_the_ev_loss_and_resumes(dataset: Path, tmp_path: Path, capsys):
    """The ev loss (research only) trains through the script; --resume continues the same run."""
    script = load_script("train_research")
    out = tmp_path / "run"
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"data": str(dataset), "out": str(out), "preset": "tiny",
                               "loss": "ev", "readout": "mean", "batch_size": 2, "max_steps": 2,
                               "eval_minutes": 1000.0, "eval_seconds": None, "log_every": 1,
                               "threads": 1, "device": "cpu"}))
    assert script.main([str(cfg)])["step"] == 2
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "start" and events[0]["config"]["loss"] == "ev"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "max_steps": 3}))
    assert script.main([str(cfg), "--resume"])["step"] == 3

"""``scripts/train_research.py``: a recipe's research settings, trained with JSON-line events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_script

from autodynamics_cli.training.recipe import resolve, toml_value


def test_refuses_fields_that_are_not_train_config(tmp_path: Path):
    script = load_script("train_research")
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"data": "d", "out": "o", "corr_weigth": 1}))
    with pytest.raises(SystemExit, match="corr_weigth"):
        script.config_from_json(cfg)


def test_json_and_toml_recipes_say_the_same(tmp_path: Path):
    script = load_script("train_research")
    (tmp_path / "run.json").write_text(
        json.dumps(
            {"data": "d", "out": "o", "loss": "ev", "readout": "mean", "overrides": {"note_tokens": True}}
        )
    )
    (tmp_path / "run.toml").write_text(
        'data = "d"\nout = "o"\nloss = "ev"\nreadout = "mean"\n[model]\nnote_tokens = true\n'
    )
    assert script.config_from_json(tmp_path / "run.json") == resolve(tmp_path / "run.toml", {})


def test_trains_with_the_ev_loss_and_resumes(dataset: Path, tmp_path: Path, capsys):
    """The ev loss (research only) trains from a recipe; --resume continues the same run."""
    script = load_script("train_research")
    out = tmp_path / "run"
    cfg = tmp_path / "run.toml"
    recipe = (
        f'data = {toml_value(str(dataset))}\nout = {toml_value(str(out))}\npreset = "tiny"\n'
        'loss = "ev"\nreadout = "mean"\n'
        "batch_size = 2\neval_minutes = 1000.0\neval_seconds = 0\nlog_every = 1\nthreads = 1\n"
        'device = "cpu"\n'
    )
    cfg.write_text(recipe + "max_steps = 2\n")
    assert script.main([str(cfg)])["step"] == 2
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "start" and events[0]["config"]["loss"] == "ev"
    cfg.write_text(recipe + "max_steps = 3\n")
    assert script.main([str(cfg), "--resume"])["step"] == 3

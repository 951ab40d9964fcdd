"""``autodyn train``'s options and recipes reach the run: model switches, layer counts, what it refuses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch
from helpers import ROOT, cli, load_network, trained_with
from typer.testing import CliRunner

from autodynamics_cli.cli import train as train_cli
from autodynamics_cli.cli.app import app
from autodynamics_cli.model.config import PRESETS, RESEARCH_PRESETS
from autodynamics_cli.training.config import TrainConfig, model_config
from autodynamics_cli.training.recipe import read_recipe, resolve, toml_value

TRAIN = ["--preset", "tiny", "--batch-size", "2", "--threads", "1", "--eval-minutes", "0", "--device", "cpu"]
USER_OPTIONS = (
    "--config",
    "--data",
    "--out",
    "--resume",
    "--preset",
    "--init-from",
    "--scores",
    "--alignments",
    "--markings",
    "--lr",
    "--decay-from",
    "--batch-size",
    "--max-steps",
    "--max-minutes",
    "--eval-seconds",
    "--eval-minutes",
    "--checkpoint-minutes",
    "--threads",
    "--workers",
    "--device",
    "--seed",
)
RECIPE_ONLY = (
    "--loss",
    "--optimizer",
    "--warmup-steps",
    "--max-train-notes",
    "--velocity-mask-prob",
    "--aux-weight",
    "--dropout",
    "--readout",
    "--score-share",
    "--drop-dynamics",
    "--drop-staff",
    "--drop-markings",
    "--note-tokens",
    "--onset-lead",
    "--staff",
    "--enc-layers",
    "--dec-layers",
    "--corr-weight",
)
# The commands that trained stages 5 and 6, as they were typed before recipes (docs/model-history.md
# in git history): weights/recipes/stage5.toml and stage6.toml must say the same.
STAGE5 = """--data ../shared/data/asap-performances --scores ../shared/data/asap-scores
  --alignments ../shared/data/asap-alignments --out runs/gpu --preset small --note-tokens
  --onset-lead --staff --init-from stage4.safetensors --loss ce --optimizer adamw
  --lr 2e-4 --warmup-steps 100 --decay-from 100 --max-steps 4000 --batch-size 64
  --dropout 0 --max-train-notes 200 --workers 8 --eval-minutes 2.5 --eval-seconds 0
  --checkpoint-minutes 100 --max-minutes 4.5 --device cuda --threads 1 --seed 5"""
STAGE6 = """--data ../shared/data/asap-performances --scores ../shared/data/asap-scores
  --alignments ../shared/data/asap-alignments --out runs/markings --preset small --note-tokens
  --onset-lead --staff --markings --drop-markings 0.5 --init-from stage5.safetensors
  --loss ce --optimizer adamw --lr 2e-4 --warmup-steps 100 --decay-from 100 --max-steps 4000
  --batch-size 64 --dropout 0 --max-train-notes 200 --workers 8 --eval-minutes 100
  --eval-seconds 0 --checkpoint-minutes 1 --max-minutes 4 --device cuda --threads 1 --seed 6"""
OLD_NAMES = {"enc_layers": "n_enc_layers", "dec_layers": "n_dec_layers"}


@pytest.fixture
def resolved(monkeypatch) -> list[TrainConfig]:
    """What ``autodyn train`` would train with: the configs it resolves, the training left out."""
    seen: list[TrainConfig] = []
    monkeypatch.setattr(train_cli, "run_with_progress", lambda cfg, resume: seen.append(cfg) or {"step": 0})
    return seen


def _train(*args: str) -> None:
    r = CliRunner().invoke(app, ["train", *map(str, args)])
    assert r.exit_code == 0, (r.output, r.exception)


def test_help_shows_what_a_user_trains_with():
    r = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    for option in USER_OPTIONS:
        assert re.search(rf"(?<![\w-]){option}\b", r.output), option
    for option in RECIPE_ONLY:
        assert not re.search(rf"(?<![\w-]){option}\b", r.output), option


def test_options_given_override_the_recipe(tmp_path: Path, resolved: list[TrainConfig]):
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'data = "d"\nout = "runs/r"\nlr = 0.5\nseed = 3\nbatch_size = 8\neval_seconds = 30\n'
        'loss = "ce"\n[model]\nstaff = true\nmarkings = true\n'
    )
    # options given at their default values still win; options not given leave the recipe alone
    _train("--config", recipe, "--batch-size", "16", "--lr", "0.1", "--no-markings", "--eval-seconds", "0")
    cfg = resolved[-1]
    assert (cfg.batch_size, cfg.lr, cfg.seed, cfg.loss, cfg.out, cfg.eval_seconds) == (
        16,
        0.1,
        3,
        "ce",
        "runs/r",
        None,
    )
    assert cfg.overrides == {"staff": True, "markings": False}
    _train("--data", "d", "--markings", "--out", tmp_path / "o")  # no recipe: the defaults
    assert resolved[-1] == TrainConfig(data="d", out=str(tmp_path / "o"), overrides={"markings": True})


def test_a_bad_recipe_is_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch):
    recipe = tmp_path / "r.toml"
    recipe.write_text('data = "d"\nlearning_rate = 0.1\n')
    code, _, err = cli(capsys, monkeypatch, "train", "--config", recipe)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {recipe}: unknown key 'learning_rate'")
    code, _, err = cli(capsys, monkeypatch, "train", "--out", tmp_path / "run")
    assert code == 2 and "no training data" in err and not (tmp_path / "run").exists()


def _typed(word: str | None) -> object:
    """A flag's value as the option parsed it: a switch is true, then an integer, a number, a word."""
    for kind in (int, float):
        try:
            return kind(word) if word is not None else True
        except ValueError:
            pass
    return word


def _as_recipe_and_options(command: str, tmp_path: Path) -> list[str]:
    """A command line of the old flags: the ones `autodyn train` dropped go to a recipe."""
    words, options, lines = shlex.split(command), [], []
    while words:
        flag = words.pop(0)
        value = words.pop(0) if words and not words[0].startswith("--") else None
        if flag in RECIPE_ONLY:
            key = flag[2:].replace("-", "_")
            lines.append(f"{OLD_NAMES.get(key, key)} = {toml_value(_typed(value))}")
        else:
            options += [flag] if value is None else [flag, value]
    (tmp_path / "flags.toml").write_text("\n".join(lines) + "\n")
    return ["--config", str(tmp_path / "flags.toml"), *options]


@pytest.mark.parametrize(("stage", "command"), [("stage5", STAGE5), ("stage6", STAGE6)], ids=["5", "6"])
def test_a_shipped_recipe_is_the_command_that_trained_it(
    stage: str, command: str, tmp_path: Path, resolved: list[TrainConfig]
):
    _train(*_as_recipe_and_options(command, tmp_path))
    _train("--config", ROOT / "weights" / "recipes" / f"{stage}.toml")
    assert resolved[0] == resolved[1]
    assert resolved[1].overrides["note_tokens"] and resolved[1].init_from.startswith("stage")


def test_the_bundled_weights_were_trained_with_the_stage7_recipe():
    """The shipped file records its run's settings; the recipe differs only in the paths."""
    import json

    from safetensors import safe_open

    with safe_open(str(ROOT / "weights" / "default.safetensors"), "np") as f:
        shipped = json.loads(f.metadata()["train_config"])
    recipe = vars(resolve(ROOT / "weights" / "recipes" / "stage7.toml", {}))
    paths = ("data", "out", "scores", "alignments", "init_from")
    assert {k: v for k, v in shipped.items() if k not in paths} == {
        k: v for k, v in recipe.items() if k not in paths
    }


def test_model_switches_from_a_recipe_reach_the_run_and_its_recipe(dataset: Path, tmp_path: Path):
    out = tmp_path / "run"
    recipe = tmp_path / "r.toml"
    recipe.write_text("note_tokens = true\n")
    r = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            str(recipe),
            "--data",
            str(dataset),
            "--out",
            str(out),
            *TRAIN,
            "--max-steps",
            "2",
        ],
    )
    assert r.exit_code != 0 and "needs a tagger" in str(r.exception)  # the tiny preset is causal
    recipe.write_text("onset_lead = true\nstaff = true\n[model]\nn_enc_layers = 3\nn_dec_layers = 2\n")
    _train("--config", recipe, "--data", dataset, "--out", out, *TRAIN, "--max-steps", "1")
    cfg = load_network(str(out / "best.safetensors")).cfg
    assert (cfg.n_enc_layers, cfg.n_dec_layers, cfg.onset_lead, cfg.staff) == (3, 2, True, True)
    ckpt = torch.load(out / "last.ckpt", map_location="cpu", weights_only=False)
    # the run folder's recipe: every setting of the run
    assert TrainConfig(**read_recipe(out / "recipe.toml")) == TrainConfig(**ckpt["train_config"])
    # a resumed sitting writes its own settings over it
    _train("--config", out / "recipe.toml", "--resume", "--max-steps", "2")
    ckpt = torch.load(out / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["step"] == 2 and ckpt["train_config"]["max_steps"] == 2
    assert TrainConfig(**read_recipe(out / "recipe.toml")) == TrainConfig(**ckpt["train_config"])


def test_markings_flag_reaches_the_config(dataset: Path, tmp_path: Path):
    assert trained_with("--markings", dataset, tmp_path / "run").markings


def test_research_settings_are_recipe_only(dataset: Path, tmp_path: Path):
    """Research settings left the command line (usage errors); a recipe sets them, and the
    library still builds the research preset (scripts/train_research.py runs it too)."""
    out = tmp_path / "run"
    for extra, why in (
        (["--preset", "paper-small-tagger"], "unknown preset 'paper-small-tagger'"),
        (["--loss", "ev"], "No such option"),
        (["--note-tokens"], "No such option"),
        (["--corr-weight", "1"], "No such option"),
    ):
        r = CliRunner().invoke(
            app, ["train", "--data", str(dataset), "--out", str(out), *TRAIN, "--max-steps", "1", *extra]
        )
        assert r.exit_code == 2 and why in r.output, (extra, r.output)
    assert not out.exists()
    assert "paper-small-tagger" not in PRESETS
    recipe = tmp_path / "research.toml"
    recipe.write_text('preset = "paper-small-tagger"\nloss = "ev"\ncorr_weight = 1.0\n')
    cfg = resolve(recipe, {"data": str(dataset), "out": str(out)})
    assert (cfg.loss, cfg.corr_weight) == ("ev", 1.0)
    assert model_config(cfg) == RESEARCH_PRESETS["paper-small-tagger"]
    mcfg = model_config(TrainConfig(data=str(dataset), out=str(out), preset="paper-small-tagger"))
    assert (mcfg.n_enc_layers, mcfg.d_model, mcfg.causal_decoder, mcfg.readout) == (8, 512, False, "mean")

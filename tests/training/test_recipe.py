"""Training recipes (``training/recipe.py``): read, lay the command line over, write, read back."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import pytest

from autodynamics_cli.errors import UsageError
from autodynamics_cli.training import recipe
from autodynamics_cli.training.config import TrainConfig, model_config
from autodynamics_cli.training.recipe import read_recipe, recipe_text, resolve, toml_value, write_recipe

RECIPE = """\
# a research recipe
data = "../perf"
preset = "small"
loss = "ev"
readout = "mean"
corr_weight = 1        # an integer where a number goes
lr = 3e-4
decay_from = 50
eval_seconds = 0       # whole pieces
staff = true

[model]
note_tokens = true
n_dec_layers = 4
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_recipe_resolves_to_train_config_and_reads_back_equal(tmp_path: Path):
    src = _write(tmp_path / "recipes" / "ev.toml", RECIPE)
    cfg = resolve(src, {"out": tmp_path / "run", "max_minutes": 1.5})
    assert cfg.data == "../perf"  # as typed: not taken relative to the recipe's folder
    assert cfg.out == str(tmp_path / "run") and cfg.max_minutes == 1.5
    assert cfg.corr_weight == 1.0 and isinstance(cfg.corr_weight, float)
    assert (cfg.loss, cfg.lr, cfg.decay_from, cfg.eval_seconds) == ("ev", 3e-4, 50, None)
    assert cfg.overrides == {"note_tokens": True, "n_dec_layers": 4, "staff": True}
    assert model_config(cfg).n_dec_layers == 4 and model_config(cfg).staff

    written = tmp_path / "run" / "recipe.toml"
    written.parent.mkdir()
    write_recipe(cfg, written)
    assert resolve(written, {}) == cfg
    assert not list(written.parent.glob("*.tmp"))


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(data="d", out="runs/default"),  # the defaults, eval_seconds 60
        TrainConfig(data=["maestro", "asap"], out="o"),  # several data folders
        TrainConfig(
            data='weird "dir"\\ü\n\t\x01\x7f',
            out="o",
            lr=1e-7,
            max_minutes=1e20,
            eval_seconds=0.25,
            threads=3,
            readout="argmax",
            init_from="w.safetensors",
            overrides={"markings": True, "d_model": 64, "dropout": 0.1},
        ),
    ],
)
def test_write_then_read_is_the_same_config(tmp_path: Path, cfg: TrainConfig):
    path = tmp_path / "recipe.toml"
    write_recipe(cfg, path)
    assert TrainConfig(**read_recipe(path)) == cfg
    assert asdict(TrainConfig(**read_recipe(path))) == asdict(cfg)


def test_toml_values():
    for value in (0, -3, 2.5, 1e-5, 1e16, math.inf, -math.inf, True, 'a"b', [1, 2.5, "x", False]):
        assert recipe.tomllib.loads(f"v = {toml_value(value)}")["v"] == value
    assert math.isnan(recipe.tomllib.loads(f"v = {toml_value(math.nan)}")["v"])
    with pytest.raises(UsageError):
        toml_value({"a": 1})


def test_unset_settings_are_left_out_and_named():
    text = recipe_text(TrainConfig(data="d", out="o"))
    assert "decay_from =" not in text and "# not set (left to their defaults): " in text
    assert "eval_seconds = 60.0" in text and "[model]" not in text


def test_flags_override_the_file(tmp_path: Path):
    src = _write(
        tmp_path / "r.toml",
        'data = "d"\nlr = 0.5\nseed = 3\nbatch_size = 8\n[model]\nstaff = true\nmarkings = true\n',
    )
    cfg = resolve(src, {"lr": 0.1, "batch_size": 16, "markings": False, "data": Path("other")})
    assert (cfg.lr, cfg.seed, cfg.batch_size, cfg.data) == (0.1, 3, 16, "other")
    assert cfg.overrides == {"staff": True, "markings": False}
    assert cfg.out == "runs/default"
    assert resolve(src, {"data": [Path("a"), Path("b")]}).data == ["a", "b"]  # --data a --data b


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('data = "d"\nmax_step = 5\n', "unknown key 'max_step' (did you mean 'max_steps'?)"),
        ('data = "d"\n[model]\nn_layers = 2\n', "unknown key 'model.n_layers'"),
        ('data = "d"\n[overrides]\nstaff = true\n', "'overrides' (model switches go in a [model] table)"),
        ('data = "d"\n[data2]\nx = 1\n', "unknown key 'data2'"),
        ('data = "d"\nlr = "fast"\n', "lr must be a number, not 'fast'"),
        ('data = "d"\nbatch_size = 1.5\n', "batch_size must be an integer"),
        ('data = "d"\nnote_cache = 1\n', "note_cache must be true or false"),
        ('data = "d"\nmodel = 3\n', "model must be a table"),
        (
            'data = "d"\nstaff = true\n[model]\nstaff = false\n',
            "staff is set both at the top and under [model]",
        ),
        ('data = "d"\nlr = \n', "not a TOML recipe"),
        ('data = ["d", 3]\n', "data must be a string or a list of strings"),
    ],
)
def test_a_bad_recipe_is_a_one_line_error_naming_file_and_key(tmp_path: Path, text: str, message: str):
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(UsageError) as e:
        read_recipe(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_file_and_missing_data(tmp_path: Path):
    with pytest.raises(UsageError, match="nope.toml: cannot read the recipe"):
        read_recipe(tmp_path / "nope.toml")
    with pytest.raises(UsageError, match="no training data"):
        resolve(_write(tmp_path / "r.toml", "lr = 0.1\n"), {})


def test_the_recipes_in_the_docs_read(tmp_path: Path):
    """Every ```toml block of docs/cli.md is a recipe autodyn train reads."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    blocks = [b.split("```")[0] for b in doc.split("```toml\n")[1:]]
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        cfg = resolve(_write(tmp_path / f"{i}.toml", block), {})
        assert cfg.data and cfg.overrides.get("note_tokens")

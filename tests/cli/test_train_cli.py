"""``autodyn train``'s options reach the run: model switches, layer counts, and what it refuses."""

from __future__ import annotations

from pathlib import Path

from helpers import trained_with
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.model.config import PRESETS, RESEARCH_PRESETS
from autodynamics_cli.model.registry import load_model
from autodynamics_cli.training.config import TrainConfig, model_config

TRAIN = ["--preset", "tiny", "--batch-size", "2", "--threads", "1", "--eval-minutes", "0", "--device", "cpu"]


def test_note_tokens_and_layer_flags(dataset: Path, tmp_path: Path):
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", "--data", str(dataset), "--out", str(out), *TRAIN,
                                 "--max-steps", "2", "--note-tokens"])
    assert r.exit_code != 0 and "needs a tagger" in str(r.exception)  # the tiny preset is causal
    r = CliRunner().invoke(app, ["train", "--data", str(dataset), "--out", str(out), *TRAIN,
                                 "--max-steps", "1", "--dec-layers", "2", "--enc-layers", "3"])
    assert r.exit_code == 0, r.output
    cfg = load_model(str(out / "best.safetensors")).cfg
    assert (cfg.n_enc_layers, cfg.n_dec_layers) == (3, 2)


def test_onset_lead_flag_reaches_the_config(dataset: Path, tmp_path: Path):
    assert trained_with("--onset-lead", dataset, tmp_path / "run").onset_lead


def test_staff_flag_reaches_the_config(dataset: Path, tmp_path: Path):
    assert trained_with("--staff", dataset, tmp_path / "run").staff


def test_markings_flag_reaches_the_config(dataset: Path, tmp_path: Path):
    assert trained_with("--markings", dataset, tmp_path / "run").markings


def test_research_settings_are_not_offered(dataset: Path, tmp_path: Path):
    """The research preset, the ev loss and the correlation term left the CLI (usage errors);
    the library still builds the preset (scripts/train_research.py runs all three)."""
    out = tmp_path / "run"
    for extra, why in ((["--preset", "paper-small-tagger"], "unknown preset 'paper-small-tagger'"),
                       (["--loss", "ev"], "'ev' is not one of"),
                       (["--corr-weight", "1"], "No such option")):
        r = CliRunner().invoke(app, ["train", "--data", str(dataset), "--out", str(out), *TRAIN,
                                     "--max-steps", "1", *extra])
        assert r.exit_code == 2 and why in r.output, (extra, r.output)
    assert not out.exists()
    assert "paper-small-tagger" not in PRESETS
    cfg = model_config(TrainConfig(data=str(dataset), out=str(out), preset="paper-small-tagger"))
    assert cfg == RESEARCH_PRESETS["paper-small-tagger"]
    assert (cfg.n_enc_layers, cfg.d_model, cfg.causal_decoder, cfg.readout) == (8, 512, False, "mean")

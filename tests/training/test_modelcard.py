"""``autodyn export RUN -o FOLDER``: an upload-ready folder whose card matches its weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from helpers import add_to_hf_cache, load_network, simple_file, tiny_model
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.errors import AutodynError
from autodynamics_cli.model.weights_file import read_metadata, save_model
from autodynamics_cli.training.modelcard import hub_license_id

VALIDATION = {"mse": 250.5, "mae": 12.25, "r": 0.4, "baseline_mse": 300.0, "notes": 1234}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A training run folder as train.py leaves it (best weights with their metadata)."""
    run = tmp_path / "run"
    run.mkdir()
    save_model(
        run / "best.safetensors",
        tiny_model(),
        {
            "step": "42",
            "validation": json.dumps(VALIDATION),
            "training_data": "data/asap",
            "train_config": json.dumps({"preset": "tiny", "loss": "ce"}),
        },
    )
    return run


def test_export_folder_is_ready_to_upload_and_loads(run_dir: Path, tmp_path: Path, monkeypatch):
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"summary": {**VALIDATION, "mse": 222.25, "notes": 99999}}))
    folder = tmp_path / "upload"
    r = CliRunner().invoke(
        app,
        ["export", str(run_dir), "-o", str(folder), "--eval-json", str(ev), "--name", "autodyn tiny test"],
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "model.safetensors"]
    weights = folder / "model.safetensors"
    card = (folder / "README.md").read_text()
    meta = read_metadata(weights)
    assert card.startswith("---\nlicense: cc-by-nc-sa-4.0\n") and "library_name: autodyn" in card
    assert "# autodyn tiny test" in card and meta["license"] in card
    assert hashlib.sha256(weights.read_bytes()).hexdigest() in card
    assert f"{tiny_model().num_parameters():,}" in card
    assert "250.5" in card and "222.2" in card and "99,999" in card and "step 42" in card
    assert meta["step"] == "42" and "config" in meta
    assert load_network(str(folder)).cfg == tiny_model().cfg  # the folder itself is a --model
    # as if pushed with `hf upload someone/tiny FOLDER .` and then downloaded
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    for f in folder.iterdir():
        add_to_hf_cache(cache, "someone/tiny", f.name, f.read_bytes())
    song = tmp_path / "s.mid"
    song.write_bytes(simple_file())
    r = CliRunner().invoke(app, ["humanize", str(song), "-m", "someone/tiny", "-o", str(tmp_path / "o.mid")])
    assert r.exit_code == 0, r.output


def test_export_single_file_refuses_folder_options(run_dir: Path, tmp_path: Path):
    r = CliRunner().invoke(
        app, ["export", str(run_dir), "-o", str(tmp_path / "x.safetensors"), "--name", "x"]
    )
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["export", str(run_dir), "-o", str(tmp_path / "x.safetensors")])
    assert r.exit_code == 0 and load_network(str(tmp_path / "x.safetensors"))


@pytest.mark.parametrize(
    ("text", "ident"),
    [
        ("CC BY-NC-SA 4.0 (weights trained on ...)", "cc-by-nc-sa-4.0"),
        ("CC BY 4.0", "cc-by-4.0"),
        ("MIT", "mit"),
        ("my own terms", "other"),
        (None, "other"),
    ],
)
def test_hub_license_ids(text: str | None, ident: str):
    assert hub_license_id(text) == ident


def test_export_last_takes_the_latest_checkpoint(dataset: Path, tmp_path: Path):
    run = tmp_path / "run"
    r = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(dataset),
            "--out",
            str(run),
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
            "--eval-seconds",
            "0",
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    ckpt = torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)
    out = tmp_path / "last.safetensors"
    r = CliRunner().invoke(app, ["export", str(run), "-o", str(out), "--last"])
    assert r.exit_code == 0, r.output
    meta = read_metadata(out)
    assert meta["step"] == str(ckpt["step"]) == "3" and "license" in meta
    # portable: the data folder by name, not the path of the machine that trained it
    assert meta["training_data"] == f"{dataset.name} (train split)"
    assert read_metadata(run / "best.safetensors")["training_data"] == meta["training_data"]
    logged = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    at_end = [m for m in logged if m["event"] == "validation" and m["step"] == 3][-1]
    assert json.loads(meta["validation"])["mse"] == at_end["mse"]
    got = load_network(str(out)).state_dict()
    for k, v in ckpt["model"].items():
        torch.testing.assert_close(got[k].float(), v.half().float())
    r = CliRunner().invoke(app, ["export", str(tmp_path), "-o", str(out), "--last"])
    assert isinstance(r.exception, AutodynError) and "last.ckpt: no checkpoint" in str(r.exception)

"""Ship a run: its best (or last) weights as a small fp16 file carrying their own description."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.inference.model import load_model
from autodynamics_cli.model.config import ModelConfig
from autodynamics_cli.model.torch_net import AutoDynamics
from autodynamics_cli.model.weights_file import read_metadata, save_model
from autodynamics_cli.training.config import TrainConfig, data_description

LICENSE_NOTE = "CC BY-NC-SA 4.0 (weights trained on ASAP/MAESTRO performances; non-commercial, share-alike)"


def export_run(
    run_dir: str | Path,
    dest: str | Path,
    readout: str | None = None,
    metadata: dict[str, str] | None = None,
    last: bool = False,
) -> None:
    """Write a run's best weights (``last``: its latest checkpoint's) as fp16 for shipping.

    The latest checkpoint is the end of a learning-rate decay, where the best one
    may only be the luckiest validation; its metadata gets that step's
    validation from ``metrics.jsonl`` when the run validated there.
    """
    run = Path(run_dir)
    src = run / ("last.ckpt" if last else "best.safetensors")
    if not src.is_file():
        raise AutodynError(f"{src}: no {'checkpoint' if last else 'best weights'} in this run folder yet")
    if last:
        ckpt = torch.load(src, map_location="cpu", weights_only=False)
        model = AutoDynamics(ModelConfig.from_dict(ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
        meta = {
            "step": str(ckpt["step"]),
            "training_data": data_description(TrainConfig(**ckpt["train_config"])),
            "train_config": json.dumps(ckpt["train_config"]),
        }
        summary = _validation_at(run / "metrics.jsonl", ckpt["step"])
        if summary:
            meta["validation"] = json.dumps(summary)
    else:
        model, meta = load_model(src, device="cpu", engine="torch").network(), read_metadata(src)
    meta = {"license": LICENSE_NOTE, **meta, **(metadata or {})}
    for k in ("config", "layout_version", "autodyn_version"):
        meta.pop(k, None)
    if readout:
        model.cfg.readout = readout
    save_model(dest, model, meta, half=True)


def _validation_at(metrics: Path, step: int) -> dict | None:
    """The summary ``best.safetensors`` would carry for a validation at ``step`` (None: none)."""
    if not metrics.is_file():
        return None
    found = [
        m
        for m in map(json.loads, metrics.read_text().splitlines())
        if m.get("event") == "validation" and m.get("step") == step
    ]
    if not found:
        return None
    return selection_summary(found[-1])


def selection_summary(m: dict) -> dict:
    """The part of a validation record that checkpoints are chosen on and that weights carry:
    score input when the run had it (users feed scores), else performance input."""
    if "score_mse" in m:
        return {k.removeprefix("score_"): v for k, v in m.items() if k.startswith("score_")}
    return {k: v for k, v in m.items() if k not in ("event", "step", "best")}

"""What a training run is asked to do: its settings, its learning-rate schedule, its model shape."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.model.config import PRESETS, RESEARCH_PRESETS, ModelConfig


@dataclass
class TrainConfig:
    data: str | list[str]  # performance folders (datasets.list_sources: each recording once)
    out: str
    preset: str = "default"
    loss: str = "mse"  # the paper's; or "ce", or "ev" (squared error of the mean readout)
    corr_weight: float = 0.0  # weight of the per-window correlation term (losses.sequence_loss; research)
    optimizer: str = "adafactor"  # the paper's; or "adamw"
    lr: float = 1e-3
    warmup_steps: int = 0  # linear learning-rate warm-up (0: the paper's constant rate)
    decay_from: int | None = None  # cosine decay from this step to min_lr_ratio*lr at max_steps
    min_lr_ratio: float = 0.1
    batch_size: int = 16
    max_train_notes: int | None = None  # notes per training window (None: all the decoder holds)
    max_steps: int = 100_000
    max_minutes: float | None = None  # stop this invocation after so long (resume later)
    dropout: float = 0.2
    aux_weight: float = 0.2  # loss weight of pitch, duration and EOS targets (velocity: 1)
    velocity_mask_prob: float = 1.0  # 1.0: the decoder never reads velocities (one-pass)
    readout: str | None = None  # None: the preset's
    stretch: float = 0.1
    transpose: int = 3
    seed: int = 0
    scores: str | None = None  # score folder: train on scores aligned to performances too
    alignments: str | None = None  # alignment CSV folder (layout: datasets.list_aligned)
    score_share: float = 0.5  # fraction of training windows drawn from aligned scores
    drop_dynamics: float = 0.3  # chance a score window's notated velocities are hidden
    drop_staff: float = 0.2  # chance a window's staves are hidden (a model that reads them)
    drop_markings: float = 0.3  # chance a score window's MusicXML markings are hidden (with markings)
    note_cache: bool = True  # cache parsed notes (datasets.read_notes_cached)
    checkpoint_minutes: float = 5.0
    eval_minutes: float = 10.0
    eval_seconds: float | None = 60.0  # validate on each performance's opening (None: whole)
    log_every: int = 10
    threads: int | None = None
    workers: int = 0  # processes that build training batches (prefetch.py); 0: this one
    device: str = "auto"
    overrides: dict = field(default_factory=dict)  # ModelConfig fields to change
    init_from: str | None = None  # a weights file of the same shapes to start a new run from


def data_description(cfg: TrainConfig) -> str:
    """What a run learned from, by folder names: portable, unlike the paths of the machine it ran on."""
    names = [Path(d).name or d for d in data_folders(cfg)]
    text = f"{' and '.join(names)} (train split)"
    if cfg.alignments and cfg.scores:
        text += f", with the scores of {Path(cfg.scores).name} aligned to them"
    return text


def data_folders(cfg: TrainConfig) -> list[str]:
    """The run's performance folders: ``data`` is one folder or a list of them."""
    return [cfg.data] if isinstance(cfg.data, str) else list(cfg.data)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Warm-up, then constant (the paper), then an optional cosine decay to the last step.

    The decay starts at a chosen step rather than at step 0 so that a run trained at a
    constant rate can be annealed in a later sitting (``--resume --decay-from STEP``)."""
    lr = cfg.lr
    if cfg.warmup_steps:
        lr *= min(1.0, (step + 1) / cfg.warmup_steps)
    if cfg.decay_from is not None and step >= cfg.decay_from and cfg.max_steps > cfg.decay_from:
        progress = min(1.0, (step - cfg.decay_from) / (cfg.max_steps - cfg.decay_from))
        lr *= cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return lr


def model_config(cfg: TrainConfig) -> ModelConfig:
    """The model a new run builds: its preset (a research one too), with the run's changes."""
    presets = {**PRESETS, **RESEARCH_PRESETS}
    if cfg.preset not in presets:
        raise AutodynError(f"unknown preset {cfg.preset!r} (choose from {', '.join(PRESETS)})")
    d = {
        **presets[cfg.preset].to_dict(),
        "dropout": cfg.dropout,
        "velocity_feedback": cfg.velocity_mask_prob < 1.0,
        **cfg.overrides,
    }
    if cfg.readout:
        d["readout"] = cfg.readout
    try:
        return ModelConfig.from_dict(d)
    except ValueError as e:
        raise AutodynError(f"model configuration: {e}") from None

"""Measure a model against real performances: the ``autodyn eval`` protocol.

For each performance, every note's velocity is set aside (the model never
reads input velocities, so this equals humanizing the file with all
velocities at 64) and the normal inference path predicts them. Per
performance: MSE, MAE and Pearson r against the real velocities, and the same
for the constant-64 baseline; averaged per piece, then over pieces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch

from autodynamics_cli.data import Entry
from autodynamics_cli.humanize import predict_velocities
from autodynamics_cli.midi_io import Notes, read_midi
from autodynamics_cli.model import AutoDynamics

BASELINE_VELOCITY = 64
METRICS = ("mse", "mae", "r", "baseline_mse", "baseline_mae")


@dataclass
class PerformanceScore:
    path: str
    group: str
    notes: int
    mse: float
    mae: float
    r: float
    baseline_mse: float
    baseline_mae: float


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def score_velocities(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    err = pred.astype(np.float64) - true
    base = BASELINE_VELOCITY - true.astype(np.float64)
    return {"mse": float((err**2).mean()), "mae": float(np.abs(err).mean()),
            "r": pearson(pred, true), "baseline_mse": float((base**2).mean()),
            "baseline_mae": float(np.abs(base).mean())}


def clip_notes(notes: Notes, max_seconds: float | None) -> Notes:
    if max_seconds is None:
        return notes
    if len(notes) == 0:
        return notes
    keep = notes.onset < notes.onset.min() + max_seconds
    return Notes(**{f.name: getattr(notes, f.name)[keep] for f in fields(Notes)})


def load_notes(entries: list[Entry], max_seconds: float | None = None) -> list[Notes]:
    """Notes of each performance; ``max_seconds`` keeps only its opening (quick checks)."""
    return [clip_notes(read_midi(e.path).notes, max_seconds) for e in entries]


def evaluate(model: AutoDynamics, entries: list[Entry], device: torch.device,
             notes: list[Notes] | None = None, max_seconds: float | None = None,
             files_per_batch: int = 8,
             on_done: Callable[[PerformanceScore], None] | None = None) -> list[PerformanceScore]:
    """Score every performance (``notes``: already loaded, else read from the files)."""
    results = []
    for i in range(0, len(entries), files_per_batch):
        group = entries[i : i + files_per_batch]
        group_notes = notes[i : i + files_per_batch] if notes is not None else \
            load_notes(group, max_seconds)
        preds = predict_velocities(model, group_notes, device)
        for e, n, p in zip(group, group_notes, preds, strict=True):
            if len(n) == 0:
                continue
            s = PerformanceScore(str(e.path), e.group, len(n), **score_velocities(p, n.velocity))
            results.append(s)
            if on_done:
                on_done(s)
    return results


def summarize(scores: list[PerformanceScore]) -> dict[str, float]:
    """Average per piece, then over pieces."""
    by_piece: dict[str, list[PerformanceScore]] = defaultdict(list)
    for s in scores:
        by_piece[s.group].append(s)
    piece_means = [{m: float(np.mean([getattr(s, m) for s in ss])) for m in METRICS}
                   for ss in by_piece.values()]
    out = {m: float(np.mean([p[m] for p in piece_means])) if piece_means else float("nan")
           for m in METRICS}
    out.update(performances=len(scores), pieces=len(by_piece), notes=sum(s.notes for s in scores))
    return out

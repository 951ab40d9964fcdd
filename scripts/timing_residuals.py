"""Which performance cues does a model miss on performance input? (issue 3)

Each performance is flattened to velocity 64 and humanized (the `autodyn eval`
protocol). A ridge regression of the model's residual (played minus predicted
velocity) on one-hot groups of note cues is fitted on training performances
and applied to the validation performances; the validation MSE and Pearson r
(per performance, averaged per piece, then over pieces) after the correction
say how much of the error a cue explains that the model does not already use.
A gain here is an upper-bound hint for a new note feature, not a model.

Cue groups, from the performance itself (all known at inference):
``cluster`` size and rank of the notes whose onsets chain within 35 ms (a
chord as played rather than as the 50 ms roll cuts it); ``lead`` the onset
against its cluster's mean onset; ``ioi`` the gaps to the previous and next
cluster; ``tempo`` the next gap against the median of its neighbours (rubato);
``duration`` and ``articulation`` (duration over the next gap); ``pedal`` the
sustain pedal (CC64) at the onset, which the model never sees; ``pitch``.

    OMP_NUM_THREADS=2 python scripts/timing_residuals.py --model weights/default.safetensors
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import mido
import numpy as np

from autodynamics_cli.inference.model import load_model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.training.datasets import list_dataset
from autodynamics_cli.training.evaluate import flattened, nan_mean, pearson

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CLUSTER_GAP_S = 0.035


def pedal_at(path: str | Path, onset: np.ndarray) -> np.ndarray:
    """The sustain pedal value (0..127) in force at each onset (any channel)."""
    t, times, values = 0.0, [], []
    for msg in mido.MidiFile(str(path)):  # merged tracks, seconds
        t += msg.time
        if msg.type == "control_change" and msg.control == 64:
            times.append(t)
            values.append(msg.value)
    if not times:
        return np.zeros(len(onset))
    k = np.searchsorted(np.asarray(times), onset, side="right") - 1
    return np.where(k >= 0, np.asarray(values)[np.maximum(k, 0)], 0).astype(np.float64)


def _onehot(x: np.ndarray, edges: list[float]) -> np.ndarray:
    """Columns for every bucket but the first (the intercept stands for it)."""
    b = np.searchsorted(np.asarray(edges), x, side="right")
    m = np.zeros((len(x), len(edges) + 1))
    m[np.arange(len(x)), b] = 1
    return m[:, 1:]


def cues(
    onset: np.ndarray, offset: np.ndarray, pitch: np.ndarray, pedal: np.ndarray
) -> dict[str, np.ndarray]:
    """One-hot cue groups per note (rows in the notes' order)."""
    n = len(onset)
    order = np.lexsort((pitch, onset))
    so, sp = onset[order], pitch[order].astype(np.float64)
    new = np.r_[True, np.diff(so) > CLUSTER_GAP_S]
    cid = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    sizes = np.diff(np.r_[starts, n])
    by_pitch = np.lexsort((sp, cid))
    rank_bottom = np.empty(n)
    rank_bottom[by_pitch] = np.arange(n) - starts[cid[by_pitch]]
    size = sizes[cid]
    rank_top = size - 1 - rank_bottom
    lead_ms = (so - (np.bincount(cid, weights=so) / sizes)[cid]) * 1000
    cstart = so[starts]
    gaps = np.diff(cstart)
    before = np.r_[5.0, gaps][cid]
    after = np.r_[gaps, 5.0][cid]
    median = np.array(
        [np.median(gaps[max(0, k - 8) : k + 8]) if len(gaps) else 1.0 for k in range(len(cstart))]
    )
    tempo = np.log(np.maximum(after, 1e-3) / np.maximum(median[cid], 1e-3))
    dur = (offset - onset)[order]
    art = np.log(np.maximum(dur, 1e-3) / np.maximum(after, 1e-3))
    groups = {
        "cluster": np.hstack(
            [
                _onehot(np.minimum(size, 8), [2, 3, 4, 5, 6, 7, 8]),
                _onehot(np.minimum(rank_top, 5), [1, 2, 3, 4, 5]),
                _onehot(np.minimum(rank_bottom, 5), [1, 2, 3, 4, 5]),
            ]
        ),
        "lead": _onehot(lead_ms, [-25, -15, -8, -3, 3, 8, 15, 25]),
        "ioi": np.hstack(
            [
                _onehot(np.log2(before), [-4, -3, -2, -1, 0, 1]),
                _onehot(np.log2(after), [-4, -3, -2, -1, 0, 1]),
            ]
        ),
        "tempo": _onehot(tempo, [-0.6, -0.3, -0.1, 0.1, 0.3, 0.6]),
        "duration": _onehot(np.log2(np.maximum(dur, 1e-3)), [-5, -4, -3, -2, -1, 0, 1]),
        "articulation": _onehot(art, [-1.5, -0.7, -0.3, 0, 0.3, 0.7, 1.5]),
        "pedal": _onehot(pedal[order], [1, 40, 64, 100]),
        "pitch": _onehot(sp, [36, 48, 60, 72, 84]),
    }
    back = np.empty(n, dtype=np.int64)
    back[order] = np.arange(n)
    return {k: v[back] for k, v in groups.items()}


Row = tuple[str, dict[str, np.ndarray], np.ndarray, np.ndarray]  # piece, cues, pred, played


def _summary(valid: list[Row], predicted: list[np.ndarray]) -> tuple[float, float]:
    """MSE and r per performance, averaged per piece, then over pieces (as `autodyn eval`)."""
    per_piece: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for (piece, _, _, played), q in zip(valid, predicted, strict=True):
        per_piece[piece].append((float(((q - played) ** 2).mean()), pearson(q, played)))
    return (
        nan_mean([nan_mean([m for m, _ in v]) for v in per_piece.values()]),
        nan_mean([nan_mean([c for _, c in v]) for v in per_piece.values()]),
    )


def corrected_scores(
    train: list[Row], valid: list[Row], groups: list[str], lam: float = 10.0
) -> tuple[float, float]:
    """Validation MSE and r after the correction fitted on ``train``."""

    def design(c: dict[str, np.ndarray], pred: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(pred)), pred - 64] + [c[g] for g in groups])

    x = np.concatenate([design(c, p) for _, c, p, _ in train])
    y = np.concatenate([t - p for _, _, p, t in train])
    w = np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)
    return _summary(valid, [np.clip(np.rint(p + design(c, p) @ w), 1, 127) for _, c, p, _ in valid])


def model_scores(valid: list[Row]) -> tuple[float, float]:
    """Validation MSE and r of the model's own predictions."""
    return _summary(valid, [p for _, _, p, _ in valid])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="weights (default: the bundled model)")
    ap.add_argument("--data", type=Path, default=SHARED / "asap-performances")
    ap.add_argument("--train-files", type=int, default=100, help="training performances to fit on")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model = load_model(args.model, device="cpu", engine="torch")
    entries = list_dataset(args.data)
    train = [e for e in entries if e.split == "train"]
    pick = np.random.default_rng(args.seed).choice(
        len(train), min(args.train_files, len(train)), replace=False
    )
    chosen = [train[i] for i in sorted(pick)] + [e for e in entries if e.split == "validation"]
    rows: dict[str, list[Row]] = {"train": [], "validation": []}
    for e in chosen:
        notes = read_midi(e.path).notes
        if len(notes) < 2:
            continue
        (pred,) = predict_velocities(model, [flattened(notes)])
        c = cues(notes.onset, notes.offset, notes.pitch, pedal_at(e.path, notes.onset))
        rows[e.split].append((e.group, c, pred.astype(np.float64), notes.velocity.astype(np.float64)))
    groups = list(rows["train"][0][1])
    print(f"{len(rows['train'])} training, {len(rows['validation'])} validation performances")
    print(f"{'correction by':<28}{'MSE':>8}{'r':>8}")
    mse, r = model_scores(rows["validation"])
    print(f"{'none (the model)':<28}{mse:>8.1f}{r:>8.4f}")
    table = (
        [([g], g) for g in groups]
        + [(groups, "all")]
        + [([x for x in groups if x != g], f"all but {g}") for g in groups]
    )
    for chosen_groups, name in table:
        mse, r = corrected_scores(rows["train"], rows["validation"], chosen_groups)
        print(f"{name:<28}{mse:>8.1f}{r:>8.4f}")


if __name__ == "__main__":
    main()

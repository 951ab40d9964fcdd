"""Per-piece level and spread calibration of the model's velocities (issue 21): a measured study.

The model predicts about the average of pianists: per piece its velocities span about
half to 0.6 of a pianist's range (spread = std(output) / std(pianist) on the same notes).
This measures a cheap second stage that predicts each piece's LEVEL (the pianists'
mean velocity) and SPREAD (the pianists' std) from a whole-piece summary of the input
file and then maps the model's output per file:

    v' = level_hat + s * (v - mean(v)),  s = spread_hat / std(v) * user factor,

clipped to 1..127 and rounded. Summary features, from the input file alone (as at
inference): log notes/s, log onsets/s (onsets within 35 ms are one chord), mean chord
size, log mean and median note duration, mean and std of pitch, log length in seconds,
whether the file has notated dynamics (velocities not all equal; a performance is
flattened to 64, so never), the mean and std of its notated velocities (0 when none),
and the mean and std of the model's own output. Two ridge regressions: level - model
mean, and log(pianist std / model std); features and ridge alpha chosen by forward
selection on grouped 10-fold cross-validation over the TRAIN pieces (all files of a
piece in one fold; each piece weighs 1). Nothing is tuned on validation.

Variants (rows): (a) the model as it is; (b) spread only, one constant learned factor
exp(mean log(pianist std / model std)) for every piece, level kept; (b') spread only,
spread_hat per piece; (c) level only; (d) both; (d') level_hat and the constant factor;
(e) a global quantile map from the model's velocity distribution to the pianists' (train
notes pooled, no piece features); (ref) each file shifted to its own pianists' mean
(uses the answers: what a perfect level would give). The user factor multiplies s in
(b), (b'), (d), (d').

Metrics follow ``autodyn eval`` (``training/evaluate.py``): per performance on the notes
the alignment matched (score input: each score humanized once, compared with each of
its performers) or on all notes (performance input: each performance flattened to 64,
compared with itself); then the mean per piece (``AlignedEntry.group``) and over pieces.
MSE, MAE, Pearson r, spread, level error = mean(output) - mean(pianist) (signed, and its
absolute value). Rows "train, 10-fold CV" map each train piece with a calibrator
(selection included: nested) and quantile map fitted on the other folds; "validation"
uses the ones fitted on all train pieces. Score-input and performance-input
calibrators are fitted separately on their own kind of train file, or with ``--pooled``
as one on both.

The model runs once per file; its output is cached in ``--cache`` (one npz per file,
keyed by the file, the alignments and the weights), so reruns take seconds to a minute.
The first run is the slow one: measured on the two-core development machine, shared with
other jobs, 72 minutes for the 209 scores and 36 for 660 of the 933 performances (2 to 8 s
a file, depending on the load); ``--train-performances-per-piece 1`` runs the model on
273 performances instead of 933. With the cache, a run takes about 35 s. Prints one table (markdown);
``--details`` adds the fitted coefficients, the CV selection paths and a user-factor
sweep of (d) in train CV.

    python scripts/piece_calibration.py                       # both inputs, user factor 1
    python scripts/piece_calibration.py --user-factor 0.9 --details
    python scripts/piece_calibration.py --inputs scores --pooled
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autodynamics_cli.midi.read import read_midi  # noqa: E402
from autodynamics_cli.model.calibration import (  # noqa: E402
    FEATURES,
    Linear,
    PieceCalibration,
    summary_features,
)
from autodynamics_cli.training.datasets import (  # noqa: E402
    aligned_targets,
    list_aligned,
    list_dataset,
    read_alignment,
    read_notes_cached,
)
from autodynamics_cli.training.evaluate import flattened  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
CACHE_VERSION = "1"
FILES_PER_BATCH = 8


# ---------------------------------------------------------------- model runs, cached


@dataclass
class Unit:
    """One input file as the calibrator sees it: the model's output and, per performer, the truth."""

    kind: str  # "score" or "performance"
    name: str
    split: str
    group: str  # the piece (AlignedEntry.group / Entry.group): metrics average per group
    onset: np.ndarray
    offset: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray  # the input velocities (a performance's: flattened to 64 for the model)
    pred: np.ndarray  # the model's velocity per note
    targets: list[tuple[str, np.ndarray, np.ndarray]]  # (performance, velocity per note, matched)


def tensors_digest(weights: Path) -> str:
    """A digest of the weights file's tensors (not its metadata, which the calibration rewrites)."""
    data = weights.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = {k: v for k, v in json.loads(data[8 : 8 + n]).items() if k != "__metadata__"}
    return hashlib.sha1(json.dumps(header, sort_keys=True).encode() + data[8 + n :]).hexdigest()


def file_key(paths: list[Path], weights_digest: str, tag: str) -> str:
    h = hashlib.sha1(f"{CACHE_VERSION}|{tag}|{weights_digest}".encode())
    for p in paths:
        st = p.stat()
        h.update(f"|{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def save_unit(path: Path, u: Unit) -> None:
    arrays = dict(onset=u.onset, offset=u.offset, pitch=u.pitch.astype(np.int16),
                  velocity=u.velocity.astype(np.int16), pred=u.pred.astype(np.int16),
                  meta=np.array([u.kind, u.name, u.split, u.group]),
                  perf_names=np.array([t[0] for t in u.targets] or [""]))
    for k, (_, t, h) in enumerate(u.targets):
        arrays[f"target{k}"], arrays[f"has{k}"] = t.astype(np.int16), h
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_unit(path: Path) -> Unit:
    with np.load(path) as z:
        kind, name, split, group = (str(x) for x in z["meta"])
        names = [str(x) for k, x in enumerate(z["perf_names"]) if f"target{k}" in z]
        targets = [(n, z[f"target{k}"].astype(np.int64), z[f"has{k}"]) for k, n in enumerate(names)]
        return Unit(kind, name, split, group, z["onset"], z["offset"], z["pitch"].astype(np.int64),
                    z["velocity"].astype(np.int64), z["pred"].astype(np.int64), targets)


def run_model(engine, jobs: list[tuple[Path, callable]]) -> None:
    """``jobs``: (cache file, builder) where builder() -> (notes the model reads, finish(pred) -> Unit)."""
    from autodynamics_cli.inference.predict import predict_velocities

    t0 = time.time()
    for i in range(0, len(jobs), FILES_PER_BATCH):
        chunk = jobs[i : i + FILES_PER_BATCH]
        built = [b() for _, b in chunk]
        preds = predict_velocities(engine, [n for n, _ in built], calibrate=False)  # the network's own
        for (path, _), (_, finish), p in zip(chunk, built, preds, strict=True):
            save_unit(path, finish(np.asarray(p)))
        done = min(i + FILES_PER_BATCH, len(jobs))
        print(f"  model: {done}/{len(jobs)} files, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)


def score_units(data: Path, cache: Path, weights: Path, splits: set[str]) -> list[Path]:
    entries = [e for e in list_aligned(data / "asap-performances", data / "asap-scores",
                                       data / "asap-alignments") if e.split in splits]
    by_score: dict[str, list] = defaultdict(list)
    for e in entries:
        by_score[str(e.score)].append(e)
    out, jobs, digest = [], [], tensors_digest(weights)
    for score, group in sorted(by_score.items()):
        path = cache / f"score-{file_key([Path(score), *(e.alignment for e in group)], digest, 'score')}.npz"
        out.append(path)
        if path.is_file():
            continue

        def build(score=score, group=group):
            midi = read_midi(score)
            notes = midi.notes
            targets = [(str(e.performance), *aligned_targets(notes, midi.data, read_alignment(e.alignment),
                                                             str(e.alignment))) for e in group]

            def finish(pred):
                return Unit("score", score, group[0].split, group[0].group, notes.onset, notes.offset,
                            notes.pitch, notes.velocity, pred, targets)
            return notes, finish
        jobs.append((path, build))
    if jobs:
        print(f"scores: running the model on {len(jobs)} of {len(out)} files", file=sys.stderr)
        run_model(engine_for(weights), jobs)
    return out


def performance_units(data: Path, cache: Path, weights: Path, splits: set[str],
                      per_piece: int | None, cached_train: bool = False) -> list[Path]:
    """Cache files of the performances (the model runs on those not cached yet); with
    ``cached_train`` only the train performances already cached are used (a cheaper fit)."""
    entries = [e for e in list_dataset(data / "asap-performances") if e.split in splits]
    if per_piece is not None:  # a fixed subset of the train performances (validation: all)
        seen: dict[str, int] = defaultdict(int)
        kept = []
        for e in entries:
            if e.split == "validation" or seen[e.group] < per_piece:
                kept.append(e)
                seen[e.group] += 1
        entries = kept
    out, jobs, digest = [], [], tensors_digest(weights)
    for e in entries:
        path = cache / f"perf-{file_key([e.path], digest, 'performance')}.npz"
        if cached_train and e.split == "train" and not path.is_file():
            continue
        out.append(path)
        if path.is_file():
            continue

        def build(e=e):
            notes = read_notes_cached(e.path)  # parsed once for training runs too
            flat = flattened(notes)

            def finish(pred):
                return Unit("performance", str(e.path), e.split, e.group, notes.onset, notes.offset,
                            notes.pitch, flat.velocity, pred,
                            [(str(e.path), notes.velocity, np.ones(len(notes), dtype=bool))])
            return flat, finish
        jobs.append((path, build))
    if jobs:
        print(f"performances: running the model on {len(jobs)} of {len(out)} files", file=sys.stderr)
        run_model(engine_for(weights), jobs)
    return out


_ENGINE = None
DEVICE = "cpu"  # --device: "cuda" runs the torch engine on a GPU


def engine_for(weights: Path):
    global _ENGINE
    if _ENGINE is None:
        from autodynamics_cli.inference.choose import load_engine
        _ENGINE = load_engine(str(weights), DEVICE, "numpy" if DEVICE == "cpu" else "torch")
    return _ENGINE


# ---------------------------------------------------------------- the piece summary


def summary(u: Unit) -> np.ndarray:
    """The piece features, from the input file alone (and the model's output on it): the product's."""
    x = summary_features(u.onset, u.offset, u.pitch, u.velocity, u.pred)
    return np.array([x[k] for k in FEATURES])


@dataclass
class Table:
    """Units of one input kind, with what the fits need per unit."""

    units: list[Unit]
    X: np.ndarray  # features
    level: np.ndarray  # the pianists' mean velocity (mean over the unit's performers)
    spread: np.ndarray  # the pianists' std of velocity (likewise)
    weight: np.ndarray  # the unit's share of its piece: each piece weighs 1, as in the metrics
    groups: np.ndarray

    @property
    def model_mean(self) -> np.ndarray:
        return self.X[:, FEATURES.index("model_mean")]

    @property
    def model_std(self) -> np.ndarray:
        return self.X[:, FEATURES.index("model_std")]


def make_table(units: list[Unit]) -> Table:
    units = [u for u in units if len(u.pred) > 1 and any(h.sum() > 1 for _, _, h in u.targets)]
    X = np.stack([summary(u) for u in units])
    lv, sp, n = [], [], []
    for u in units:
        ts = [t[h].astype(np.float64) for _, t, h in u.targets if h.sum() > 1]
        lv.append(np.mean([t.mean() for t in ts]))
        sp.append(np.mean([t.std() for t in ts]))
        n.append(len(ts))
    groups = np.array([u.group for u in units])
    n = np.array(n, dtype=np.float64)
    per_group = defaultdict(float)
    for g, k in zip(groups, n, strict=True):
        per_group[g] += k
    w = np.array([k / per_group[g] for g, k in zip(groups, n, strict=True)])
    return Table(units, X, np.array(lv), np.array(sp), w, groups)


def subset_table(t: Table, mask: np.ndarray) -> Table:
    return Table([u for u, m in zip(t.units, mask, strict=True) if m], t.X[mask], t.level[mask],
                 t.spread[mask], t.weight[mask], t.groups[mask])


def concat_tables(a: Table, b: Table) -> Table:
    return Table(a.units + b.units, np.vstack([a.X, b.X]), np.r_[a.level, b.level],
                 np.r_[a.spread, b.spread], np.r_[a.weight, b.weight], np.r_[a.groups, b.groups])


# ---------------------------------------------------------------- ridge, chosen by grouped CV


ALPHAS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # on standardized features, weights summing to 1
MAX_FEATURES = 8
MIN_GAIN = 0.01  # a feature joins only if it lowers the CV error by 1%
FOLDS = 10


@dataclass
class Ridge:
    cols: list[int]
    alpha: float
    mu: np.ndarray
    sd: np.ndarray
    ybar: float
    b: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not self.cols:
            return np.full(len(X), self.ybar)
        return self.ybar + ((X[:, self.cols] - self.mu) / self.sd) @ self.b

    def coefficients(self) -> tuple[float, dict[str, float]]:
        """Intercept and per-feature slopes in the features' own units."""
        slopes = self.b / self.sd if self.cols else np.zeros(0)
        return float(self.ybar - slopes @ self.mu if self.cols else self.ybar), \
            {FEATURES[c]: float(s) for c, s in zip(self.cols, slopes, strict=True)}


def ridge_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, cols: list[int], alpha: float) -> Ridge:
    w = w / w.sum()
    ybar = float(w @ y)
    if not cols:
        return Ridge([], alpha, np.zeros(0), np.ones(0), ybar, np.zeros(0))
    Xc = X[:, cols]
    mu = w @ Xc
    sd = np.sqrt(w @ (Xc - mu) ** 2)
    sd[sd == 0] = 1.0
    Z = (Xc - mu) / sd
    b = np.linalg.solve(Z.T @ (Z * w[:, None]) + alpha * np.eye(len(cols)), Z.T @ (w * (y - ybar)))
    return Ridge(list(cols), alpha, mu, sd, ybar, b)


def fold_of(groups: np.ndarray, k: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Each unit's fold: whole pieces to a fold, by a fixed shuffle of the piece names."""
    names = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(names))
    fold = {names[i]: r % k for r, i in enumerate(order)}
    return np.array([fold[g] for g in groups])


def cv_error(X, y, w, folds, cols, alpha) -> float:
    pred = np.empty(len(y))
    for f in np.unique(folds):
        te = folds == f
        pred[te] = ridge_fit(X[~te], y[~te], w[~te], cols, alpha).predict(X[te])
    return float(w @ (pred - y) ** 2 / w.sum())


def select(X, y, w, folds) -> tuple[Ridge, list[tuple[str, float, float]]]:
    """Forward selection of features and ridge alpha by grouped CV; the path as (added, alpha, cv)."""
    cols: list[int] = []
    best, alpha = cv_error(X, y, w, folds, [], 0.0), 0.0
    path = [("(intercept only)", 0.0, best)]
    while len(cols) < MAX_FEATURES:
        e, j, a = min((cv_error(X, y, w, folds, cols + [j], a), j, a)
                      for j in range(X.shape[1]) if j not in cols for a in ALPHAS)
        if e > best * (1 - MIN_GAIN):
            break
        cols, best, alpha = cols + [j], e, a
        path.append((FEATURES[j], a, e))
    return ridge_fit(X, y, w, cols, alpha), path


@dataclass
class Calibrator:
    """Level and spread of a piece from its summary: level = model mean + dL, spread factor = exp(dS)."""

    level: Ridge  # predicts pianist level - model mean
    spread: Ridge  # predicts log(pianist std / model std)
    factor: float  # exp(mean log ratio): the constant spread factor (no features)
    level_path: list
    spread_path: list

    def level_hat(self, t: Table) -> np.ndarray:
        return t.model_mean + self.level.predict(t.X)

    def spread_factor(self, t: Table) -> np.ndarray:
        return np.exp(self.spread.predict(t.X))


def fit_calibrator(t: Table) -> Calibrator:
    folds = fold_of(t.groups)
    dl = t.level - t.model_mean
    ds = np.log(t.spread / np.maximum(t.model_std, 1e-3))
    level, lp = select(t.X, dl, t.weight, folds)
    spread, sp = select(t.X, ds, t.weight, folds)
    factor = float(np.exp(t.weight @ ds / t.weight.sum()))
    return Calibrator(level, spread, factor, lp, sp)


# ---------------------------------------------------------------- the mappings and the metrics


def remap(pred: np.ndarray, level: float | None, s: float) -> np.ndarray:
    """v' = level + s * (v - mean(v)), clipped to 1..127 and rounded (level None: the model's)."""
    p = pred.astype(np.float64)
    m = p.mean()
    return np.clip(np.round((m if level is None else level) + s * (p - m)), 1, 127).astype(np.int64)


def quantile_map(t: Table) -> np.ndarray:
    """Per model velocity 0..127, the pianists' velocity at the same quantile (all train notes pooled)."""
    pred = np.concatenate([u.pred[h] for u in t.units for _, _, h in u.targets])
    true = np.concatenate([tt[h] for u in t.units for _, tt, h in u.targets])
    counts = np.bincount(np.clip(pred, 0, 127), minlength=128).astype(np.float64)
    mid = (np.cumsum(counts) - counts / 2) / counts.sum()  # mid-rank quantile of each value
    table = np.quantile(true, np.clip(mid, 0, 1))
    return table


def apply_quantile(pred: np.ndarray, table: np.ndarray) -> np.ndarray:
    return np.clip(np.round(table[np.clip(pred, 0, 127)]), 1, 127).astype(np.int64)


METRIC_NAMES = ("mse", "mae", "r", "spread", "level_err", "abs_level_err")


def unit_metrics(u: Unit, v: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Per performer of the unit, (its piece, metrics), on the notes it matched."""
    out = []
    for _, t, h in u.targets:
        if h.sum() < 2:
            continue
        p, y = v[h].astype(np.float64), t[h].astype(np.float64)
        err = p - y
        r = float(np.corrcoef(p, y)[0, 1]) if p.std() > 0 and y.std() > 0 else 0.0
        lvl = p.mean() - y.mean()
        out.append((u.group, np.array([(err**2).mean(), np.abs(err).mean(), r,
                                       p.std() / y.std() if y.std() > 0 else np.nan, lvl, abs(lvl)])))
    return out


def protocol(units: list[Unit], outputs: list[np.ndarray]) -> np.ndarray:
    """Metrics per performer, mean per piece, then over pieces (``evaluate.summarize``)."""
    by_piece = defaultdict(list)
    for u, v in zip(units, outputs, strict=True):
        for g, m in unit_metrics(u, v):
            by_piece[g].append(m)
    return np.nanmean([np.nanmean(ms, axis=0) for ms in by_piece.values()], axis=0)


def variant_outputs(t: Table, cal: Calibrator, qmap: np.ndarray, user_factor: float = 1.0
                    ) -> dict[str, list[np.ndarray]]:
    """Each variant's velocities for every unit of ``t`` (calibrator and map fitted elsewhere)."""
    L, S = cal.level_hat(t), cal.spread_factor(t)
    f, c = user_factor, cal.factor
    out = {k: [] for k in VARIANTS}
    for i, u in enumerate(t.units):
        out["a"].append(u.pred)
        out["b"].append(remap(u.pred, None, c * f))
        out["b2"].append(remap(u.pred, None, S[i] * f))
        out["c"].append(remap(u.pred, L[i], 1.0))
        out["d"].append(remap(u.pred, L[i], S[i] * f))
        out["d2"].append(remap(u.pred, L[i], c * f))
        out["e"].append(apply_quantile(u.pred, qmap))
        out["oracle"].append(remap(u.pred, t.level[i], 1.0))
    return out


VARIANTS = {
    "a": "(a) today's model",
    "b": "(b) spread only: constant learned factor, level kept",
    "b2": "(b') spread only: spread_hat per piece, level kept",
    "c": "(c) level only: level_hat, spread kept",
    "d": "(d) both: level_hat + spread_hat",
    "d2": "(d') level_hat + constant learned factor",
    "e": "(e) global quantile map to the pianists' distribution",
    "oracle": "(ref) each piece shifted to its pianists' true mean (uses the answers)",
}


def cross_validated(t: Table, user_factor: float = 1.0) -> tuple[dict[str, list[np.ndarray]], dict]:
    """Train-split CV: each fold's units mapped by a calibrator (feature and alpha selection
    included, so this is nested) and a quantile map, both fitted on the other folds' pieces.
    Returns each variant's out-of-fold velocities per unit and the out-of-fold level and factor."""
    folds = fold_of(t.groups)
    outs: dict[str, list] = {k: [None] * len(t.units) for k in VARIANTS}
    oof = {"level": np.empty(len(t.units)), "factor": np.empty(len(t.units))}
    for f in np.unique(folds):
        te = folds == f
        tr_t, te_t = subset_table(t, ~te), subset_table(t, te)
        cal, qmap = fit_calibrator(tr_t), quantile_map(tr_t)
        o = variant_outputs(te_t, cal, qmap, user_factor)
        idx = np.flatnonzero(te)
        oof["level"][idx], oof["factor"][idx] = cal.level_hat(te_t), cal.spread_factor(te_t)
        for k in VARIANTS:
            for j, v in zip(idx, o[k], strict=True):
                outs[k][j] = v
    return outs, oof


def factor_sweep(t: Table, oof: dict, factors, kind: str | None = None) -> list[tuple[float, np.ndarray]]:
    """Variant (d) with the out-of-fold level and spread, at several user factors (train CV)."""
    rows = []
    for f in factors:
        us = [(u, remap(u.pred, oof["level"][i], oof["factor"][i] * f)) for i, u in enumerate(t.units)
              if kind is None or u.kind == kind]
        rows.append((f, protocol([u for u, _ in us], [v for _, v in us])))
    return rows


# ---------------------------------------------------------------- report


def fmt_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def metric_cells(m: np.ndarray) -> list[str]:
    return [f"{m[0]:.1f}", f"{m[1]:.2f}", f"{m[2]:.3f}", f"{m[3]:.2f}", f"{m[4]:+.1f}", f"{m[5]:.1f}"]


def describe(cal: Calibrator, label: str) -> str:
    lines = [f"### {label}"]
    for name, r, path in (("level: pianist mean - model mean", cal.level, cal.level_path),
                          ("spread: log(pianist std / model std)", cal.spread, cal.spread_path)):
        icpt, slopes = r.coefficients()
        lines.append(f"- {name}: alpha {r.alpha:g}, intercept {icpt:+.4f}"
                     + "".join(f", {k} {v:+.4f}" for k, v in slopes.items()))
        lines.append("  - selection path (grouped 10-fold CV MSE of the target): "
                     + "; ".join(f"{n} (alpha {a:g}): {e:.4g}" for n, a, e in path))
    lines.append(f"- constant learned spread factor exp(mean log ratio): {cal.factor:.3f}")
    return "\n".join(lines)


def to_product(cal: Calibrator, user_factor: float, fitted_on: str) -> PieceCalibration:
    """The fitted score calibrator as the product stores it (``model/calibration.py``)."""
    lin = []
    for r in (cal.level, cal.spread):
        icpt, slopes = r.coefficients()
        lin.append(Linear(icpt, slopes))
    return PieceCalibration(lin[0], lin[1], user_factor, fitted_on)


def write_calibration(weights: Path, out: Path, cal: PieceCalibration) -> None:
    """A copy of ``weights`` with ``cal`` in its metadata; the tensors are copied unchanged."""
    from safetensors.numpy import load_file, save_file

    from autodynamics_cli.model.calibration import METADATA_KEY
    from autodynamics_cli.model.weights_file import read_metadata

    meta = {**read_metadata(weights), METADATA_KEY: cal.to_json()}
    tmp = out.with_name(out.name + ".tmp")
    save_file(load_file(str(weights)), str(tmp), metadata=meta)
    tmp.replace(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED, help="folder with asap-performances, "
                    "asap-scores, asap-alignments (default: ../shared/data)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/piece_calibration"),
                    help="model outputs, one npz per file (default: /tmp/piece_calibration)")
    ap.add_argument("--model", default=None, help="weights (default: the bundled model)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where the model runs (cuda: the torch engine on a GPU)")
    ap.add_argument("--inputs", choices=("scores", "performances", "both"), default="both")
    ap.add_argument("--train-performances-per-piece", type=int, default=None, metavar="K",
                    help="fit the performance-input calibrator on at most K performances of each "
                         "train piece (default: all; the model runs on each once, then cached)")
    ap.add_argument("--cached-train-performances", action="store_true",
                    help="fit on the train performances already in the cache only (no model runs for them)")
    ap.add_argument("--user-factor", type=float, default=1.0,
                    help="multiplies the spread factor s in (b), (b'), (d), (d')")
    ap.add_argument("--pooled", action="store_true",
                    help="one calibrator and quantile map for both inputs, fitted on the train "
                         "scores and train performances together (default: one per input kind)")
    ap.add_argument("--details", action="store_true",
                    help="also print the fitted coefficients, the CV paths and a user-factor sweep")
    ap.add_argument("--write-calibration", type=Path, default=None, metavar="OUT.safetensors",
                    help="write a copy of the model with the score calibrator fitted on all train "
                         "scores, at --user-factor, in its metadata (how the bundled model got its own)")
    args = ap.parse_args(argv)
    global DEVICE
    DEVICE = args.device

    from autodynamics_cli.model.registry import resolve
    weights = resolve(args.model)
    args.cache.mkdir(parents=True, exist_ok=True)
    splits = {"train", "validation"}
    kinds = []
    if args.inputs in ("scores", "both"):
        kinds.append(("scores", score_units(args.data, args.cache, weights, splits)))
    if args.inputs in ("performances", "both"):
        kinds.append(("performances", performance_units(args.data, args.cache, weights, splits,
                                                        args.train_performances_per_piece,
                                                        args.cached_train_performances)))
    tables = {}
    for kind, paths in kinds:
        t = make_table([load_unit(p) for p in paths])
        split = np.array([u.split for u in t.units])
        tables[kind] = (subset_table(t, split == "train"), subset_table(t, split == "validation"))
    # one calibrator per input kind, or (--pooled) one for both, fitted on all their train units
    fits = {}
    if args.pooled and len(tables) == 2:
        (s_tr, _), (p_tr, _) = tables["scores"], tables["performances"]
        pooled = concat_tables(s_tr, p_tr)
        fits = {k: pooled for k in tables}
    else:
        fits = {k: tables[k][0] for k in tables}
    fitted = {}
    for fit_t in fits.values():
        if id(fit_t) not in fitted:
            fitted[id(fit_t)] = (fit_calibrator(fit_t), quantile_map(fit_t),
                                 *cross_validated(fit_t, args.user_factor))
    rows, details = [], []
    for kind, (train, val) in tables.items():
        fit_t = fits[kind]
        cal, qmap, cv_outs, oof = fitted[id(fit_t)]
        mine = [i for i, u in enumerate(fit_t.units) if u.kind == train.units[0].kind]
        vo = variant_outputs(val, cal, qmap, args.user_factor)
        n_tr, n_va = len(set(train.groups)), len(set(val.groups))
        for k, label in VARIANTS.items():
            cv = protocol([fit_t.units[i] for i in mine], [cv_outs[k][i] for i in mine])
            rows.append([kind, label, f"validation ({n_va} pieces)",
                         *metric_cells(protocol(val.units, vo[k]))])
            rows.append([kind, label, f"train, 10-fold CV ({n_tr} pieces)", *metric_cells(cv)])
        if args.details:
            what = ("train scores and performances" if fit_t is not train else f"train {kind}")
            details.append(describe(cal, f"{kind}: calibrator fitted on all {len(fit_t.units)} {what} "
                                         f"({len(set(fit_t.groups))} pieces)"))
            details.append("- quantile map (model velocity -> pianists'): "
                           + ", ".join(f"{v}->{qmap[v]:.0f}" for v in range(30, 111, 10)))
            lines = ["| user factor | CV MSE | MAE | r | spread | level err | abs level err |",
                     "| --- | --- | --- | --- | --- | --- | --- |"]
            for f, m in factor_sweep(fit_t, oof, (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1),
                                     train.units[0].kind):
                lines.append(fmt_row([f"{f:.2f}", *metric_cells(m)]))
            details.append(f"(d) at several user factors, train CV ({kind}):\n" + "\n".join(lines))
    if args.write_calibration is not None and "scores" in tables:
        train = fits["scores"]  # the train scores, or (--pooled) with the train performances
        cal = fitted[id(train)][0]
        n_scores = sum(u.kind == "score" for u in train.units)
        n_perf = len(train.units) - n_scores
        what = (f"asap train split: {n_scores} scores" + (f" and {n_perf} performances" if n_perf else "")
                + f", {len(set(train.groups))} pieces")
        product = to_product(cal, args.user_factor, what)
        if "performances" in tables and fits["performances"] is not train:  # per kind: played input
            perf = fits["performances"]
            played = to_product(fitted[id(perf)][0], args.user_factor,
                                f"asap train split: {len(perf.units)} performances flattened to 64, "
                                f"{len(set(perf.groups))} pieces")
            product = replace(product, played=played)
        write_calibration(weights, args.write_calibration, product)
        print(f"wrote {args.write_calibration}", file=sys.stderr)
    print(f"Per-piece calibration of {weights.name}; metrics per performance, mean per piece, then "
          f"over pieces; user factor {args.user_factor:g}; "
          f"{'one pooled calibrator' if args.pooled else 'one calibrator per input kind'}")
    print()
    print(fmt_row(["input", "variant", "set", "MSE", "MAE", "r", "spread", "level err", "|level err|"]))
    print(fmt_row(["---"] * 9))
    for r in rows:
        print(fmt_row(r))
    for d in details:
        print()
        print(d)


if __name__ == "__main__":
    main()

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

The fitting itself (the network's runs, the summary features, the ridge regressions
and their selection, the product's calibration and writing it) is the package's
``autodynamics_cli/training/calibrate.py``, which ``autodyn calibrate`` runs to refit a
model's calibration; this study adds the variants, the metrics and the table. The model
runs once per file; its output is cached in ``--cache`` (one npz per file, keyed by the
files' contents and the weights' tensors), so reruns take seconds to a minute.
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
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autodynamics_cli.inference.model import Model, load_model  # noqa: E402
from autodynamics_cli.training.calibrate import (  # noqa: E402
    Calibrator,
    Source,
    Table,
    Unit,
    fit_calibrator,
    fold_of,
    make_table,
    performance_sources,
    run_units,
    score_sources,
    subset_table,
    tensors_digest,
    to_product,
    unit_cache_path,
    write_calibration,
)

SHARED = ROOT.parent / "shared" / "data"
T0 = time.time()


# ---------------------------------------------------------------- model runs, cached (the package's)


def progress(stage: str, done: int, total: int) -> None:
    print(f"  model: {done}/{total} {stage}, {time.time() - T0:.0f} s", file=sys.stderr, flush=True)


def load(weights: Path, device: str) -> Model:
    """The model the study runs: the numpy engine on a CPU, torch on a GPU."""
    return load_model(weights, device=device, engine="numpy" if device == "cpu" else "torch")


def score_units(data: Path, cache: Path, weights: Path, splits: set[str], device: str = "cpu") -> list[Unit]:
    """The network's output on every score of ``splits`` (cached), with each performer's velocities."""
    sources = score_sources(
        data / "asap-performances", data / "asap-scores", data / "asap-alignments", splits
    )
    return run_units(load(weights, device), sources, cache, progress)


def performance_units(
    data: Path,
    cache: Path,
    weights: Path,
    splits: set[str],
    per_piece: int | None,
    cached_train: bool = False,
    device: str = "cpu",
) -> list[Unit]:
    """The network's output on the performances (flattened to 64); ``per_piece``: at most K train
    performances per piece; ``cached_train``: only the train performances already cached."""
    sources: list[Source] = performance_sources(data / "asap-performances", splits)
    if per_piece is not None:  # a fixed subset of the train performances (validation: all)
        seen: dict[str, int] = defaultdict(int)
        kept = []
        for s in sources:
            if s.split == "validation" or seen[s.group] < per_piece:
                kept.append(s)
                seen[s.group] += 1
        sources = kept
    if cached_train:
        digest = tensors_digest(weights)
        sources = [s for s in sources if s.split != "train" or unit_cache_path(cache, s, digest).is_file()]
    return run_units(load(weights, device), sources, cache, progress)


def concat_tables(a: Table, b: Table) -> Table:
    return Table(
        a.units + b.units,
        np.vstack([a.X, b.X]),
        np.r_[a.level, b.level],
        np.r_[a.spread, b.spread],
        np.r_[a.weight, b.weight],
        np.r_[a.groups, b.groups],
    )


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
        out.append(
            (
                u.group,
                np.array(
                    [
                        (err**2).mean(),
                        np.abs(err).mean(),
                        r,
                        p.std() / y.std() if y.std() > 0 else np.nan,
                        lvl,
                        abs(lvl),
                    ]
                ),
            )
        )
    return out


def protocol(units: list[Unit], outputs: list[np.ndarray]) -> np.ndarray:
    """Metrics per performer, mean per piece, then over pieces (``evaluate.summarize``)."""
    by_piece = defaultdict(list)
    for u, v in zip(units, outputs, strict=True):
        for g, m in unit_metrics(u, v):
            by_piece[g].append(m)
    return np.nanmean([np.nanmean(ms, axis=0) for ms in by_piece.values()], axis=0)


def variant_outputs(
    t: Table, cal: Calibrator, qmap: np.ndarray, user_factor: float = 1.0
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
        us = [
            (u, remap(u.pred, oof["level"][i], oof["factor"][i] * f))
            for i, u in enumerate(t.units)
            if kind is None or u.kind == kind
        ]
        rows.append((f, protocol([u for u, _ in us], [v for _, v in us])))
    return rows


# ---------------------------------------------------------------- report


def fmt_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def metric_cells(m: np.ndarray) -> list[str]:
    return [f"{m[0]:.1f}", f"{m[1]:.2f}", f"{m[2]:.3f}", f"{m[3]:.2f}", f"{m[4]:+.1f}", f"{m[5]:.1f}"]


def describe(cal: Calibrator, label: str) -> str:
    lines = [f"### {label}"]
    for name, r, path in (
        ("level: pianist mean - model mean", cal.level, cal.level_path),
        ("spread: log(pianist std / model std)", cal.spread, cal.spread_path),
    ):
        icpt, slopes = r.coefficients()
        lines.append(
            f"- {name}: alpha {r.alpha:g}, intercept {icpt:+.4f}"
            + "".join(f", {k} {v:+.4f}" for k, v in slopes.items())
        )
        lines.append(
            "  - selection path (grouped 10-fold CV MSE of the target): "
            + "; ".join(f"{n} (alpha {a:g}): {e:.4g}" for n, a, e in path)
        )
    lines.append(f"- constant learned spread factor exp(mean log ratio): {cal.factor:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data",
        type=Path,
        default=SHARED,
        help="folder with asap-performances, asap-scores, asap-alignments (default: ../shared/data)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/piece_calibration"),
        help="model outputs, one npz per file (default: /tmp/piece_calibration)",
    )
    ap.add_argument("--model", default=None, help="weights (default: the bundled model)")
    ap.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where the model runs (cuda: the torch engine on a GPU)",
    )
    ap.add_argument("--inputs", choices=("scores", "performances", "both"), default="both")
    ap.add_argument(
        "--train-performances-per-piece",
        type=int,
        default=None,
        metavar="K",
        help="fit the performance-input calibrator on at most K performances of each "
        "train piece (default: all; the model runs on each once, then cached)",
    )
    ap.add_argument(
        "--cached-train-performances",
        action="store_true",
        help="fit on the train performances already in the cache only (no model runs for them)",
    )
    ap.add_argument(
        "--user-factor",
        type=float,
        default=1.0,
        help="multiplies the spread factor s in (b), (b'), (d), (d')",
    )
    ap.add_argument(
        "--pooled",
        action="store_true",
        help="one calibrator and quantile map for both inputs, fitted on the train "
        "scores and train performances together (default: one per input kind)",
    )
    ap.add_argument(
        "--details",
        action="store_true",
        help="also print the fitted coefficients, the CV paths and a user-factor sweep",
    )
    ap.add_argument(
        "--write-calibration",
        type=Path,
        default=None,
        metavar="OUT.safetensors",
        help="write a copy of the model with the score calibrator fitted on all train "
        "scores, at --user-factor, in its metadata (how the bundled model got its own)",
    )
    args = ap.parse_args(argv)

    from autodynamics_cli.model.registry import resolve

    weights = resolve(args.model)
    args.cache.mkdir(parents=True, exist_ok=True)
    splits = {"train", "validation"}
    kinds = []
    if args.inputs in ("scores", "both"):
        kinds.append(("scores", score_units(args.data, args.cache, weights, splits, args.device)))
    if args.inputs in ("performances", "both"):
        kinds.append(
            (
                "performances",
                performance_units(
                    args.data,
                    args.cache,
                    weights,
                    splits,
                    args.train_performances_per_piece,
                    args.cached_train_performances,
                    args.device,
                ),
            )
        )
    tables = {}
    for kind, units in kinds:
        t = make_table(units)
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
            fitted[id(fit_t)] = (
                fit_calibrator(fit_t),
                quantile_map(fit_t),
                *cross_validated(fit_t, args.user_factor),
            )
    rows, details = [], []
    for kind, (train, val) in tables.items():
        fit_t = fits[kind]
        cal, qmap, cv_outs, oof = fitted[id(fit_t)]
        mine = [i for i, u in enumerate(fit_t.units) if u.kind == train.units[0].kind]
        vo = variant_outputs(val, cal, qmap, args.user_factor)
        n_tr, n_va = len(set(train.groups)), len(set(val.groups))
        for k, label in VARIANTS.items():
            cv = protocol([fit_t.units[i] for i in mine], [cv_outs[k][i] for i in mine])
            rows.append(
                [kind, label, f"validation ({n_va} pieces)", *metric_cells(protocol(val.units, vo[k]))]
            )
            rows.append([kind, label, f"train, 10-fold CV ({n_tr} pieces)", *metric_cells(cv)])
        if args.details:
            what = "train scores and performances" if fit_t is not train else f"train {kind}"
            details.append(
                describe(
                    cal,
                    f"{kind}: calibrator fitted on all {len(fit_t.units)} {what} "
                    f"({len(set(fit_t.groups))} pieces)",
                )
            )
            details.append(
                "- quantile map (model velocity -> pianists'): "
                + ", ".join(f"{v}->{qmap[v]:.0f}" for v in range(30, 111, 10))
            )
            lines = [
                "| user factor | CV MSE | MAE | r | spread | level err | abs level err |",
                "| --- | --- | --- | --- | --- | --- | --- |",
            ]
            for f, m in factor_sweep(
                fit_t, oof, (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1), train.units[0].kind
            ):
                lines.append(fmt_row([f"{f:.2f}", *metric_cells(m)]))
            details.append(f"(d) at several user factors, train CV ({kind}):\n" + "\n".join(lines))
    if args.write_calibration is not None and "scores" in tables:
        train = fits["scores"]  # the train scores, or (--pooled) with the train performances
        cal = fitted[id(train)][0]
        n_scores = sum(u.kind == "score" for u in train.units)
        n_perf = len(train.units) - n_scores
        what = (
            f"asap train split: {n_scores} scores"
            + (f" and {n_perf} performances" if n_perf else "")
            + f", {len(set(train.groups))} pieces"
        )
        product = to_product(cal, args.user_factor, what)
        if "performances" in tables and fits["performances"] is not train:  # per kind: played input
            perf = fits["performances"]
            played = to_product(
                fitted[id(perf)][0],
                args.user_factor,
                f"asap train split: {len(perf.units)} performances flattened to 64, "
                f"{len(set(perf.groups))} pieces",
            )
            product = replace(product, played=played)
        write_calibration(weights, args.write_calibration, product)
        print(f"wrote {args.write_calibration}", file=sys.stderr)
    print(
        f"Per-piece calibration of {weights.name}; metrics per performance, mean per piece, then "
        f"over pieces; user factor {args.user_factor:g}; "
        f"{'one pooled calibrator' if args.pooled else 'one calibrator per input kind'}"
    )
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

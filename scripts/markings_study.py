"""What the MusicXML markings are worth on top of the shipped model (issue 23): a measured study.

For every ASAP score with a MusicXML file: the markings of each MIDI-score note
(``autodynamics_cli.musicxml``: dynamic in force, hairpins, accents, staccato, slurs,
fermatas, grace notes, tempo words), joined through the piece's ``xml_note_map.csv``.
The shipped default's velocities (network + piece calibration) on the MIDI score come
from ``piece_calibration.py``'s cache. A ridge regression on the markings predicts the
pianists' velocity minus the default's (each piece weighs 1), fitted on the train split;
reported per performance, mean per piece, on the validation pieces and in grouped
10-fold CV over the train pieces.

    python scripts/markings_study.py            # needs piece_calibration.py's cache first
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import piece_calibration as pc  # noqa: E402

from autodynamics_cli.midi.read import read_midi  # noqa: E402
from autodynamics_cli.model.registry import resolve  # noqa: E402
from autodynamics_cli.model.weights_file import read_checked_calibration  # noqa: E402
from autodynamics_cli.training.datasets import map_to_score_notes, musicxml_of  # noqa: E402
from autodynamics_cli.training.evaluate import compare_velocities, nan_mean  # noqa: E402

ALPHAS = (0.1, 1.0, 10.0, 100.0)


def piece_markings(score_path: Path, cache: Path) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """Markings per note of ``midi_score.mid`` (read_midi order; NaN rows: no MusicXML note)."""
    from autodynamics_cli.musicxml import MARKING_NAMES, read_musicxml

    found = musicxml_of(score_path)
    if found is None:
        return None
    xml, nmap = found
    key = hashlib.sha1(f"{xml.resolve()}|{xml.stat().st_mtime_ns}|v1".encode()).hexdigest()[:16]
    hit = cache / f"marks-{key}.npz"
    if hit.is_file():
        return np.load(hit)["m"], MARKING_NAMES
    try:
        s = read_musicxml(xml)
    except Exception as e:  # a reader bug must not stop the study: report it, skip the piece
        print(f"{xml}: {type(e).__name__}: {e}", file=sys.stderr)
        return None
    midi = read_midi(score_path)
    values, has = map_to_score_notes(s.note_id, s.markings, midi.notes, midi.data, nmap)
    m = np.where(has[:, None], values, np.nan).astype(np.float32)
    np.savez_compressed(hit, m=m)
    return m, MARKING_NAMES


def design(m: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Regression inputs per note: the markings, and hairpin position within a crescendo / diminuendo."""
    col = {n: i for i, n in enumerate(names)}
    x = np.nan_to_num(m.astype(np.float64))
    extra = [
        x[:, col["hairpin_position"]] * x[:, col["crescendo"]],
        x[:, col["hairpin_position"]] * x[:, col["diminuendo"]],
        np.log1p(np.maximum(x[:, col["since_dynamic"]], 0)),
    ]
    return np.column_stack([x, *extra])


def fit(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], alpha: float) -> np.ndarray:
    """Weighted ridge (intercept unpenalised) on (X, residual, weight) rows."""
    X = np.concatenate([r[0] for r in rows])
    y = np.concatenate([r[1] for r in rows])
    w = np.concatenate([r[2] for r in rows])
    Xa = np.column_stack([np.ones(len(X)), X])
    reg = alpha * np.eye(Xa.shape[1])
    reg[0, 0] = 0
    return np.linalg.solve(Xa.T @ (Xa * w[:, None]) + reg, Xa.T @ (w * y))


def predict(beta: np.ndarray, X: np.ndarray) -> np.ndarray:
    return beta[0] + X @ beta[1:]


METRICS = ("mse", "mae", "r", "spread", "level_error")


def metrics(outputs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]) -> list[float]:
    """outputs: piece -> [(velocity out, pianist, matched)]: ``autodyn eval``'s metrics per
    performance (``compare_velocities``), mean per piece, then over pieces."""
    per_piece = []
    for items in outputs.values():
        rows = [compare_velocities(v[h], t[h].astype(np.float64)) for v, t, h in items]
        per_piece.append([nan_mean([r[m] for r in rows]) for m in METRICS])
    return [nan_mean([p[k] for p in per_piece]) for k in range(len(METRICS))]


def scored(folds: list[tuple[list, np.ndarray]]) -> tuple[list[float], list[float]]:
    """The default's metrics and with the markings stage, over (items, ridge coefficients) pairs."""
    base, plus = defaultdict(list), defaultdict(list)
    for items, beta in folds:
        for u, c, X, has in items:
            v = np.clip(np.rint(c + np.where(has, predict(beta, X), 0.0)), 1, 127)
            for _, t, h in u.targets:
                if (h & has).sum() > 1:
                    base[u.group].append((c, t, h & has))
                    plus[u.group].append((v, t, h & has))
    return metrics(base), metrics(plus)


def row(label: str, alpha: float, metrics_pair: tuple[list[float], list[float]]) -> str:
    b, p = metrics_pair
    return (
        f"| {label} | {alpha:g} | "
        + " / ".join(f"{x:.3f}" for x in b)
        + " | "
        + " / ".join(f"{x:.3f}" for x in p)
        + " |"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=pc.SHARED)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/piece_calibration"))
    ap.add_argument("--marks-cache", type=Path, default=Path("/tmp/markings_cache"))
    args = ap.parse_args(argv)
    args.marks_cache.mkdir(parents=True, exist_ok=True)
    weights = resolve(None)
    cal = read_checked_calibration(weights)
    units = pc.score_units(args.data, args.cache, weights, {"train", "validation"})
    data = []  # (unit, default velocities, X, has markings)
    for u in units:
        got = piece_markings(Path(u.name), args.marks_cache)
        if got is None:
            continue
        m, names = got
        c = cal.apply(u.pred, u.onset, u.offset, u.pitch, u.velocity).astype(np.float64)
        data.append((u, c, design(m, names), ~np.isnan(m[:, 0])))
    print(f"{len(data)} of {len(units)} scores have MusicXML", file=sys.stderr)

    def rows_of(items):
        out = []
        for u, c, X, has in items:
            n_perf = max(1, sum(1 for _, _, h in u.targets if h.sum() > 1))
            for _, t, h in u.targets:
                sel = h & has
                if sel.sum() < 2:
                    continue
                out.append((X[sel], t[sel] - c[sel], np.full(sel.sum(), 1.0 / (sel.sum() * n_perf))))
        return out

    train = [d for d in data if d[0].split == "train"]
    val = [d for d in data if d[0].split == "validation"]
    folds = pc.fold_of(np.array([d[0].group for d in train]))
    print("| set | alpha | default MSE / MAE / r / spread / level | with markings |")
    print("| --- | --- | --- | --- |")
    n_train, n_val = len(set(d[0].group for d in train)), len(set(d[0].group for d in val))
    for alpha in ALPHAS:
        cv = [
            (
                [d for d, k in zip(train, folds, strict=True) if k == f],
                fit(rows_of([d for d, k in zip(train, folds, strict=True) if k != f]), alpha),
            )
            for f in np.unique(folds)
        ]
        print(row(f"train CV ({n_train} pieces)", alpha, scored(cv)))
        print(row(f"validation ({n_val} pieces)", alpha, scored([(val, fit(rows_of(train), alpha))])))
    beta = fit(rows_of(train), 10.0)
    from autodynamics_cli.musicxml import MARKING_NAMES

    labels = ["intercept", *MARKING_NAMES, "cresc_position", "dim_position", "log_since_dynamic"]
    print(
        "\ncoefficients (alpha 10): " + ", ".join(f"{n} {b:+.2f}" for n, b in zip(labels, beta, strict=True))
    )


if __name__ == "__main__":
    main()

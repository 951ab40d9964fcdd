"""Is model B really better than model A? A paired comparison of two ``autodyn eval --json`` files.

Run from the repository root::

    autodyn eval ... --model A.safetensors --json a.json
    autodyn eval ... --model B.safetensors --json b.json
    python scripts/compare_evals.py a.json b.json

Both files must judge the same performances (the same split and protocol). For
MSE, MAE and Pearson r it prints A, B, their difference (B minus A, averaged per
piece then over pieces, as ``autodyn eval`` does), a 95% bootstrap interval of
that difference over pieces, and on how many pieces B is better (pieces where
either lacks the metric are left out of all of these). With 18 validation
pieces, checkpoints of one run differ by two or three MSE: a difference whose
interval straddles zero is not evidence that B is better.

``--within A B`` compares two paths of one ``autodyn eval --scores --json``
report's MusicXML table instead (``midi``: the MIDI export, ``musicxml``: the
score read from MusicXML, ``with_score``: the MIDI export with ``--score``)::

    python scripts/compare_evals.py report.json --within midi musicxml

``--path P`` with two reports compares one path of their MusicXML tables, model A's
against model B's (e.g. both models from MusicXML)::

    python scripts/compare_evals.py a.json b.json --path musicxml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autodynamics_cli.training.evaluate import piece_means as eval_piece_means  # noqa: E402

METRICS = ("mse", "mae", "r")
PATH_PREFIX = {"musicxml": "", "midi": "midi_", "with_score": "with_score_"}  # eval's MusicXML table
LOWER_IS_BETTER = {"mse": True, "mae": True, "r": False}


def piece_means(report: dict) -> dict[str, dict[str, float]]:
    """Each piece's means, computed by ``autodyn eval``'s own code from the report's rows."""
    return eval_piece_means([SimpleNamespace(**p) for p in report["performances"]], METRICS)


def compare(a: dict, b: dict, resamples: int = 10_000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per metric: A, B, mean difference B - A over pieces, its 95% bootstrap interval, pieces better."""
    pa, pb = piece_means(a), piece_means(b)
    paths_a = sorted(p["path"] for p in a["performances"])
    paths_b = sorted(p["path"] for p in b["performances"])
    if paths_a != paths_b:
        raise ValueError("the two reports judge different performances; run both on the same split")
    pieces = sorted(pa)
    out = {}
    for m in METRICS:
        va = np.array([pa[g][m] for g in pieces])
        vb = np.array([pb[g][m] for g in pieces])
        ok = ~(np.isnan(va) | np.isnan(vb))
        d = (vb - va)[ok]
        if not len(d):
            raise ValueError(f"no piece has {m} in both reports")
        draws = np.random.default_rng(seed).integers(0, len(d), size=(resamples, len(d)))
        boot = d[draws].mean(axis=1)
        better = (d < 0) if LOWER_IS_BETTER[m] else (d > 0)
        out[m] = {
            "a": float(va[ok].mean()),
            "b": float(vb[ok].mean()),
            "diff": float(d.mean()),
            "low": float(np.percentile(boot, 2.5)),
            "high": float(np.percentile(boot, 97.5)),
            "better": int(better.sum()),
            "pieces": int(len(d)),
        }
    return out


def musicxml_paths(report: dict, paths: tuple[str, str], marked: bool = False) -> tuple[dict, dict]:
    """Two paths of a report's MusicXML table as reports of their own (metrics under plain names),
    on the performances both have (``with_score`` is missing where ``--score`` refused the score);
    ``marked``: only the scores with dynamics, hairpins or accents."""
    if not report.get("musicxml"):
        raise ValueError("the report has no MusicXML table (autodyn eval --scores, with the musicxml extra)")
    rows = [
        r
        for r in report["musicxml"]["performances"]
        if all(r[PATH_PREFIX[p] + "mse"] == r[PATH_PREFIX[p] + "mse"] for p in paths)  # not NaN
        and (r["markings"] or not marked)
    ]
    return tuple(
        {
            "performances": [
                {"path": r["path"], "group": r["group"], **{m: r[PATH_PREFIX[p] + m] for m in METRICS}}
                for r in rows
            ]
        }
        for p in paths
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("a", type=Path, help="eval JSON of model A (e.g. the shipped model)")
    p.add_argument("b", type=Path, nargs="?", help="eval JSON of model B (the candidate)")
    p.add_argument(
        "--within",
        nargs=2,
        choices=sorted(PATH_PREFIX),
        metavar=("A", "B"),
        help="compare two paths of A's MusicXML table: midi, musicxml, with_score",
    )
    p.add_argument(
        "--marked",
        action="store_true",
        help="with --within or --path: only the scores with dynamics, hairpins or accents",
    )
    p.add_argument(
        "--path",
        choices=sorted(PATH_PREFIX),
        help="with two reports: compare this path of their MusicXML tables (e.g. musicxml)",
    )
    p.add_argument("--resamples", type=int, default=10_000)
    args = p.parse_args(argv)
    if (args.b is None) == (args.within is None):
        p.error("give a second report, or --within A B")
    if args.path and args.within:
        p.error("--path compares two reports; --within two paths of one")
    if args.path:
        a, b = (
            musicxml_paths(json.loads(f.read_text()), (args.path, args.path), args.marked)[0]
            for f in (args.a, args.b)
        )
    elif args.within:
        a, b = musicxml_paths(json.loads(args.a.read_text()), tuple(args.within), args.marked)
    else:
        a, b = json.loads(args.a.read_text()), json.loads(args.b.read_text())
    result = compare(a, b, args.resamples)
    print(f"{'metric':6} {'A':>8} {'B':>8} {'B-A':>8} {'95% interval':>20} {'B better':>9}")
    for m, r in result.items():
        interval = f"[{r['low']:+.3f}, {r['high']:+.3f}]"
        print(
            f"{m:6} {r['a']:8.3f} {r['b']:8.3f} {r['diff']:+8.3f} {interval:>20} "
            f"{r['better']:>4}/{r['pieces']}"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

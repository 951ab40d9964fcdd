"""What the window hop and blending cost or give in quality: ``autodyn eval`` at several hops.

Run from the repository root::

    python scripts/hop_quality.py --data ../shared/data/asap-performances --max-seconds 30
    python scripts/hop_quality.py --scores ../shared/data/asap-scores \
        --alignments ../shared/data/asap-alignments --hops 64,128,192,256
    python scripts/hop_quality.py --scores ... --alignments ... --hops 128 --no-blend

A larger hop means fewer overlapping windows (hop 256 = 12.8 s: disjoint
windows, as in the paper), so less work per note, but notes near a window's
edge see less context. For each hop this runs the ``autodyn eval``
performance protocol (or, with ``--scores`` and ``--alignments``, the score
protocol) on the split and prints one JSON line: MSE, MAE, Pearson r (mean over
pieces), the constant-64 baseline and the seconds taken. ``--no-blend`` takes
each note from its most central window instead of blending a tagger's windows.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import autodynamics_cli.training.evaluate as E  # noqa: E402
from autodynamics_cli.inference.model import load_model  # noqa: E402
from autodynamics_cli.inference.predict import predict_velocities  # noqa: E402
from autodynamics_cli.training.datasets import list_aligned, list_dataset  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "asap-performances")
    p.add_argument("--split", default="validation")
    p.add_argument("--model", default="default")
    p.add_argument("--hops", default="128,192,256", help="comma-separated hops in 50 ms steps")
    p.add_argument("--max-seconds", type=float, default=None, help="score each performance's opening")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--scores", type=Path, default=None, help="score folder: the score protocol")
    p.add_argument("--alignments", type=Path, default=None)
    p.add_argument("--no-blend", action="store_true", help="each note from one window only")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, device="cpu", engine="torch")
    if args.scores:
        aligned = [e for e in list_aligned(args.data, args.scores, args.alignments) if e.split == args.split]
    else:
        entries = [e for e in list_dataset(args.data) if e.split == args.split]
    for hop in (int(h) for h in args.hops.split(",")):
        # evaluate() has no hop of its own: give it a predict_velocities with this one
        E.predict_velocities = functools.partial(predict_velocities, hop=hop, blend=not args.no_blend)
        t = time.perf_counter()
        if args.scores:
            s = E.summarize(E.evaluate_scores(model, aligned, args.max_seconds), E.SCORE_METRICS)
        else:
            s = E.summarize(E.evaluate(model, entries, max_seconds=args.max_seconds))
        row = {
            "hop": hop,
            "blend": not args.no_blend,
            "seconds": round(time.perf_counter() - t, 1),
            **{k: s[k] for k in ("mse", "mae", "r", "baseline_mse", "notes", "performances")},
        }
        print(json.dumps(row), flush=True)  # noqa: T201


if __name__ == "__main__":
    main()

"""Does ``--keep-dynamics`` keep loud sections louder than soft ones? (issue 8)

For a handful of ASAP score exports whose velocities step between dynamic
levels, this humanizes each with the bundled default model through the
library (``predict_velocities`` then ``humanize.controls.finalize``, as ``autodyn
humanize`` does) with and without ``--keep-dynamics``, and counts the loud/soft
section pairs of a file whose mean output velocities are in the right order.

Sections come from the input's velocity steps: time is cut into 1 s bins,
each bin's level is the most common input velocity of the notes starting in
it, runs of bins at one level make a section, and sections shorter than
``--min-seconds`` or with fewer than ``--min-notes`` notes (hairpins, accents,
transitions) are dropped. A section is loud at level >= 96 (f and louder in
these exports: f 96, ff 112, fff 126) and soft at level <= 49 (p 49, pp 33,
ppp 25). Also counted: all pairs of sections whose levels differ by at least
16 (one dynamic step). With the performances' alignments it also scores each
variant against what the pianists played (MSE, Pearson r).

    OMP_NUM_THREADS=1 python scripts/check_keep_dynamics.py --files 8
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from autodynamics_cli.humanize.controls import HumanizeOptions, finalize, has_dynamics
from autodynamics_cli.inference.model import load_model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.midi.smf import note_on_velocity_offsets

LOUD, SOFT, STEP = 96, 49, 16
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def sections(
    onset: np.ndarray, velocity: np.ndarray, min_seconds: float, min_notes: int
) -> list[tuple[int, np.ndarray]]:
    """(level, note indices) of each run of 1 s bins at one input level."""
    bins = np.floor(onset - onset.min()).astype(int)
    levels = {b: Counter(velocity[bins == b].tolist()).most_common(1)[0][0] for b in np.unique(bins)}
    out: list[tuple[int, np.ndarray]] = []
    run: list[int] = []
    for b in sorted(levels):
        if run and (levels[b] != levels[run[-1]] or b != run[-1] + 1):
            out.append((levels[run[0]], np.array(run)))
            run = []
        run.append(b)
    if run:
        out.append((levels[run[0]], np.array(run)))
    kept = []
    for level, run_bins in out:
        idx = np.flatnonzero(np.isin(bins, run_bins))
        if len(run_bins) >= min_seconds and len(idx) >= min_notes:
            kept.append((level, idx))
    return kept


def ordered_pairs(secs: list[tuple[int, np.ndarray]], vel: np.ndarray) -> tuple[int, int, int, int]:
    """(loud>soft correct, loud/soft pairs, step pairs correct, step pairs)."""
    means = [(level, vel[idx].mean()) for level, idx in secs]
    ls_ok = ls_n = st_ok = st_n = 0
    for la, ma in means:
        for lb, mb in means:
            if la >= LOUD and lb <= SOFT:
                ls_n += 1
                ls_ok += ma > mb
            if la - lb >= STEP:
                st_n += 1
                st_ok += ma > mb
    return ls_ok, ls_n, st_ok, st_n


def score_index(data: bytes) -> dict[int, int]:
    """Byte offset of each sounding note_on's velocity -> its index in file order (the alignments')."""
    offsets = [o for track in note_on_velocity_offsets(data) for o in track if data[o] > 0]
    return {o: i for i, o in enumerate(offsets)}


def against_performances(
    score_rel: str, data: bytes, byte_offset: np.ndarray, variants: dict[str, np.ndarray], align_dir: Path
) -> dict[str, list[float]]:
    """MSE and r of each variant against every aligned performance of this score."""
    prefix = str(Path(score_rel).parent).replace("/", "__") + "__"
    index = score_index(data)
    pos = np.array([index[int(o)] for o in byte_offset])
    res: dict[str, list[float]] = {}
    for f in sorted(align_dir.glob(prefix + "*.csv")):
        if f.name[len(prefix) :].count("__"):  # a deeper piece folder sharing the prefix
            continue
        rows = list(csv.DictReader(f.open()))
        target = {int(r["score_note_index"]): int(r["perf_velocity"]) for r in rows}
        have = np.array([p in target for p in pos])
        if have.sum() < 50:
            continue
        truth = np.array([target[p] for p in pos[have]], dtype=float)
        for name, v in variants.items():
            x = v[have].astype(float)
            res.setdefault(f"{name} mse", []).append(float(((x - truth) ** 2).mean()))
            r = float(np.corrcoef(x, truth)[0, 1]) if x.std() > 0 else 0.0
            res.setdefault(f"{name} r", []).append(r)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scores", type=Path, default=DATA / "asap-scores")
    ap.add_argument("--alignments", type=Path, default=DATA / "asap-alignments")
    ap.add_argument("--files", type=int, default=8, help="how many stepped scores")
    ap.add_argument("--split", default="validation", help="'validation', 'train' or 'all'")
    ap.add_argument("--max-notes", type=int, default=3000, help="skip longer scores (speed)")
    ap.add_argument("--min-seconds", type=float, default=4)
    ap.add_argument("--min-notes", type=int, default=16)
    ap.add_argument("--model", default="default", help="weights to check (default: the bundled model)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = list(csv.DictReader((args.scores / "metadata.csv").open()))
    rows = [r for r in rows if args.split == "all" or r["split"] == args.split]
    stepped = []
    for r in rows:
        s = read_midi(args.scores / r["midi_filename"])
        if len(s.notes) <= args.max_notes and has_dynamics(s.notes.velocity, s.notes.onset):
            stepped.append((r["midi_filename"], s))
    picks = [stepped[i] for i in np.linspace(0, len(stepped) - 1, min(args.files, len(stepped))).astype(int)]
    print(
        f"{len(stepped)} stepped scores of {len(rows)} ({args.split}, <= {args.max_notes} notes); "
        f"checking {len(picks)}"
    )
    model = load_model(args.model, device="cpu", engine="torch")
    reads = model.cfg.input_velocity  # the model can read notated dynamics itself
    totals = Counter()
    perf: dict[str, list[float]] = {}
    print(f"{'score':48} {'notes':>5} {'secs':>4}  loud>soft: input  model   keep | step pairs: model   keep")
    for rel, s in picks:
        n = s.notes
        (pred,) = predict_velocities(model, [n], read_dynamics=False)
        variants = {
            "input": n.velocity,
            "model": finalize(n.velocity, pred, n.onset, HumanizeOptions(keep_dynamics=False), keep=False),
            "keep": finalize(n.velocity, pred, n.onset, HumanizeOptions(keep_dynamics=True), keep=True),
        }
        if reads:  # the model reading the notated velocities, alone and with the envelope on top
            (pred_r,) = predict_velocities(model, [n])
            variants["reads"] = pred_r
            variants["reads+env"] = finalize(
                n.velocity, pred_r, n.onset, HumanizeOptions(keep_dynamics=True), keep=True
            )
        secs = sections(n.onset, n.velocity, args.min_seconds, args.min_notes)
        counts = {k: ordered_pairs(secs, v) for k, v in variants.items()}
        for k, (a, b, c, d) in counts.items():
            totals.update({f"{k} ls ok": a, f"{k} ls": b, f"{k} st ok": c, f"{k} st": d})
        ci, cm, ck = counts["input"], counts["model"], counts["keep"]
        print(
            f"{rel[:48]:48} {len(n):5} {len(secs):4}  {ci[0]:>4}/{ci[1]:<4} {cm[0]:>4}/{cm[1]:<4} "
            f"{ck[0]:>4}/{ck[1]:<4} | {cm[2]:>4}/{cm[3]:<4} {ck[2]:>4}/{ck[3]:<4}"
        )
        if args.alignments.is_dir():
            for k, v in against_performances(rel, s.data, n.byte_offset, variants, args.alignments).items():
                perf.setdefault(k, []).append(float(np.mean(v)))
    names = ("input", "model", "keep", "reads", "reads+env") if reads else ("input", "model", "keep")
    for k in names:
        print(
            f"{k:9} loud>soft pairs ordered: {totals[k + ' ls ok']}/{totals[k + ' ls']}; "
            f"pairs one step or more apart: {totals[k + ' st ok']}/{totals[k + ' st']}"
        )
    if perf:
        print(f"against the pianists ({len(perf['input mse'])} scores, mean over their performances):")
        for k in names:
            print(f"  {k:9} MSE {np.mean(perf[k + ' mse']):6.1f}  r {np.mean(perf[k + ' r']):.3f}")
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

"""Where does a model's error on score input lie? (issues 3 and 4)

For each validation score of ASAP with two or more performers, the model
humanizes the score once (the shipping inference). Two reports follow.

**Time scales.** The consensus residual of a note is the mean velocity of the
piece's performers (on notes every performer played) minus the model's
prediction, centred per piece: what pianists agree on that the model misses.
Its variance is printed after a moving mean over windows of several widths, so
the variance that varies faster than a width is the total minus that row.
Error slower than a model window (12.8 s) would need longer context; faster
error needs better local modelling.

**Metric position.** From the score's ticks and time signatures, each note is a
downbeat, another beat, a half beat or other. The mean of the per-performance
centred residual in each class, and the between-class variance: the most that
a per-class offset could remove from the MSE.

    OMP_NUM_THREADS=2 python scripts/error_analysis.py --model weights/default.safetensors
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
from autodynamics_cli.training.datasets import aligned_targets, list_aligned, read_alignment, score_order

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WIDTHS_S = (1.0, 3.0, 6.4, 12.8, 30.0, 60.0)
CLASSES = ("downbeat", "other beat", "half beat", "other")


def metric_classes(path: Path) -> np.ndarray:
    """Class of each note_on (velocity > 0), track by track in event order (score_note_index)."""
    mf = mido.MidiFile(path)
    beat_ticks = mf.ticks_per_beat
    signatures, ticks = [], []
    for track in mf.tracks:
        t = 0
        for m in track:
            t += m.time
            if m.type == "time_signature":
                signatures.append((t, m.numerator, m.denominator))
            elif m.type == "note_on" and m.velocity > 0:
                ticks.append(t)
    signatures = sorted(set(signatures)) or [(0, 4, 4)]
    starts = np.array([s[0] for s in signatures])
    out = np.empty(len(ticks), dtype=np.int64)
    for i, t in enumerate(ticks):
        t0, num, den = signatures[max(0, int(np.searchsorted(starts, t, side="right")) - 1)]
        beat = beat_ticks * 4 // den
        pos = (t - t0) % (beat * num)
        out[i] = 0 if pos == 0 else 1 if pos % beat == 0 else 2 if pos % max(1, beat // 2) == 0 else 3
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="weights file (default: the bundled model)")
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--split", default="validation")
    args = ap.parse_args()
    model = load_model(args.model, device="cpu", engine="torch")
    entries = [
        e
        for e in list_aligned(
            args.data / "asap-performances", args.data / "asap-scores", args.data / "asap-alignments"
        )
        if e.split == args.split
    ]
    by_score = defaultdict(list)
    for e in entries:
        by_score[str(e.score)].append(e)
    smoothed: dict[float, list[float]] = defaultdict(list)
    total: list[float] = []
    by_class: dict[int, list[np.ndarray]] = defaultdict(list)
    for score, group in by_score.items():
        midi = read_midi(score)
        notes = midi.notes
        (pred,) = predict_velocities(model, [notes])
        targets = [
            aligned_targets(notes, midi.data, read_alignment(e.alignment), str(e.alignment)) for e in group
        ]
        order = score_order(notes, midi.data)
        cls = np.full(len(notes), -1)
        known = order >= 0
        cls[order[known]] = metric_classes(Path(score))[: len(order)][known]
        for t, h in targets:
            r = (t - pred).astype(np.float64)
            r -= r[h].mean()
            for c in range(len(CLASSES)):
                by_class[c].append(r[h & (cls == c)])
        if len(group) < 2:
            continue
        every = np.all([h for _, h in targets], axis=0)
        consensus = np.mean([t for t, _ in targets], axis=0)[every] - pred[every]
        onset = notes.onset[every]
        o = np.argsort(onset, kind="stable")
        onset, consensus = onset[o], consensus[o] - consensus.mean()
        total.append(float(consensus.var()))
        csum = np.r_[0.0, np.cumsum(consensus)]
        for w in WIDTHS_S:
            lo = np.searchsorted(onset, onset - w / 2)
            hi = np.searchsorted(onset, onset + w / 2, side="right")
            smoothed[w].append(float(((csum[hi] - csum[lo]) / (hi - lo)).var()))
    print(
        f"time scales: {len(total)} pieces with two or more performers; consensus residual "
        f"variance {np.mean(total):.1f} (mean over pieces)"
    )
    for w in WIDTHS_S:
        print(f"  after a moving mean over {w:5.1f} s: {np.mean(smoothed[w]):6.1f}")
    every_note = np.concatenate([np.concatenate(v) for v in by_class.values()])
    between = 0.0
    print(
        f"metric position: {len(every_note):,} matched notes, centred residual variance "
        f"{every_note.var():.1f}"
    )
    for c, name in enumerate(CLASSES):
        v = np.concatenate(by_class[c])
        between += len(v) * v.mean() ** 2
        print(f"  {name:10s} {len(v):8,} notes  mean residual {v.mean():+6.2f}  variance {v.var():6.1f}")
    print(f"  between-class variance (the most a per-class offset removes): {between / len(every_note):.2f}")


if __name__ == "__main__":
    main()

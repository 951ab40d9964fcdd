"""Does a marking that says louder play louder? Mean velocity under each written dynamic.

For every validation score with MusicXML (the ASAP layout), humanized from the MusicXML as
``autodyn humanize`` does (the model's piece calibration included unless --no-calibration),
the mean predicted velocity of the notes under each constant dynamic mark (pp, p, mp, mf,
f, ff; the mark in force, from the score's markings), next to the pianists' mean on the
same notes (every aligned performance of the piece). Means are taken per piece, then over
the pieces that have the mark. The second table counts, over pieces, the neighbouring
pairs of marks (p < mf, say, both in one piece) that come out in the wrong order.

Run from the repository root (needs the [musicxml] extra and ../shared)::

    python scripts/marking_levels.py --data ../shared/data/asap-performances \\
        --scores ../shared/data/asap-scores --alignments ../shared/data/asap-alignments
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autodynamics_cli.formats.readers import read_input  # noqa: E402
from autodynamics_cli.inference.model import load_model  # noqa: E402
from autodynamics_cli.inference.predict import predict_velocities  # noqa: E402
from autodynamics_cli.musicxml.dynamics import VELOCITY  # noqa: E402
from autodynamics_cli.training.datasets import (  # noqa: E402
    aligned_targets,
    list_aligned,
    map_to_score_notes,
    musicxml_of,
    read_alignment,
)
from autodynamics_cli.training.evaluate import by_score  # noqa: E402

MARKS = ("pp", "p", "mp", "mf", "f", "ff")


def piece_levels(model, score: str, group: list) -> dict[str, tuple[float, float, int]]:
    """Per mark in force: (mean predicted, mean performed, notes) on the piece's aligned notes."""
    found = musicxml_of(score)
    assert found is not None
    played = read_input(found[0])
    xml = played.score
    assert xml is not None and played.markings is not None
    (pred,) = predict_velocities(model, [played.midi.notes], markings=[played.markings])
    level = np.rint(xml.markings[:, xml.marking_names.index("dynamic")] * 127).astype(int)
    unknown = xml.markings[:, xml.marking_names.index("dynamic_unknown")] > 0.5
    midi = read_input(score).midi
    on_score, mapped = map_to_score_notes(
        xml.note_id, np.stack([pred, level, unknown], 1), midi.notes, midi.data, found[1]
    )
    performed, count = np.zeros(len(midi.notes)), np.zeros(len(midi.notes))
    for e in group:
        target, hit = aligned_targets(midi.notes, midi.data, read_alignment(e.alignment), str(e.alignment))
        performed[hit] += target[hit]
        count[hit] += 1
    sel = mapped & (count > 0) & (on_score[:, 2] < 0.5)
    out = {}
    for mark in MARKS:
        m = sel & (on_score[:, 1] == VELOCITY[mark])
        if m.sum() >= 8:  # a mark on a handful of notes says little
            out[mark] = (float(on_score[m, 0].mean()), float((performed[m] / count[m]).mean()), int(m.sum()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--scores", required=True)
    ap.add_argument("--alignments", required=True)
    ap.add_argument("--split", default="validation")
    ap.add_argument("--model", default=None)
    ap.add_argument("--no-calibration", action="store_true")
    args = ap.parse_args()
    model = load_model(args.model)
    if args.no_calibration:
        model = model.uncalibrated()
    entries = [e for e in list_aligned(args.data, args.scores, args.alignments) if e.split == args.split]
    pieces = {s: g for s, g in by_score(entries).items() if musicxml_of(s) is not None}
    levels = {}
    for score, group in pieces.items():
        levels[score] = piece_levels(model, score, group)
        print(f"read {Path(score).parent.relative_to(args.scores)}", file=sys.stderr)
    print(f"\n{args.split}: {len(levels)} MusicXML scores; mean per piece, then over pieces with the mark")
    print(f"{'mark':>5} {'pieces':>6} {'notes':>7} {'predicted':>9} {'performed':>9}")
    for mark in MARKS:
        rows = [lv[mark] for lv in levels.values() if mark in lv]
        if rows:
            pred, perf, n = zip(*rows, strict=True)
            print(f"{mark:>5} {len(rows):>6} {sum(n):>7} {np.mean(pred):>9.1f} {np.mean(perf):>9.1f}")
    wrong: dict[str, list[int]] = defaultdict(
        lambda: [0, 0, 0]
    )  # pair -> [pieces, model wrong, pianists wrong]
    for lv in levels.values():
        present = [m for m in MARKS if m in lv]
        for soft, loud in zip(present, present[1:], strict=False):
            w = wrong[f"{soft} < {loud}"]
            w[0] += 1
            w[1] += lv[soft][0] >= lv[loud][0]
            w[2] += lv[soft][1] >= lv[loud][1]
    print(f"\n{'pair':>9} {'pieces':>6} {'model out of order':>18} {'pianists out of order':>21}")
    for pair, (n, model_wrong, perf_wrong) in sorted(
        wrong.items(), key=lambda kv: MARKS.index(kv[0].split()[0])
    ):
        print(f"{pair:>9} {n:>6} {model_wrong:>18} {perf_wrong:>21}")
    print("\nout of order per piece:")
    for score, lv in levels.items():
        present = [m for m in MARKS if m in lv]
        bad = [f"{a}<{b}" for a, b in zip(present, present[1:], strict=False) if lv[a][0] >= lv[b][0]]
        if bad:
            shown = ", ".join(f"{m} {lv[m][0]:.1f}/{lv[m][1]:.1f}" for m in present)
            where = Path(score).parent.relative_to(args.scores)
            print(f"  {where}: {' '.join(bad)}  ({shown}; predicted/performed)")


if __name__ == "__main__":
    main()

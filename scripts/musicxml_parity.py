"""Does autodyn's MusicXML reader read scores as partitura did? (needs ``pip install partitura``)

Reads each score with ``autodynamics_cli.musicxml.read`` and with the partitura-based
reader autodyn used before (``scripts/partitura_reader.py``) and compares what the model
sees: per part the notes (onset, duration, pitch, staff, grace, articulations, fermata,
slurs, note ids and tied ids), the marks, ``<sound dynamics>``, instruments; the tempo map,
time signatures and length. Prints one line per score that differs, then the count of
identical scores and both readers' total read time.

    python scripts/musicxml_parity.py                        # the ASAP scores (xml_score.mxl)
    python scripts/musicxml_parity.py path/to/*.musicxml --made-up-ids
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import partitura_reader as old  # noqa: E402

from autodynamics_cli.musicxml import read as new  # noqa: E402

FIELDS = ("onset", "duration", "pitch", "staff", "grace", "fermata", "slur_start", "slur_end")


def _order(part, ids: bool) -> np.ndarray:
    """Notes by onset, pitch, then everything compared (ids, where they are the file's own)."""
    keys = [part.note_id.astype(str)] if ids else [getattr(part, f) for f in reversed(FIELDS[3:])]
    return np.lexsort((*keys, part.duration.round(6), part.pitch, part.onset.round(6)))


def _marks(part) -> list:
    return sorted(
        (
            (m.kind, m.text, round(m.start, 5), None if m.end is None else round(m.end, 5), m.staff)
            for m in part.marks
        ),
        key=str,
    )


def compare(a, b, ids: bool = True) -> list[str]:
    """What differs between two ``ScoreNotes``; ``ids``: compare note ids too."""
    if len(a.parts) != len(b.parts):
        return [f"parts {len(a.parts)} vs {len(b.parts)}"]
    diffs = []
    for i, (pa, pb) in enumerate(zip(a.parts, b.parts, strict=True)):
        if len(pa) != len(pb):
            diffs.append(f"part {i}: {len(pa)} notes vs {len(pb)}")
            continue
        oa, ob = _order(pa, ids), _order(pb, ids)
        for f in FIELDS:
            x, y = getattr(pa, f)[oa], getattr(pb, f)[ob]
            bad = ~np.isclose(x, y, atol=1e-6) if x.dtype.kind == "f" else x != y
            if bad.any():
                diffs.append(f"part {i}: {f} of {int(bad.sum())} notes")
        if [pa.articulations[k] for k in oa] != [pb.articulations[k] for k in ob]:
            diffs.append(f"part {i}: articulations")
        if ids and (
            list(pa.note_id[oa]) != list(pb.note_id[ob])
            or [pa.tied_ids[k] for k in oa] != [pb.tied_ids[k] for k in ob]
        ):
            diffs.append(f"part {i}: note ids")
        if _marks(pa) != _marks(pb):
            diffs.append(f"part {i}: marks")
        if [(round(t, 5), v) for t, v in pa.sound_dynamics] != [
            (round(t, 5), v) for t, v in pb.sound_dynamics
        ]:
            diffs.append(f"part {i}: <sound dynamics>")
        if (
            not np.allclose(np.reshape(sorted(pa.slurs), -1), np.reshape(sorted(pb.slurs), -1))
            if len(pa.slurs) == len(pb.slurs)
            else True
        ):
            diffs.append(f"part {i}: slurs")
        if (pa.name, pa.n_staves, pa.program, pa.channel) != (pb.name, pb.n_staves, pb.program, pb.channel):
            diffs.append(f"part {i}: name, staves or instrument")
    if [(round(t, 5), round(q, 4)) for t, q in a.tempos] != [(round(t, 5), round(q, 4)) for t, q in b.tempos]:
        diffs.append("tempo map")
    if [(round(t, 5), n, d) for t, n, d in a.time_signatures] != [
        (round(t, 5), n, d) for t, n, d in b.time_signatures
    ]:
        diffs.append("time signatures")
    if abs(a.end - b.end) > 1e-6:
        diffs.append(f"length {a.end} vs {b.end} quarters")
    return diffs


def _read(reader, path: Path):
    t = time.perf_counter()
    try:
        return reader.load_score(path), time.perf_counter() - t
    except Exception as e:  # noqa: BLE001 - reported per score
        return e, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scores", nargs="*", type=Path, help="default: every xml_score.mxl under --asap")
    ap.add_argument("--asap", type=Path, default=Path("../shared/data/asap-scores"))
    ap.add_argument("--made-up-ids", action="store_true", help="ignore note ids (scores without their own)")
    args = ap.parse_args()
    scores = args.scores or sorted(args.asap.rglob("xml_score.mxl"))
    warnings.simplefilter("ignore")
    new.load_score(scores[0])  # imports and the words grammar, not counted
    old.load_score(scores[0])
    same, t_old, t_new = 0, 0.0, 0.0
    for path in scores:
        (a, ta), (b, tb) = _read(old, path), _read(new, path)
        t_old, t_new = t_old + ta, t_new + tb
        if isinstance(a, Exception) or isinstance(b, Exception):
            say = lambda x: f"{type(x).__name__}: {x}" if isinstance(x, Exception) else "read"  # noqa: E731
            print(f"{path}: partitura {say(a)} | autodyn {say(b)}")
            continue
        diffs = compare(a, b, ids=not args.made_up_ids)
        if a.warnings != b.warnings:
            diffs.append(f"warnings {a.warnings} vs {b.warnings}")
        if diffs:
            print(f"{path}: {'; '.join(diffs)}")
        else:
            same += 1
    print(f"identical: {same} of {len(scores)}; read time: partitura {t_old:.1f} s, autodyn {t_new:.1f} s")


if __name__ == "__main__":
    main()

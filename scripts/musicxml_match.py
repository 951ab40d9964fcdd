"""How well autodyn's MusicXML reader plays ASAP's scores: compare with each piece's MIDI score.

For every ``asap-scores/**/xml_score.mxl`` the reader builds a MIDI file; each
note of the piece's ``midi_score.mid`` (ASAP's export of the same score) counts
as matched when the reader played the same pitch at the same onset in quarter
notes (ticks / ticks per beat of each file, within ``--tol`` quarters), each
note matched at most once, where each 16-quarter block of the MIDI score may be
shifted as a whole (``aligned_matched``): several MIDI scores were made from
another encoding of the piece (a pickup bar of another length, a repeat taken
or not), which moves everything after it; the strict share (no shift) is
printed too. ASAP's MIDI scores take the repeats as the performers played them,
which is not always what the score says: a piece is read with repeats unfolded
and, when that matches less than ``TARGET``, also without (each bar once), and
the better reading counts. The share is also given over the pieces where the repeats
agree (the reader plays within 2% as many notes as the MIDI score), as issue 23 counts it.

``--score-option`` instead joins each MIDI score to its MusicXML as ``autodyn humanize
song.mid --score song.musicxml`` does (``musicxml/align.py``: no block shifts) and counts
the pieces it accepts.

    python scripts/musicxml_match.py [--data ../shared/data/asap-scores] [--limit N]
    python scripts/musicxml_match.py --score-option
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import mido
import numpy as np

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.musicxml import read_musicxml

TARGET = 0.95
AGREE = 0.02  # the reader plays within 2% as many notes as the MIDI score: the same repeats taken


def midi_score_notes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(pitch, onset in quarters) of every note_on with a velocity of ``path``."""
    mid = mido.MidiFile(path)
    pitch, onset = [], []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0 and msg.channel != 9:
                pitch.append(msg.note)
                onset.append(tick / mid.ticks_per_beat)
    return np.asarray(pitch, dtype=np.int64), np.asarray(onset, dtype=np.float64)


def matched(p_ref: np.ndarray, q_ref: np.ndarray, p: np.ndarray, q: np.ndarray, tol: float) -> int:
    """How many reference notes have an unused note of the same pitch within ``tol`` quarters."""
    ours: dict[int, list[float]] = defaultdict(list)
    for pi, qi in zip(p.tolist(), q.tolist(), strict=True):
        ours[pi].append(qi)
    refs: dict[int, list[float]] = defaultdict(list)
    for pi, qi in zip(p_ref.tolist(), q_ref.tolist(), strict=True):
        refs[pi].append(qi)
    n = 0
    for pi, rq in refs.items():
        a, b = sorted(rq), sorted(ours.get(pi, []))
        i = j = 0
        while i < len(a) and j < len(b):
            if abs(a[i] - b[j]) <= tol:
                n, i, j = n + 1, i + 1, j + 1
            elif a[i] < b[j]:
                i += 1
            else:
                j += 1
    return n


def aligned_matched(
    p_ref: np.ndarray,
    q_ref: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    tol: float,
    block: float = 16.0,
    reach: float = 8.0,
) -> int:
    """Like ``matched``, but each ``block`` quarters of the reference may be shifted as a whole.

    The shift of a block is the most common onset difference between its notes and the
    reader's notes of the same pitch (within ``reach`` quarters), kept only when it lines
    up more notes than no shift. This forgives a different pickup bar or a repeat taken
    differently (everything after it moves) and still asks every note to sit at the right
    place among its neighbours. Each reader note is used once.
    """
    import bisect

    order = np.argsort(q, kind="stable")
    lists: dict[int, tuple[list[float], list[int]]] = {}
    for j in order.tolist():
        qs, js = lists.setdefault(int(p[j]), ([], []))
        qs.append(float(q[j]))
        js.append(j)
    used = np.zeros(len(p), dtype=bool)
    hits = 0
    top = float(q_ref.max()) if len(q_ref) else 0.0
    for b0 in np.arange(0.0, top + block, block):
        sel = np.flatnonzero((q_ref >= b0) & (q_ref < b0 + block))
        if not len(sel):
            continue
        diffs = []
        for pi in np.unique(p_ref[sel]).tolist():
            qs = np.asarray(lists.get(pi, ([], []))[0])
            qs = qs[(qs > b0 - reach) & (qs < b0 + block + reach)]
            diffs.append((qs[None, :] - q_ref[sel][p_ref[sel] == pi][:, None]).ravel())
        d = np.round(np.concatenate(diffs) * 48) / 48 if diffs else np.zeros(0)
        values, counts = np.unique(d[np.abs(d) <= reach], return_counts=True)
        shift = 0.0
        if len(values) and counts.max() > counts[values == 0].sum():
            shift = float(values[np.argmax(counts)])
        for i in sel[np.argsort(q_ref[sel], kind="stable")].tolist():
            qs, js = lists.get(int(p_ref[i]), ([], []))
            target = float(q_ref[i]) + shift
            k = bisect.bisect_left(qs, target - tol)
            while k < len(qs) and qs[k] <= target + tol:
                if not used[js[k]]:
                    used[js[k]] = True
                    hits += 1
                    break
                k += 1
    return hits


def read(xml: Path, unfold: bool) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(pitch, onset quarters, seconds to read, duration in seconds) of the reader's MIDI file."""
    t0 = time.perf_counter()
    score = read_musicxml(xml, unfold=unfold)
    seconds = time.perf_counter() - t0
    notes = read_midi(xml, score.midi)
    return notes.notes.pitch, score.onset_quarter, seconds, notes.duration


def score_option(files: list[Path], root: Path) -> int:
    """How many MIDI scores ``humanize --score`` accepts with their MusicXML, and each one's share."""
    from autodynamics_cli.musicxml.align import MIN_MATCHED, join_score

    shares = []
    for xml in files:
        try:
            match, _ = join_score(read_midi(xml.parent / "midi_score.mid"), xml)
        except AutodynError as e:
            print(f"FAILED {e}")
            continue
        shares.append(float((match >= 0).mean()) if len(match) else 1.0)
        print(f"{shares[-1]:7.2%}  {xml.parent.relative_to(root)}", flush=True)
    s = np.asarray(shares)
    print(
        f"\n--score accepts {(s >= MIN_MATCHED).sum()} of {len(files)} MIDI scores (at least "
        f"{MIN_MATCHED:.0%} of the notes found); median share {np.median(s):.1%}"
    )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/asap-scores"
    )
    ap.add_argument("--limit", type=int, default=0, help="only the first N pieces")
    ap.add_argument("--tol", type=float, default=0.02, help="onset tolerance in quarters")
    ap.add_argument(
        "--score-option",
        action="store_true",
        help="join each MIDI score to its MusicXML as humanize --score does",
    )
    args = ap.parse_args()
    files = sorted(args.data.glob("**/xml_score.mxl"))[: args.limit or None]
    if not files:
        print(f"no xml_score.mxl under {args.data}")
        return 1
    t0 = time.perf_counter()
    import partitura  # noqa: F401  (its import time is paid once, not per file)

    print(f"importing partitura: {time.perf_counter() - t0:.2f} s; {len(files)} scores")
    if args.score_option:
        return score_option(files, args.data)
    total_ref = total_hit = total_strict = 0
    agree_ref = agree_hit = agree_files = 0
    failures: list[str] = []
    times: list[tuple[float, float, str]] = []
    below: list[str] = []
    for xml in files:
        name = str(xml.parent.relative_to(args.data))
        p_ref, q_ref = midi_score_notes(xml.parent / "midi_score.mid")
        best = None
        for unfold in (True, False):
            try:
                p, q, sec, dur = read(xml, unfold=unfold)
            except AutodynError as e:
                failures.append(str(e))
                break
            except Exception as e:  # a bug: report it and go on with the other scores
                failures.append(f"{name}: internal error {type(e).__name__}: {e}")
                break
            if unfold:
                times.append((sec, dur, name))
            got = (
                aligned_matched(p_ref, q_ref, p, q, args.tol),
                matched(p_ref, q_ref, p, q, args.tol),
                "unfolded" if unfold else "each bar once",
                len(p),
            )
            best = got if best is None or got[:2] > best[:2] else best
            if best[0] >= TARGET * len(p_ref):
                break
        if best is None:
            print(f"FAILED {failures[-1]}")
            continue
        hit, strict, mode, n = best
        share = hit / max(len(p_ref), 1)
        total_ref, total_hit, total_strict = total_ref + len(p_ref), total_hit + hit, total_strict + strict
        if abs(n - len(p_ref)) <= AGREE * len(p_ref):  # as many notes played: the repeats agree
            agree_ref, agree_hit = agree_ref + len(p_ref), agree_hit + hit
            agree_files += 1
        if share < TARGET:
            below.append(f"{name} ({share:.1%})")
        print(
            f"{share:7.2%}  {name}: {hit}/{len(p_ref)} MIDI-score notes matched ({strict} at the very same "
            f"onset), reader {n} notes ({mode}), {times[-1][0]:.2f} s for {times[-1][1] / 60:.1f} min"
        )
    print(f"\nscores: {len(files)}, read: {len(times)}, failed: {len(failures)}")
    for f in failures:
        print(f"  failed: {f}")
    print(
        f"overall: {total_hit}/{total_ref} = {total_hit / max(total_ref, 1):.2%} of the MIDI scores' notes "
        f"matched with blocks aligned ({total_strict / max(total_ref, 1):.2%} at the very same onset); "
        f"{len(below)} pieces under {TARGET:.0%}: {', '.join(below) or '-'}"
    )
    print(
        f"where the repeats agree (the reader plays within {AGREE:.0%} as many notes as the MIDI "
        f"score; {agree_files} pieces): {agree_hit}/{agree_ref} = {agree_hit / max(agree_ref, 1):.2%}"
    )
    if times:
        sec = np.asarray([t[0] for t in times])
        near5 = min(times, key=lambda t: abs(t[1] - 300))
        print(
            f"time per score (MusicXML -> MIDI bytes, unfolded): mean {sec.mean():.2f} s, median "
            f"{np.median(sec):.2f} s, max {sec.max():.2f} s; {near5[2]} ({near5[1] / 60:.1f} min): "
            f"{near5[0]:.2f} s"
        )
    return 0 if not failures and total_hit >= TARGET * total_ref else 1


if __name__ == "__main__":
    sys.exit(main())

"""A user's own MIDI export and its MusicXML score: which score note each MIDI note is.

``autodyn humanize song.mid --score song.musicxml`` writes velocities into the
user's MIDI file byte for byte, but reads the markings that only the MusicXML
has. The two files' notes are joined as ASAP's note maps join theirs: by
onset in quarter notes (ticks over ticks per beat in the MIDI file, the
played position in the score) and pitch, each note used once. Notation
programs export a score's repeats in their own way, so the score is played
with its repeats taken and, if that matches less, with each bar once; and a
pickup bar may start at another time, so one constant shift of the whole file
is allowed. Too few matches means another score or another version: refused.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.midi.notes import MidiScore
from autodynamics_cli.midi.smf import note_on_ticks, read_header
from autodynamics_cli.musicxml.markings import MARKING_NAMES
from autodynamics_cli.musicxml.score import MusicXmlScore, read_musicxml

TOLERANCE = 0.02  # quarters: a 1/50 quarter apart is still the same onset
MIN_MATCHED = 0.9  # share of the MIDI file's notes that must be found in the score


class ScoreMismatchError(AutodynError):
    """The MIDI file is not an export of the given score."""


def onset_quarters(score: MidiScore) -> np.ndarray:
    """Each note's onset in quarter notes from the file's start (ticks / ticks per beat)."""
    ticks = note_on_ticks(score.data)
    division = read_header(score.data).division
    return np.asarray([ticks[int(o)] for o in score.notes.byte_offset], dtype=np.float64) / division


def match_notes(
    pitch: np.ndarray,
    quarter: np.ndarray,
    ref_pitch: np.ndarray,
    ref_quarter: np.ndarray,
    tol: float = TOLERANCE,
) -> np.ndarray:
    """For each note (``pitch``, ``quarter``), the index of a reference note of the same pitch at
    the same onset (within ``tol`` quarters), or -1; each reference note is used once."""
    out = np.full(len(pitch), -1, dtype=np.int64)
    ours: dict[int, list[int]] = defaultdict(list)
    refs: dict[int, list[int]] = defaultdict(list)
    for i in np.argsort(quarter, kind="stable").tolist():
        ours[int(pitch[i])].append(i)
    for j in np.argsort(ref_quarter, kind="stable").tolist():
        refs[int(ref_pitch[j])].append(j)
    for p, mine in ours.items():
        theirs = refs.get(p, [])
        a = b = 0
        while a < len(mine) and b < len(theirs):
            d = quarter[mine[a]] - ref_quarter[theirs[b]]
            if abs(d) <= tol:
                out[mine[a]] = theirs[b]
                a, b = a + 1, b + 1
            elif d < 0:
                a += 1
            else:
                b += 1
    return out


def best_match(
    pitch: np.ndarray, quarter: np.ndarray, ref_pitch: np.ndarray, ref_quarter: np.ndarray
) -> np.ndarray:
    """``match_notes`` as is, or with the whole file shifted so that the first onsets agree."""
    best = match_notes(pitch, quarter, ref_pitch, ref_quarter)
    if len(quarter) and len(ref_quarter):
        shift = float(ref_quarter.min() - quarter.min())
        if abs(shift) > TOLERANCE:
            shifted = match_notes(pitch, quarter + shift, ref_pitch, ref_quarter)
            if (shifted >= 0).sum() > (best >= 0).sum():
                best = shifted
    return best


def join_score(
    midi: MidiScore, score_path: str | Path, unfolded: MusicXmlScore | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For each note of ``midi``, the index of the same note among the score's played notes (or -1),
    and the score's markings per played note; the better of the score read with and without repeats.

    ``unfolded``: the score already read with its repeats taken (``read_musicxml``), not read again.
    """
    from autodynamics_cli.midi.read import read_midi

    quarter = onset_quarters(midi)
    pitch = midi.notes.pitch
    best: tuple[np.ndarray, np.ndarray] | None = None
    for unfold in (True, False):
        xml = unfolded if unfold and unfolded is not None else read_musicxml(score_path, unfold=unfold)
        played = read_midi(str(score_path), xml.midi).notes
        match = best_match(pitch, quarter, played.pitch, xml.onset_quarter)
        if best is None or (match >= 0).sum() > (best[0] >= 0).sum():
            best = (match, xml.markings)
        if not len(match) or (match >= 0).mean() >= MIN_MATCHED:
            break
    assert best is not None  # the first pass always sets it
    return best


def markings_for_midi(
    midi: MidiScore, score_path: str | Path, name: str, unfolded: MusicXmlScore | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The markings (``markings.py``) of each note of ``midi`` (the file ``name``) from its MusicXML score.

    A row of NaN: a note the score does not have. Raises ``ScoreMismatchError``
    when under ``MIN_MATCHED`` of the notes are found, ``MusicXmlError`` when
    the score cannot be read. ``unfolded``: as for ``join_score``.
    """
    match, markings = join_score(midi, score_path, unfolded)
    share = float((match >= 0).mean()) if len(match) else 1.0
    if share < MIN_MATCHED:
        raise ScoreMismatchError(
            f"{name}: does not match {score_path}: only {share:.0%} of its notes have the same "
            f"pitch at the same onset in the score (another score, or repeats or a pickup exported "
            f"differently); humanize the MusicXML itself, or the MIDI file without --score"
        )
    out = np.full((len(match), markings.shape[1]), np.nan, dtype=np.float32)
    out[match >= 0] = markings[match[match >= 0]]
    return out, MARKING_NAMES

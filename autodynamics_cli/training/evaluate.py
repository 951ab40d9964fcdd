"""Measure a model against real pianists: the ``autodyn eval`` protocols.

Performance input (``evaluate``): each performance with every velocity set to
64 (``flattened``: a constant input carries no dynamics, so a model that reads
input velocities reads none) goes through the normal inference path. Per performance: MSE, MAE and Pearson r
against the real velocities, spread and level error (``compare_velocities``), and the same for the
constant-64 baseline.

Score input (``evaluate_scores``): each score is humanized once, as a user
would (its notated velocities are input), and compared with every performer
of that piece on the notes the alignment matched; beside it the score's own
velocities, constant 64, another performer (each against each other, on their
common notes) and the mean of the other performers.

Both average per performance, then per piece, then over pieces. Spread is the std of the
predicted velocities over the std of the performed ones on the same notes (1: as varied as the
pianist; NaN, and skipped, where the pianist's are all equal); level error the predicted mean
minus the performed mean, reported signed (``level_error``) and as its absolute value
(``abs_level_error``, averaged the same way), since signed errors cancel across pieces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, replace

import numpy as np

from autodynamics_cli.encoding.note_features import velocities_vary
from autodynamics_cli.formats.readers import MidiWithScoreReader, read_input
from autodynamics_cli.inference.model import Model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.midi.notes import Notes, subset
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.training.datasets import (
    AlignedEntry,
    Entry,
    aligned_targets,
    map_to_score_notes,
    musicxml_of,
    read_alignment,
)

BASELINE_VELOCITY = 64
SHAPE = ("spread", "level_error", "abs_level_error")  # measured beside MSE, MAE and r
METRICS = ("mse", "mae", "r", "baseline_mse", "baseline_mae", *SHAPE, *(f"baseline_{m}" for m in SHAPE))
NAN = float("nan")


@dataclass
class PerformanceScore:
    path: str
    group: str
    notes: int
    mse: float
    mae: float
    r: float
    baseline_mse: float
    baseline_mae: float
    _: KW_ONLY
    spread: float = NAN  # NaN: not measured, or the performed velocities are all equal
    level_error: float = NAN
    abs_level_error: float = NAN
    baseline_spread: float = NAN
    baseline_level_error: float = NAN
    baseline_abs_level_error: float = NAN


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def spread_and_level(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """Std of ``pred`` over std of ``true`` (NaN where ``true`` is constant), and mean of ``pred``
    minus mean of ``true``: whether velocities vary as much as the pianist's, and sit as loud."""
    pred, true = pred.astype(np.float64), true.astype(np.float64)
    if not len(true):
        return NAN, NAN
    sd = true.std()
    return (float(pred.std() / sd) if sd > 0 else NAN), float(pred.mean() - true.mean())


def compare_velocities(pred: np.ndarray, true: np.ndarray, prefix: str = "") -> dict[str, float]:
    """MSE, MAE, Pearson r, spread, level error and its absolute value of ``pred`` against ``true``
    (the same notes), keys prefixed with ``prefix``; all NaN when there are no notes."""
    if not len(true):
        return {prefix + m: NAN for m in ("mse", "mae", "r", *SHAPE)}
    err = pred.astype(np.float64) - true
    spread, level = spread_and_level(pred, true)
    return {
        prefix + "mse": float((err**2).mean()),
        prefix + "mae": float(np.abs(err).mean()),
        prefix + "r": pearson(pred, true),
        prefix + "spread": spread,
        prefix + "level_error": level,
        prefix + "abs_level_error": abs(level),
    }


def score_velocities(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """The model's metrics and the constant-64 baseline's (no r: a constant has none)."""
    base = compare_velocities(np.full(len(true), float(BASELINE_VELOCITY)), true, "baseline_")
    del base["baseline_r"]
    return {**compare_velocities(pred, true), **base}


def clip_notes(notes: Notes, max_seconds: float | None) -> Notes:
    if max_seconds is None:
        return notes
    if len(notes) == 0:
        return notes
    return subset(notes, notes.onset < notes.onset.min() + max_seconds)


def load_notes(entries: list[Entry], max_seconds: float | None = None) -> list[Notes]:
    """Notes of each performance; ``max_seconds`` keeps only its opening (quick checks)."""
    return [clip_notes(read_midi(e.path).notes, max_seconds) for e in entries]


def flattened(notes: Notes) -> Notes:
    """The notes with every velocity at 64: what the model may see of a performance.

    A model that reads input velocities would otherwise read the answers.
    """
    return replace(notes, velocity=np.full(len(notes), BASELINE_VELOCITY, dtype=notes.velocity.dtype))


def evaluate(
    model: Model,
    entries: list[Entry],
    notes: list[Notes] | None = None,
    max_seconds: float | None = None,
    files_per_batch: int = 8,
    on_done: Callable[[PerformanceScore], None] | None = None,
) -> list[PerformanceScore]:
    """Score every performance (``notes``: already loaded, else read from the files)."""
    results = []
    for i in range(0, len(entries), files_per_batch):
        group = entries[i : i + files_per_batch]
        group_notes = notes[i : i + files_per_batch] if notes is not None else load_notes(group, max_seconds)
        preds = predict_velocities(model, [flattened(n) for n in group_notes])
        for e, n, p in zip(group, group_notes, preds, strict=True):
            if len(n) == 0:
                continue
            s = PerformanceScore(str(e.path), e.group, len(n), **score_velocities(p, n.velocity))
            results.append(s)
            if on_done:
                on_done(s)
    return results


def nan_mean(values: list[float]) -> float:
    """Mean of the values that are not NaN (NaN if none is)."""
    v = [x for x in values if not np.isnan(x)]
    return float(np.mean(v)) if v else float("nan")


def piece_means(scores: list, metrics: tuple[str, ...] = METRICS) -> dict[str, dict[str, float]]:
    """Each piece's mean of each metric over its performances (NaN rows skipped)."""
    by_piece: dict[str, list] = defaultdict(list)
    for s in scores:
        by_piece[s.group].append(s)
    return {g: {m: nan_mean([getattr(s, m) for s in ss]) for m in metrics} for g, ss in by_piece.items()}


def summarize(scores: list, metrics: tuple[str, ...] = METRICS) -> dict[str, float]:
    """Average per piece, then over pieces (metrics that are NaN for a row are skipped)."""
    pieces = piece_means(scores, metrics)
    out = {m: nan_mean([p[m] for p in pieces.values()]) for m in metrics}
    out.update(performances=len(scores), pieces=len(pieces), notes=sum(s.notes for s in scores))
    return out


SCORE_METRICS = (
    "mse",
    "mae",
    "r",
    "notated_mse",
    "notated_r",
    "baseline_mse",
    "baseline_mae",
    "other_mse",
    "other_r",
    "others_mean_mse",
    "others_mean_r",
    *SHAPE,
    "notated_mae",
    *(f"{row}_{m}" for row in ("notated", "baseline") for m in SHAPE),
    "other_mae",
    *(f"other_{m}" for m in SHAPE),
    "others_mean_mae",
    *(f"others_mean_{m}" for m in SHAPE),
)


@dataclass
class ScoreInputScore(PerformanceScore):
    """One performance judged on score input, with the reference rows beside the model."""

    notated_mse: float
    notated_r: float
    other_mse: float  # another performer of the piece, averaged over the others (NaN: none)
    other_r: float
    others_mean_mse: float  # the mean velocity of the other performers (NaN: none)
    others_mean_r: float
    notated_dynamics: bool = False  # the score's velocities are not all equal
    _: KW_ONLY
    notated_mae: float = NAN
    notated_spread: float = NAN
    notated_level_error: float = NAN
    notated_abs_level_error: float = NAN
    other_mae: float = NAN
    other_spread: float = NAN
    other_level_error: float = NAN
    other_abs_level_error: float = NAN
    others_mean_mae: float = NAN
    others_mean_spread: float = NAN
    others_mean_level_error: float = NAN
    others_mean_abs_level_error: float = NAN


def by_score(entries: list[AlignedEntry]) -> dict[str, list[AlignedEntry]]:
    """The entries of each score (its performers), in first-seen order: each score runs once."""
    groups: dict[str, list[AlignedEntry]] = defaultdict(list)
    for e in entries:
        groups[str(e.score)].append(e)
    return groups


def evaluate_scores(
    model: Model,
    entries: list[AlignedEntry],
    max_seconds: float | None = None,
    on_done: Callable[[ScoreInputScore], None] | None = None,
    read_dynamics: bool = True,
    read_staves: bool = True,
) -> list[ScoreInputScore]:
    """Humanize each score once and compare it with each of its performers.

    ``read_dynamics`` off hides the notated velocities from the model,
    ``read_staves`` off the staves (to measure what reading them is worth, or
    how the model does on a one-track export).
    """
    results = []
    for score, group in by_score(entries).items():
        midi = read_input(score).midi
        notes = midi.notes
        keep = np.ones(len(notes), dtype=bool)
        if max_seconds is not None and len(notes):
            keep = notes.onset < notes.onset.min() + max_seconds
        targets = [
            aligned_targets(notes, midi.data, read_alignment(e.alignment), str(e.alignment)) for e in group
        ]
        clipped = clip_notes(notes, max_seconds)
        (pred,) = predict_velocities(model, [clipped], read_dynamics=read_dynamics, read_staves=read_staves)
        full_pred = np.zeros(len(notes), dtype=np.int64)
        full_pred[keep] = pred
        for k, (e, (target, has)) in enumerate(zip(group, targets, strict=True)):
            sel = has & keep
            if not sel.any():
                continue
            true = target[sel]
            model_s = score_velocities(full_pred[sel], true)
            notated = compare_velocities(notes.velocity[sel], true, "notated_")
            others = [(t, h) for j, (t, h) in enumerate(targets) if j != k]
            # another performer: each other one against this one on their common notes, averaged
            pairs = [
                compare_velocities(t[sel & h], target[sel & h], "other_")
                for t, h in others
                if (sel & h).any()
            ]
            other = (
                {m: nan_mean([p[m] for p in pairs]) for m in pairs[0]}
                if pairs
                else compare_velocities(target[:0], target[:0], "other_")
            )
            others_mean = compare_velocities(target[:0], target[:0], "others_mean_")
            if others:
                count = sum(h.astype(np.float64) for _, h in others)
                total = sum(np.where(h, t, 0).astype(np.float64) for t, h in others)
                assert isinstance(count, np.ndarray) and isinstance(total, np.ndarray)  # others: not empty
                common = sel & (count > 0)
                if common.any():
                    mean_other = total[common] / count[common]
                    others_mean = compare_velocities(mean_other, target[common], "others_mean_")
            s = ScoreInputScore(
                str(e.performance),
                e.group,
                int(sel.sum()),
                **model_s,
                **notated,
                **other,
                **others_mean,
                notated_dynamics=velocities_vary(notes.velocity),
            )
            results.append(s)
            if on_done:
                on_done(s)
    return results


MUSICXML_METRICS = (
    "mse",
    "mae",
    "r",
    *SHAPE,
    *(f"{path}_{m}" for path in ("midi", "with_score") for m in ("mse", "mae", "r", *SHAPE)),
)
MARKED = ("crescendo", "diminuendo", "accent", "marcato", "sforzando", "fp")  # besides dynamics words


@dataclass
class MusicXmlInputScore:
    """One performance judged on a score read from its MusicXML, beside the MIDI export, same notes."""

    path: str
    group: str
    notes: int
    mse: float
    mae: float
    r: float
    spread: float
    level_error: float
    abs_level_error: float
    midi_mse: float
    midi_mae: float
    midi_r: float
    midi_spread: float
    midi_level_error: float
    midi_abs_level_error: float
    markings: bool  # the score has dynamics words, hairpins or accents
    # the MIDI export with the MusicXML's markings (humanize --score); NaN where the two are refused as
    # not matching
    with_score_mse: float = NAN
    with_score_mae: float = NAN
    with_score_r: float = NAN
    with_score_spread: float = NAN
    with_score_level_error: float = NAN
    with_score_abs_level_error: float = NAN


def has_markings(markings: np.ndarray, names: tuple[str, ...]) -> bool:
    """Whether a score carries dynamics, hairpins or accents (Bach's scores in ASAP carry none)."""
    col = {n: i for i, n in enumerate(names)}
    known = (markings[:, col["dynamic_unknown"]] == 0).any()
    return bool(known or (markings[:, [col[n] for n in MARKED]] > 0).any())


def evaluate_musicxml(
    model: Model,
    entries: list[AlignedEntry],
    on_done: Callable[[MusicXmlInputScore], None] | None = None,
    read_dynamics: bool = True,
    read_staves: bool = True,
) -> list[MusicXmlInputScore]:
    """Each score with a MusicXML file humanized from the MusicXML, from the MIDI export, and from
    the MIDI export reading the MusicXML's markings (``humanize --score``, where the two match),
    compared with each performer on the notes the paths and the alignment share
    (``datasets.map_to_score_notes``). Scores without MusicXML are left out. ``read_dynamics``
    and ``read_staves`` as for ``evaluate_scores``, on every path."""
    from autodynamics_cli.musicxml.align import ScoreMismatchError

    results = []
    for score, group in by_score(entries).items():
        found = musicxml_of(score)
        if found is None:
            continue
        played = read_input(found[0])
        xml = played.score
        assert xml is not None  # a MusicXML input keeps its score
        midi = read_input(score).midi
        try:
            joined = MidiWithScoreReader(found[0], xml).join(midi, str(score)).markings  # read once
        except ScoreMismatchError:
            joined = None
        pred_xml, pred_midi, pred_joined = predict_velocities(
            model,
            [played.midi.notes, midi.notes, midi.notes],
            markings=[played.markings, None, joined],
            read_dynamics=read_dynamics,
            read_staves=read_staves,
        )
        on_score, mapped = map_to_score_notes(xml.note_id, pred_xml, midi.notes, midi.data, found[1])
        marked = has_markings(xml.markings, xml.marking_names)
        for e in group:
            alignment = read_alignment(e.alignment)
            target, hit = aligned_targets(midi.notes, midi.data, alignment, str(e.alignment))
            sel = hit & mapped
            if sel.sum() < 2:
                continue
            a = compare_velocities(on_score[sel], target[sel])
            b = compare_velocities(pred_midi[sel], target[sel], "midi_")
            c = {} if joined is None else compare_velocities(pred_joined[sel], target[sel], "with_score_")
            s = MusicXmlInputScore(
                str(e.performance), e.group, int(sel.sum()), **a, **b, **c, markings=marked
            )
            results.append(s)
            if on_done:
                on_done(s)
    return results

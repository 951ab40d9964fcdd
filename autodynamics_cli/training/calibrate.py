"""Fitting a model's piece calibration (``model/calibration.py``) and writing it into its weights file.

The network runs once, uncalibrated, on every train-split MIDI score (each aligned to
its performers, ``datasets.list_aligned``), on every train score's MusicXML with its
markings (the ``musicxml`` calibration; its notes meet the performers through the
MIDI export's note map, ``datasets.map_to_score_notes``) and on every train performance
flattened to velocity 64 (input whose chords were played: the ``played`` calibration). Per file,
the whole-piece summary (``summary_features``) and two targets: the pianists' mean
velocity minus the network's mean, and log(pianist std / network std), each the mean
over the file's performers on the notes they matched. Two ridge regressions per input
kind, features and penalty chosen by forward selection on grouped k-fold
cross-validation over the train pieces (all files of a piece in one fold; each piece
weighs 1). Nothing is tuned on validation. ``to_product`` turns the fit into the
``PieceCalibration`` the product applies, ``write_calibration`` stores it.

The network's output per file can be cached (one npz per file, keyed by the files'
contents and the weights' tensors), so a refit after the first run takes seconds.
Numpy only; the library prints nothing (progress goes to an optional callback).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.model.calibration import (
    FEATURES,
    METADATA_KEY,
    Linear,
    PieceCalibration,
    summary_features,
)

if TYPE_CHECKING:
    from typing import Any

    from autodynamics_cli.inference.model import Model
    from autodynamics_cli.midi.notes import Notes

CACHE_VERSION = "2"
FILES_PER_BATCH = 8
RUN_WEIGHTS = "best.safetensors"  # a training run folder's weights

# progress: (stage, done, total); stages "scores", "performances" (files the network ran on or
# found in the cache) and "fit" (regressions fitted)
OnProgress = Callable[[str, int, int], None]


# ---------------------------------------------------------------- the files, and the network on them


@dataclass(frozen=True)
class Source:
    """One input file to run the network on, with where its truth comes from."""

    kind: str  # "score", "musicxml" or "performance"
    path: Path
    split: str
    group: str  # the piece: each piece weighs 1 in the fit
    performers: tuple[tuple[Path, Path], ...] = ()  # a score's (performance, alignment csv) pairs
    export: Path | None = None  # a MusicXML score's MIDI export, which the alignments count in
    note_map: Path | None = None  # and its note map (``xml_note_map.csv``)

    def files(self) -> tuple[Path, ...]:
        """Every file the unit is read from (they key its cache entry)."""
        extra = tuple(p for p in (self.export, self.note_map) if p is not None)
        return (self.path, *extra, *(a for _, a in self.performers))


@dataclass
class Unit:
    """One input file as the calibration sees it: the network's output and, per performer, the truth."""

    kind: str
    name: str
    split: str
    group: str
    onset: np.ndarray
    offset: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray  # the input velocities the network read (a performance's: flattened)
    pred: np.ndarray  # the network's velocity per note (uncalibrated)
    targets: list[tuple[str, np.ndarray, np.ndarray]]  # (performance, velocity per note, matched)


def score_sources(
    performances: Path | list[Path], scores: Path, alignments: Path, splits: Iterable[str] = ("train",)
) -> list[Source]:
    """Every score of the splits with its aligned performers (the ASAP layout), sorted by path."""
    from autodynamics_cli.training.datasets import list_aligned

    keep = set(splits)
    by_score: dict[str, list] = defaultdict(list)
    for e in list_aligned(performances, scores, alignments):
        if e.split in keep:
            by_score[str(e.score)].append(e)
    return [
        Source(
            "score",
            Path(score),
            group[0].split,
            group[0].group,
            tuple((e.performance, e.alignment) for e in group),
        )
        for score, group in sorted(by_score.items())
    ]


def musicxml_sources(
    performances: Path | list[Path], scores: Path, alignments: Path, splits: Iterable[str] = ("train",)
) -> list[Source]:
    """The scores of ``score_sources`` that have a MusicXML file and note map, read from the MusicXML."""
    from autodynamics_cli.training.datasets import musicxml_of

    out = []
    for s in score_sources(performances, scores, alignments, splits):
        if (found := musicxml_of(s.path)) is not None:
            out.append(replace(s, kind="musicxml", path=found[0], export=s.path, note_map=found[1]))
    return out


def performance_sources(performances: Path | list[Path], splits: Iterable[str] = ("train",)) -> list[Source]:
    """Every performance of the splits (each recording once), in the datasets' order."""
    from autodynamics_cli.training.datasets import list_sources

    keep = set(splits)
    return [
        Source("performance", e.path, e.split, e.group) for e in list_sources(performances) if e.split in keep
    ]


def resolve_weights(run_or_weights: str | Path) -> Path:
    """A training run folder's ``best.safetensors``, else the weights file a model name resolves to."""
    from autodynamics_cli.model.registry import resolve

    path = Path(run_or_weights).expanduser()
    if path.is_dir() and (path / RUN_WEIGHTS).is_file():
        return path / RUN_WEIGHTS
    return resolve(str(run_or_weights))


def tensors_digest(weights: Path) -> str:
    """A digest of a weights file's tensors (not its metadata, which the calibration rewrites)."""
    data = Path(weights).read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = {k: v for k, v in json.loads(data[8 : 8 + n]).items() if k != "__metadata__"}
    return hashlib.sha1(json.dumps(header, sort_keys=True).encode() + data[8 + n :]).hexdigest()


def unit_cache_path(cache: Path, source: Source, weights_digest: str) -> Path:
    """Where the network's output on ``source`` is cached: keyed by the files' contents and the weights."""
    h = hashlib.sha1(f"{CACHE_VERSION}|{source.kind}|{weights_digest}".encode())
    for p in source.files():
        h.update(b"|" + hashlib.sha1(Path(p).read_bytes()).digest())
    return Path(cache) / f"{source.kind}-{h.hexdigest()[:24]}.npz"


def read_source(source: Source) -> tuple[Notes, np.ndarray | None, Callable[[np.ndarray], Unit]]:
    """The notes the network reads, their MusicXML markings (None: none), and ``finish(pred) -> Unit``."""
    from autodynamics_cli.midi.read import read_midi
    from autodynamics_cli.training.datasets import aligned_targets, read_alignment, read_notes_cached
    from autodynamics_cli.training.evaluate import flattened

    if source.kind == "score":
        midi = read_midi(source.path)
        notes = midi.notes
        targets = [
            (str(perf), *aligned_targets(notes, midi.data, read_alignment(a), str(a)))
            for perf, a in source.performers
        ]
        return notes, None, lambda pred: make_unit(source, notes, notes.velocity, targets, pred)
    if source.kind == "musicxml":
        return read_musicxml_source(source)
    notes = read_notes_cached(source.path)  # parsed once for training runs too
    flat = flattened(notes)  # as ``autodyn eval`` reads a performance
    targets = [(str(source.path), notes.velocity, np.ones(len(notes), dtype=bool))]
    return flat, None, lambda pred: make_unit(source, notes, flat.velocity, targets, pred)


def read_musicxml_source(source: Source) -> tuple[Notes, np.ndarray | None, Callable[[np.ndarray], Unit]]:
    """A MusicXML score as a user's file is read (its notes as played, with markings), each
    performer's velocity moved onto its notes through the MIDI export's note map."""
    from autodynamics_cli.formats.readers import read_input
    from autodynamics_cli.midi.read import read_midi
    from autodynamics_cli.training.datasets import aligned_targets, map_to_score_notes, read_alignment

    if source.export is None or source.note_map is None:
        raise ValueError(f"{source.path}: a MusicXML source needs its MIDI export and note map")
    played = read_input(source.path)
    assert played.score is not None  # a MusicXML input keeps its score
    notes, midi = played.midi.notes, read_midi(source.export)
    index, mapped = map_to_score_notes(
        played.score.note_id, np.arange(len(notes)), midi.notes, midi.data, source.note_map
    )
    targets = []
    for perf, a in source.performers:
        target, hit = aligned_targets(midi.notes, midi.data, read_alignment(a), str(a))
        sel = hit & mapped
        t, has = np.zeros(len(notes), dtype=np.int64), np.zeros(len(notes), dtype=bool)
        t[index[sel]], has[index[sel]] = target[sel], True
        targets.append((str(perf), t, has))

    return notes, played.markings, lambda pred: make_unit(source, notes, notes.velocity, targets, pred)


def make_unit(source: Source, notes: Notes, velocity: np.ndarray, targets: list, pred: np.ndarray) -> Unit:
    """The unit of ``source``: the notes the network read, the input velocities, the truth, its output."""
    return Unit(
        source.kind,
        str(source.path),
        source.split,
        source.group,
        notes.onset,
        notes.offset,
        notes.pitch,
        velocity,
        np.asarray(pred),
        targets,
    )


def save_unit(path: Path, u: Unit) -> None:
    """The unit's arrays as one npz, written atomically (its name and piece come from its source)."""
    # Any: mypy would match ndarray values against savez's allow_pickle (a bool)
    arrays: dict[str, Any] = dict(
        onset=u.onset,
        offset=u.offset,
        pitch=u.pitch.astype(np.int16),
        velocity=u.velocity.astype(np.int16),
        pred=u.pred.astype(np.int16),
        n_targets=np.array(len(u.targets)),
    )
    for k, (_, t, h) in enumerate(u.targets):
        arrays[f"target{k}"], arrays[f"has{k}"] = t.astype(np.int16), h
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_unit(path: Path, source: Source) -> Unit:
    """A cached unit of ``source``."""
    with np.load(path) as z:
        names = [str(p) for p, _ in source.performers] if source.performers else [str(source.path)]
        if int(z["n_targets"]) != len(names):
            raise ValueError(f"{path}: {int(z['n_targets'])} performers cached, {len(names)} listed")
        targets = [(n, z[f"target{k}"].astype(np.int64), z[f"has{k}"]) for k, n in enumerate(names)]
        return Unit(
            source.kind,
            str(source.path),
            source.split,
            source.group,
            z["onset"],
            z["offset"],
            z["pitch"].astype(np.int64),
            z["velocity"].astype(np.int64),
            z["pred"].astype(np.int64),
            targets,
        )


def run_units(
    model: Model,
    sources: list[Source],
    cache: Path | None = None,
    on_progress: OnProgress | None = None,
    files_per_batch: int = FILES_PER_BATCH,
) -> list[Unit]:
    """The network's own velocities (``calibrate=False``) on every source, with the truth, in order.

    ``cache``: a folder of npz files, read where a file was run before and written for the others
    (needs ``model.path``, whose tensors key the entries).
    """
    from autodynamics_cli.inference.predict import predict_velocities

    stage = f"{sources[0].kind}s" if sources else "files"
    paths: list[Path | None] = [None] * len(sources)
    if cache is not None:
        if model.path is None:
            raise ValueError("a cache needs a model loaded from a weights file")
        digest = tensors_digest(model.path)
        paths = [unit_cache_path(cache, s, digest) for s in sources]
    units: list[Unit | None] = [None] * len(sources)
    for i, (s, p) in enumerate(zip(sources, paths, strict=True)):
        if p is not None and p.is_file():
            try:
                units[i] = load_unit(p, s)
            except (OSError, ValueError, KeyError):
                pass  # a damaged entry is run again
    todo = [i for i, u in enumerate(units) if u is None]
    done = len(sources) - len(todo)
    if on_progress:
        on_progress(stage, done, len(sources))
    for b in range(0, len(todo), files_per_batch):
        chunk = todo[b : b + files_per_batch]
        built = [read_source(sources[i]) for i in chunk]
        preds = predict_velocities(  # the network's own
            model, [n for n, _, _ in built], calibrate=False, markings=[m for _, m, _ in built]
        )
        for i, (_, _, finish), pred in zip(chunk, built, preds, strict=True):
            units[i] = u = finish(np.asarray(pred, dtype=np.int64))
            if (path := paths[i]) is not None:
                save_unit(path, u)
        done += len(chunk)
        if on_progress:
            on_progress(stage, done, len(sources))
    return [u for u in units if u is not None]


# ---------------------------------------------------------------- the table of piece summaries


def summary(u: Unit) -> np.ndarray:
    """The unit's summary features (``FEATURES`` order), from its input and the network's output."""
    x = summary_features(u.onset, u.offset, u.pitch, u.velocity, u.pred)
    return np.array([x[k] for k in FEATURES])


@dataclass
class Table:
    """Units of one input kind, with what the fits need per unit."""

    units: list[Unit]
    X: np.ndarray  # summary features
    level: np.ndarray  # the pianists' mean velocity (mean over the unit's performers)
    spread: np.ndarray  # the pianists' std of velocity (likewise)
    weight: np.ndarray  # the unit's share of its piece: each piece weighs 1
    groups: np.ndarray

    @property
    def model_mean(self) -> np.ndarray:
        return self.X[:, FEATURES.index("model_mean")]

    @property
    def model_std(self) -> np.ndarray:
        return self.X[:, FEATURES.index("model_std")]

    def pieces(self) -> int:
        return len(set(self.groups.tolist()))


def make_table(units: list[Unit]) -> Table:
    """The units with at least two notes and a performer who matched two; a unit's weight is its
    performers' share of its piece's performers."""
    units = [u for u in units if len(u.pred) > 1 and any(h.sum() > 1 for _, _, h in u.targets)]
    if not units:
        return Table(
            [], np.zeros((0, len(FEATURES))), np.zeros(0), np.zeros(0), np.zeros(0), np.array([], dtype=str)
        )
    X = np.stack([summary(u) for u in units])
    lv, sp, n = [], [], []
    for u in units:
        ts = [t[h].astype(np.float64) for _, t, h in u.targets if h.sum() > 1]
        lv.append(np.mean([t.mean() for t in ts]))
        sp.append(np.mean([t.std() for t in ts]))
        n.append(len(ts))
    groups = np.array([u.group for u in units])
    counts = np.array(n, dtype=np.float64)
    per_group: dict[str, float] = defaultdict(float)
    for g, k in zip(groups, counts, strict=True):
        per_group[g] += k
    w = np.array([k / per_group[g] for g, k in zip(groups, counts, strict=True)])
    return Table(units, X, np.array(lv), np.array(sp), w, groups)


def subset_table(t: Table, mask: np.ndarray) -> Table:
    """The rows of ``t`` where ``mask`` is true (weights kept)."""
    return Table(
        [u for u, m in zip(t.units, mask, strict=True) if m],
        t.X[mask],
        t.level[mask],
        t.spread[mask],
        t.weight[mask],
        t.groups[mask],
    )


# ---------------------------------------------------------------- ridge, chosen by grouped CV


@dataclass(frozen=True)
class FitSettings:
    """The search: ridge penalties (on standardized features, weights summing to 1), at most
    ``max_features`` features, each joining only if it lowers the CV error by ``min_gain``."""

    alphas: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    max_features: int = 8
    min_gain: float = 0.01
    folds: int = 10
    seed: int = 0


@dataclass
class Ridge:
    """A weighted ridge regression on standardized columns ``cols`` of the summary."""

    cols: list[int]
    alpha: float
    mu: np.ndarray
    sd: np.ndarray
    ybar: float
    b: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not self.cols:
            return np.full(len(X), self.ybar)
        return self.ybar + ((X[:, self.cols] - self.mu) / self.sd) @ self.b

    def coefficients(self) -> tuple[float, dict[str, float]]:
        """Intercept and per-feature slopes in the features' own units."""
        if not self.cols:
            return float(self.ybar), {}
        slopes = self.b / self.sd
        return (
            float(self.ybar - slopes @ self.mu),
            {FEATURES[c]: float(s) for c, s in zip(self.cols, slopes, strict=True)},
        )


def ridge_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, cols: list[int], alpha: float) -> Ridge:
    """Weighted ridge of ``y`` on ``X[:, cols]`` standardized with the weights (intercept unpenalized)."""
    w = w / w.sum()
    ybar = float(w @ y)
    if not cols:
        return Ridge([], alpha, np.zeros(0), np.ones(0), ybar, np.zeros(0))
    Xc = X[:, cols]
    mu = w @ Xc
    sd = np.sqrt(w @ (Xc - mu) ** 2)
    sd[sd == 0] = 1.0
    Z = (Xc - mu) / sd
    b = np.linalg.solve(Z.T @ (Z * w[:, None]) + alpha * np.eye(len(cols)), Z.T @ (w * (y - ybar)))
    return Ridge(list(cols), alpha, mu, sd, ybar, b)


def fold_of(groups: np.ndarray, k: int = 10, seed: int = 0) -> np.ndarray:
    """Each unit's fold: whole pieces to a fold, by a fixed shuffle of the piece names."""
    names = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(names))
    fold = {names[i]: r % k for r, i in enumerate(order)}
    return np.array([fold[g] for g in groups])


def cv_error(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, folds: np.ndarray, cols: list[int], alpha: float
) -> float:
    """The weighted mean squared out-of-fold error of the ridge on ``cols``."""
    pred = np.empty(len(y))
    for f in np.unique(folds):
        te = folds == f
        pred[te] = ridge_fit(X[~te], y[~te], w[~te], cols, alpha).predict(X[te])
    return float(w @ (pred - y) ** 2 / w.sum())


def select(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, folds: np.ndarray, settings: FitSettings = FitSettings()
) -> tuple[Ridge, list[tuple[str, float, float]]]:
    """Forward selection of features and ridge alpha by grouped CV; the path as (added, alpha, cv)."""
    cols: list[int] = []
    best, alpha = cv_error(X, y, w, folds, [], 0.0), 0.0
    path = [("(intercept only)", 0.0, best)]
    while len(cols) < settings.max_features:
        e, j, a = min(
            (cv_error(X, y, w, folds, [*cols, j], a), j, a)
            for j in range(X.shape[1])
            if j not in cols
            for a in settings.alphas
        )
        if e > best * (1 - settings.min_gain):
            break
        cols, best, alpha = [*cols, j], e, a
        path.append((FEATURES[j], a, e))
    return ridge_fit(X, y, w, cols, alpha), path


@dataclass
class Calibrator:
    """Level and spread of a piece from its summary: level = network mean + dL, spread factor = exp(dS)."""

    level: Ridge  # predicts pianist level - network mean
    spread: Ridge  # predicts log(pianist std / network std)
    factor: float  # exp(mean log ratio): the constant spread factor (no features)
    level_path: list[tuple[str, float, float]] = field(default_factory=list)
    spread_path: list[tuple[str, float, float]] = field(default_factory=list)

    def level_hat(self, t: Table) -> np.ndarray:
        return t.model_mean + self.level.predict(t.X)

    def spread_factor(self, t: Table) -> np.ndarray:
        return np.exp(self.spread.predict(t.X))


def regression_targets(t: Table) -> tuple[np.ndarray, np.ndarray]:
    """The two regression targets: pianists' level - network mean, log(pianist std / network std)."""
    return t.level - t.model_mean, np.log(t.spread / np.maximum(t.model_std, 1e-3))


def fit_calibrator(t: Table, settings: FitSettings = FitSettings()) -> Calibrator:
    """Both regressions on ``t``, each with its own features and alpha (``select``)."""
    folds = fold_of(t.groups, settings.folds, settings.seed)
    dl, ds = regression_targets(t)
    level, lp = select(t.X, dl, t.weight, folds, settings)
    spread, sp = select(t.X, ds, t.weight, folds, settings)
    factor = float(np.exp(t.weight @ ds / t.weight.sum()))
    return Calibrator(level, spread, factor, lp, sp)


def to_product(cal: Calibrator, factor: float, fitted_on: str) -> PieceCalibration:
    """The calibrator as the product stores it, ``factor`` the default share of the predicted spread."""
    level, spread = (Linear(*r.coefficients()) for r in (cal.level, cal.spread))
    return PieceCalibration(level, spread, factor, fitted_on)


# ---------------------------------------------------------------- the weights file


def write_calibration(weights: Path, out: Path, cal: PieceCalibration) -> None:
    """A copy of ``weights`` with ``cal`` in its metadata (``piece_calibration``), written atomically.

    Only the header changes: the tensors' bytes are copied as they are (any dtype).
    ``out`` may be ``weights`` itself.
    """
    from autodynamics_cli.model.weights_file import inspect_weights

    inspect_weights(weights)  # refuses a corrupt or truncated file by name
    data = Path(weights).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"] = {**(header.get("__metadata__") or {}), METADATA_KEY: cal.to_json()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads its header to 8 bytes
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------- the job


@dataclass
class KindFit:
    """One input kind's fit: the calibrator and the table it was fitted on."""

    calibrator: Calibrator
    table: Table
    fitted_on: str


# per input kind: what an error calls its files, and how ``fitted_on`` counts them
KIND_NAMES = {
    "scores": ("scores", "scores"),
    "musicxml": ("MusicXML scores", "MusicXML scores"),
    "performances": ("performances", "performances flattened to 64"),
}


@dataclass
class CalibrationFit:
    """What ``fit_piece_calibration`` found: the product's calibration and the fits behind it."""

    calibration: PieceCalibration
    scores: KindFit
    played: KindFit
    musicxml: KindFit | None = None  # None: not asked for, or no train score has MusicXML


def dataset_label(performances: Path | list[Path]) -> str:
    """``asap-performances`` -> ``asap`` (several: joined by +): how ``fitted_on`` names the data."""
    folders = [performances] if isinstance(performances, str | Path) else performances
    names = [Path(p).resolve().name for p in folders]
    return "+".join(n.removesuffix("-performances") or n for n in names)


def check_pieces(pieces: int, what: str) -> None:
    """The grouped cross-validation needs two pieces at the least."""
    if pieces < 2:
        raise AutodynError(
            f"the piece calibration needs train {what} of at least two pieces ({pieces} found)"
        )


def fit_table(units: list[Unit], what: str, settings: FitSettings) -> tuple[Calibrator, Table]:
    """``fit_calibrator`` on the units' table; refuses fewer than two pieces."""
    t = make_table(units)
    check_pieces(t.pieces(), what)
    return fit_calibrator(t, settings), t


def fit_piece_calibration(
    model: Model,
    performances: Path | list[Path],
    scores: Path,
    alignments: Path,
    *,
    cache: Path | None = None,
    settings: FitSettings = FitSettings(),
    factor: float = 0.9,
    musicxml: bool = True,
    on_progress: OnProgress | None = None,
) -> CalibrationFit:
    """Fit ``model``'s calibration on the train split: on its MIDI scores, on its performances
    flattened to 64 for played input (``PieceCalibration.played``) and, with ``musicxml``, on its
    scores' MusicXML for input read with markings (``PieceCalibration.musicxml``; needs the
    [musicxml] extra, and is left out where no train score has a MusicXML file)."""
    from autodynamics_cli.musicxml.read import EXTRA_HINT, extra_installed

    label = dataset_label(performances)
    sources = {
        "scores": score_sources(performances, scores, alignments),
        "performances": performance_sources(performances),
    }
    for what, found in sources.items():  # before the network runs
        check_pieces(len({s.group for s in found}), what)
    xml_sources = musicxml_sources(performances, scores, alignments) if musicxml else []
    if xml_sources:
        if not extra_installed():
            raise AutodynError(f"the MusicXML calibration: {EXTRA_HINT}; or leave it out (--no-musicxml)")
        check_pieces(len({s.group for s in xml_sources}), KIND_NAMES["musicxml"][0])
    units = {
        "scores": run_units(model, sources["scores"], cache, on_progress),
        "musicxml": run_units(model, xml_sources, cache, on_progress) if xml_sources else [],
        "performances": run_units(model, sources["performances"], cache, on_progress),
    }
    fits: dict[str, KindFit] = {}
    todo = [k for k in ("scores", "musicxml", "performances") if units[k]]
    for n, kind in enumerate(todo):
        if on_progress:
            on_progress("fit", n, len(todo))
        what, counted = KIND_NAMES[kind]
        cal, t = fit_table(units[kind], what, settings)
        fits[kind] = KindFit(cal, t, f"{label} train split: {len(t.units)} {counted}, {t.pieces()} pieces")
    if on_progress:
        on_progress("fit", len(todo), len(todo))
    each = {k: to_product(f.calibrator, factor, f.fitted_on) for k, f in fits.items()}
    product = replace(each["scores"], played=each["performances"], musicxml=each.get("musicxml"))
    return CalibrationFit(product, fits["scores"], fits["performances"], fits.get("musicxml"))


def calibrate(
    run_or_weights: str | Path,
    out: Path,
    performances: Path | list[Path],
    scores: Path,
    alignments: Path,
    *,
    device: str = "auto",
    engine: str = "auto",
    cache: Path | None = None,
    settings: FitSettings = FitSettings(),
    factor: float = 0.9,
    musicxml: bool = True,
    on_progress: OnProgress | None = None,
) -> CalibrationFit:
    """Fit the calibration of a run's best weights (or a weights file, or a model name) and write
    a copy of the weights with it to ``out``."""
    from autodynamics_cli.inference.model import load_model

    weights = resolve_weights(run_or_weights)
    model = load_model(weights, device=device, engine=engine)
    fit = fit_piece_calibration(
        model,
        performances,
        scores,
        alignments,
        cache=cache,
        settings=settings,
        factor=factor,
        musicxml=musicxml,
        on_progress=on_progress,
    )
    write_calibration(weights, out, fit.calibration)
    return fit

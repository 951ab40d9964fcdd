"""Training data: find pieces in a data folder, load their notes, sample windows.

``--data`` may be a MAESTRO v3 folder (``maestro-v3.0.0.csv``), a folder with a
MAESTRO-style ``metadata.csv`` (``split`` and ``midi_filename`` columns), or a
plain folder of MIDI files, split deterministically by a hash of each file's
relative path (one in ten goes to validation).

A ``Piece`` is what a training window is cut from: the notes the encoder and
decoder see (their timing) and, per note, the velocity to learn and whether
there is one. A performance is a piece whose targets are its own velocities;
a score aligned to a performance (a later source) is a piece whose timing comes
from the score and whose targets come from the performer, with unmatched notes
carrying no target. The sampler and batches do not care which.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from autodynamics_cli import note_features as NF
from autodynamics_cli import tokens as T
from autodynamics_cli.errors import AutodynError
from autodynamics_cli.midi_bytes import note_on_velocity_offsets
from autodynamics_cli.midi_io import Notes, read_midi
from autodynamics_cli.pianoroll import LOWEST_KEY, N_KEYS, encode_roll, note_steps, seconds_to_steps

MIDI_SUFFIXES = {".mid", ".midi"}


@dataclass
class Entry:
    """One file of a dataset listing."""

    path: Path
    split: str
    group: str  # the piece it plays, for averaging metrics per piece


@dataclass
class Piece:
    onset: np.ndarray  # seconds
    offset: np.ndarray
    pitch: np.ndarray
    target: np.ndarray  # velocity to learn, 1..127
    has_target: np.ndarray  # bool
    name: str = ""
    in_velocity: np.ndarray | None = None  # notated velocities the model may read (None: none)
    source: str = "performance"  # or "score"
    staff: np.ndarray | None = None  # note_features.part_staff of the file (None: one part)

    def __len__(self) -> int:
        return len(self.pitch)


def hash_split(rel: str, validation_every: int = 10) -> str:
    h = int(hashlib.sha1(rel.encode()).hexdigest(), 16)
    return "validation" if h % validation_every == 0 else "train"


def list_dataset(root: str | Path) -> list[Entry]:
    """Every file of a dataset folder with its split, in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise AutodynError(f"{root}: data folder not found")
    for name in ("maestro-v3.0.0.csv", "metadata.csv"):
        meta = root / name
        if meta.is_file():
            with meta.open(newline="") as f:
                rows = list(csv.DictReader(f))
            if not rows or "midi_filename" not in rows[0] or "split" not in rows[0]:
                raise AutodynError(f"{meta}: needs 'midi_filename' and 'split' columns")
            return [Entry(root / r["midi_filename"], r["split"],
                          f"{r.get('canonical_composer', '')} | {r.get('canonical_title', '')}")
                    for r in rows]
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise AutodynError(f"{root}: no metadata csv and no MIDI files")
    return [Entry(p, hash_split(p.relative_to(root).as_posix()), p.stem) for p in files]


def load_performance(path: str | Path, cache: bool = False) -> Piece:
    """A performance teaches its own velocities from its own timing.

    Its velocities are the targets, so the model never reads them as input.
    """
    notes = read_notes_cached(path, cache)
    return Piece(notes.onset, notes.offset, notes.pitch, notes.velocity,
                 np.ones(len(notes), dtype=bool), name=str(path),
                 staff=NF.part_staff(notes.track, notes.channel, notes.pitch))


@dataclass
class Augment:
    """Random changes that make the model robust to what users feed it."""

    stretch: float = 0.1  # tempo factor drawn from [1 - stretch, 1 + stretch]
    transpose: int = 3  # semitones drawn from [-transpose, transpose]


@dataclass
class WindowSample:
    roll: np.ndarray  # (steps, 88) uint8
    tokens: np.ndarray  # decoder input
    onsets: np.ndarray
    roles: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    features: np.ndarray  # (len(tokens), N_FEATURES)


def source_probabilities(pieces: list[Piece], share: dict[str, float] | None) -> np.ndarray:
    """Draw probability of each piece: its source's share, then in proportion to note counts."""
    counts = np.asarray([len(p) for p in pieces], dtype=np.float64)
    sources = np.asarray([p.source for p in pieces])
    present = sorted(set(sources.tolist()))
    share = {s: (share or {}).get(s, 1.0) for s in present} if share else \
        {s: counts[sources == s].sum() for s in present}
    total = sum(share.values())
    if total <= 0:
        raise AutodynError("every data source has share 0")
    prob = np.zeros(len(pieces))
    for s in present:
        sel = sources == s
        prob[sel] = share[s] / total * counts[sel] / counts[sel].sum()
    return prob


@dataclass
class WindowDraw:
    """The random choices behind one training window (``WindowSampler.draw``)."""

    piece: int
    factor: float  # tempo stretch
    shift: int  # transposition in semitones
    start: int  # first step
    mask: np.ndarray  # velocity tokens hidden from the decoder
    hide_dynamics: bool
    read_staff: bool


class WindowSampler:
    """Draws random training windows, pieces in proportion to their note counts.

    Its whole state is one numpy Generator, saved in checkpoints so a resumed
    run draws exactly the windows the stopped run would have drawn.
    """

    def __init__(self, pieces: list[Piece], seed: int, roll_steps: int, max_notes: int,
                 augment: Augment | None, aux_weight: float, velocity_mask_prob: float,
                 source_share: dict[str, float] | None = None, drop_dynamics: float = 0.3,
                 drop_staff: float | None = None) -> None:
        if not pieces:
            raise AutodynError("no training pieces with notes")
        self.pieces = pieces
        self.prob = source_probabilities(pieces, source_share)
        self.drop_dynamics = drop_dynamics
        self.drop_staff = drop_staff  # None: the model reads no staves
        self.rng = np.random.default_rng(seed)
        self.roll_steps, self.max_notes = roll_steps, max_notes
        self.augment, self.aux_weight = augment, aux_weight
        self.velocity_mask_prob = velocity_mask_prob

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def sample(self) -> WindowSample:
        return self.build(self.draw())

    def draw(self) -> WindowDraw:
        """Every random choice of one window, cheap: the main process draws, workers build."""
        piece = int(self.rng.choice(len(self.pieces), p=self.prob))
        p = self.pieces[piece]
        factor, shift = 1.0, 0
        if self.augment:
            factor = 1.0 + self.rng.uniform(-self.augment.stretch, self.augment.stretch)
            lo = max(-self.augment.transpose, LOWEST_KEY - int(p.pitch.min()))
            hi = min(self.augment.transpose, LOWEST_KEY + N_KEYS - 1 - int(p.pitch.max()))
            shift = int(self.rng.integers(lo, hi + 1)) if hi >= lo else 0
        # a window starts at a random note's onset, give or take a little, as inference windows do
        # (only that note's step is needed here: ``build`` steps the whole piece)
        note = int(self.rng.integers(len(p.onset)))
        start = int(seconds_to_steps(p.onset[note] * factor)) - \
            int(self.rng.integers(0, self.roll_steps // 2))
        mask = self.rng.random(self.max_notes) < self.velocity_mask_prob
        # hidden dynamics: so that flat inputs, which carry no dynamics, still work
        hide_dynamics = p.in_velocity is not None and self.rng.random() < self.drop_dynamics
        # staves read unless hidden, as in a one-track export, which has no staves
        read_staff = self.drop_staff is not None and self.rng.random() >= self.drop_staff
        return WindowDraw(piece, factor, shift, start, mask, hide_dynamics, read_staff)

    def build(self, d: WindowDraw) -> WindowSample:
        """The window a draw describes (deterministic: any process gives the same)."""
        piece = self.pieces[d.piece]
        onset, offset = piece.onset * d.factor, piece.offset * d.factor
        on, end = note_steps(onset, offset)
        in_vel = None if d.hide_dynamics else piece.in_velocity
        staff = piece.staff if d.read_staff else None
        return make_window(on, end, piece.pitch + d.shift, piece.target, piece.has_target, d.start,
                           self.roll_steps, self.max_notes, self.aux_weight, d.mask, in_vel, onset,
                           staff)


def make_window(on: np.ndarray, end: np.ndarray, pitch: np.ndarray, target: np.ndarray,
                has_target: np.ndarray, start: int, roll_steps: int, max_notes: int,
                aux_weight: float, velocity_mask: np.ndarray | None = None,
                in_velocity: np.ndarray | None = None,
                onset_s: np.ndarray | None = None,
                staff: np.ndarray | None = None) -> WindowSample:
    """The model inputs and weighted targets of the window that starts at ``start``.

    ``velocity_mask[i]`` True hides note i's velocity from the decoder input;
    ``in_velocity`` are notated velocities the model may read (None: none);
    ``onset_s`` the onsets in seconds, for the onset-lead feature; ``staff``
    the notes' ``note_features.part_staff`` (None: as a one-part file).
    Note features are computed on the notes near the window, which gives
    exactly what inference computes on the whole file (``note_features.py``).
    """
    near = np.flatnonzero((on >= start - NF.CONTEXT_STEPS) & (on < start + roll_steps + NF.CONTEXT_STEPS))
    feats = NF.note_features(on[near], pitch[near], None if in_velocity is None else in_velocity[near],
                             None if onset_s is None else onset_s[near],
                             None if staff is None else staff[near])
    inside = np.flatnonzero((on[near] >= start) & (on[near] < start + roll_steps))
    inside = inside[T.note_order(on[near][inside], pitch[near][inside])][:max_notes]
    feats, inside = feats[inside], near[inside]
    visible = (on < start + roll_steps) & (end > start)
    roll = encode_roll(on[visible], end[visible], pitch[visible], start, roll_steps)
    n = len(inside)
    seq = T.target_sequence(pitch[inside], end[inside] - on[inside], target[inside])
    mask = None if velocity_mask is None else velocity_mask[:n]
    tokens, onsets, roles = T.decoder_inputs(seq, on[inside] - start, mask)
    weights = np.full(len(seq), aux_weight, dtype=np.float32)
    weights[T.velocity_positions(n)] = has_target[inside].astype(np.float32)
    return WindowSample(roll, tokens, onsets, roles, seq, weights, T.per_token(feats))


def collate(samples: list[WindowSample]) -> dict[str, np.ndarray]:
    """Stack samples, padding decoder sequences on the right (weight 0)."""
    length = max(len(s.tokens) for s in samples)
    b = len(samples)
    out = {
        "roll": np.stack([s.roll for s in samples]),
        "tokens": np.full((b, length), T.PAD, dtype=np.int64),
        "onsets": np.zeros((b, length), dtype=np.int64),
        "roles": np.zeros((b, length), dtype=np.int64),
        "targets": np.full((b, length), T.PAD, dtype=np.int64),
        "weights": np.zeros((b, length), dtype=np.float32),
        "features": np.zeros((b, length, NF.N_FEATURES), dtype=np.int64),
    }
    for i, s in enumerate(samples):
        n = len(s.tokens)
        for key in ("tokens", "onsets", "roles", "targets", "weights", "features"):
            out[key][i, :n] = getattr(s, key)
    return out


@dataclass
class AlignedEntry:
    """A performance's score and the alignment of the two (a score-input training piece)."""

    score: Path
    alignment: Path
    split: str
    group: str
    performance: Path


def alignment_file_name(performance_rel: str) -> str:
    """``Bach/Fugue/bwv_846/Shi05M.mid`` -> ``Bach__Fugue__bwv_846__Shi05M.csv``."""
    return str(Path(performance_rel).with_suffix("")).replace("/", "__") + ".csv"


def list_aligned(performances: str | Path, scores: str | Path, alignments: str | Path
                 ) -> list[AlignedEntry]:
    """Score/alignment pairs for the performances of a metadata-csv folder (the ASAP layout).

    The score of ``A/B/perf.mid`` is ``SCORES/A/B/midi_score.mid``; its alignment
    is ``ALIGNMENTS/A__B__perf.csv``. Performances without either are skipped.
    """
    perf_root, score_root, align_root = Path(performances), Path(scores), Path(alignments)
    if not align_root.is_dir():
        raise AutodynError(f"{align_root}: alignments folder not found")
    out = []
    for e in list_dataset(perf_root):
        rel = e.path.relative_to(perf_root)
        score = score_root / rel.parent / "midi_score.mid"
        csv_path = align_root / alignment_file_name(rel.as_posix())
        if score.is_file() and csv_path.is_file():
            out.append(AlignedEntry(score, csv_path, e.split, e.group, e.path))
    return out


def score_order(notes: Notes, data: bytes) -> np.ndarray:
    """For the k-th note_on (velocity > 0) of a score, its index in ``notes`` (-1: not modelled).

    An alignment's ``score_note_index`` counts note_on events track by track, in
    event order, including drum-channel and out-of-range notes that ``notes``
    leaves out; the velocity byte offsets tie the two together.
    """
    where = {int(b): i for i, b in enumerate(notes.byte_offset)}
    offsets = [o for track in note_on_velocity_offsets(data) for o in track if data[o] > 0]
    return np.asarray([where.get(o, -1) for o in offsets], dtype=np.int64)


def read_alignment(path: str | Path) -> np.ndarray:
    """``(n, 4)`` int64: score_note_index, pitch, score onset in ms, performer velocity."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    need = ("score_note_index", "pitch", "score_onset_s", "perf_velocity")
    if rows and any(k not in rows[0] for k in need):
        raise AutodynError(f"{path}: needs columns {', '.join(need)}")
    return np.asarray([[int(r["score_note_index"]), int(r["pitch"]),
                        round(float(r["score_onset_s"]) * 1000), int(r["perf_velocity"])]
                       for r in rows], dtype=np.int64).reshape(-1, 4)


def aligned_targets(notes: Notes, data: bytes, alignment: np.ndarray, name: str = ""
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per score note: the performer's velocity and whether it was matched."""
    order = score_order(notes, data)
    idx, pitch, vel = alignment[:, 0], alignment[:, 1], alignment[:, 3]
    ok = (idx >= 0) & (idx < len(order))
    ok[ok] &= order[idx[ok]] >= 0
    unmodelled = (idx >= 0) & (idx < len(order))
    unmodelled[unmodelled] &= order[idx[unmodelled]] < 0  # a drum or out-of-range note: no target
    ok[ok] &= notes.pitch[order[idx[ok]]] == pitch[ok]
    ok_or_skipped = ok | unmodelled
    if len(idx) and ok_or_skipped.mean() < 0.99:
        raise AutodynError(f"{name}: alignment does not fit the score "
                           f"({(~ok).sum()} of {len(idx)} rows name another pitch or no note)")
    target = np.zeros(len(notes), dtype=np.int64)
    has = np.zeros(len(notes), dtype=bool)
    target[order[idx[ok]]] = vel[ok]
    has[order[idx[ok]]] = True
    return target, has


def load_aligned(entry: AlignedEntry, score_notes: Notes | None = None) -> Piece:
    """A score whose targets are a performer's velocities (unmatched notes: no target).

    The score's own velocities are notated dynamics the model may read, unless
    they are all equal (then it carries none).
    """
    notes = score_notes if score_notes is not None else read_midi(entry.score).notes
    target, has = aligned_targets(notes, entry.score.read_bytes(), read_alignment(entry.alignment),
                                  str(entry.alignment))
    in_vel = notes.velocity if NF.has_dynamics(notes.velocity) else None
    return Piece(notes.onset, notes.offset, notes.pitch, target, has, name=str(entry.alignment),
                 in_velocity=in_vel, source="score",
                 staff=NF.part_staff(notes.track, notes.channel, notes.pitch))


def notes_cache_dir() -> Path:
    """Where parsed notes are cached: ``$AUTODYN_CACHE_DIR`` or ``~/.cache/autodyn/notes``."""
    env = os.environ.get("AUTODYN_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autodyn"
    return base / "notes"


def read_notes_cached(path: str | Path, cache: bool = True) -> Notes:
    """``read_midi(path).notes``, from a cache keyed by path, size and mtime when allowed.

    Parsing hundreds of performances with mido takes minutes; a training run that
    resumes several times should pay that once.
    """
    path = Path(path)
    if not cache:
        return read_midi(path).notes
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|v1".encode()).hexdigest()
    file = notes_cache_dir() / f"{key}.npz"
    if file.is_file():
        try:
            with np.load(file) as z:
                return Notes(**{f.name: z[f.name] for f in fields(Notes)})
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is re-read below
    notes = read_midi(path).notes
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f"{file.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **{f.name: getattr(notes, f.name) for f in fields(Notes)})
    os.replace(tmp, file)
    return notes

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autodynamics_cli import tokens as T
from autodynamics_cli.errors import AutodynError
from autodynamics_cli.midi_io import read_midi
from autodynamics_cli.pianoroll import LOWEST_KEY, N_KEYS, encode_roll, note_steps

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


def load_performance(path: str | Path) -> Piece:
    """A performance teaches its own velocities from its own timing."""
    notes = read_midi(path).notes
    return Piece(notes.onset, notes.offset, notes.pitch, notes.velocity,
                 np.ones(len(notes), dtype=bool), name=str(path))


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


class WindowSampler:
    """Draws random training windows, pieces in proportion to their note counts.

    Its whole state is one numpy Generator, saved in checkpoints so a resumed
    run draws exactly the windows the stopped run would have drawn.
    """

    def __init__(self, pieces: list[Piece], seed: int, roll_steps: int, max_notes: int,
                 augment: Augment | None, aux_weight: float, velocity_mask_prob: float) -> None:
        if not pieces:
            raise AutodynError("no training pieces with notes")
        self.pieces = pieces
        counts = np.asarray([len(p) for p in pieces], dtype=np.float64)
        self.prob = counts / counts.sum()
        self.rng = np.random.default_rng(seed)
        self.roll_steps, self.max_notes = roll_steps, max_notes
        self.augment, self.aux_weight = augment, aux_weight
        self.velocity_mask_prob = velocity_mask_prob

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def sample(self) -> WindowSample:
        piece = self.pieces[self.rng.choice(len(self.pieces), p=self.prob)]
        onset, offset, pitch = piece.onset, piece.offset, piece.pitch
        if self.augment:
            factor = 1.0 + self.rng.uniform(-self.augment.stretch, self.augment.stretch)
            onset, offset = onset * factor, offset * factor
            lo = max(-self.augment.transpose, LOWEST_KEY - int(pitch.min()))
            hi = min(self.augment.transpose, LOWEST_KEY + N_KEYS - 1 - int(pitch.max()))
            pitch = pitch + (int(self.rng.integers(lo, hi + 1)) if hi >= lo else 0)
        on, end = note_steps(onset, offset)
        # a window starts at a random note's onset, give or take a little, as inference windows do
        start = int(on[self.rng.integers(len(on))]) - int(self.rng.integers(0, self.roll_steps // 2))
        mask = self.rng.random(self.max_notes) < self.velocity_mask_prob
        return make_window(on, end, pitch, piece.target, piece.has_target, start, self.roll_steps,
                           self.max_notes, self.aux_weight, mask)


def make_window(on: np.ndarray, end: np.ndarray, pitch: np.ndarray, target: np.ndarray,
                has_target: np.ndarray, start: int, roll_steps: int, max_notes: int,
                aux_weight: float, velocity_mask: np.ndarray | None = None) -> WindowSample:
    """The model inputs and weighted targets of the window that starts at ``start``.

    ``velocity_mask[i]`` True hides note i's velocity from the decoder input.
    """
    inside = np.flatnonzero((on >= start) & (on < start + roll_steps))
    inside = inside[T.note_order(on[inside], pitch[inside])][:max_notes]
    visible = (on < start + roll_steps) & (end > start)
    roll = encode_roll(on[visible], end[visible], pitch[visible], start, roll_steps)
    n = len(inside)
    seq = T.target_sequence(pitch[inside], end[inside] - on[inside], target[inside])
    mask = None if velocity_mask is None else velocity_mask[:n]
    tokens, onsets, roles = T.decoder_inputs(seq, on[inside] - start, mask)
    weights = np.full(len(seq), aux_weight, dtype=np.float32)
    weights[T.velocity_positions(n)] = has_target[inside].astype(np.float32)
    return WindowSample(roll, tokens, onsets, roles, seq, weights)


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
    }
    for i, s in enumerate(samples):
        n = len(s.tokens)
        for key in ("tokens", "onsets", "roles", "targets", "weights"):
            out[key][i, :n] = getattr(s, key)
    return out

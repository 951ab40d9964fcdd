"""Training windows: draw random windows of the pieces, build their inputs and targets, batch them.

A window is drawn (every random choice, cheap) and then built (deterministic),
so worker processes can build what the main process drew (``prefetch.py``).
Note features are computed on the notes near a window, which gives exactly
what inference computes on the whole file (``encoding/note_features.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.encoding.grid import LOWEST_KEY, N_KEYS, note_steps, seconds_to_steps
from autodynamics_cli.encoding.pianoroll import encode_roll
from autodynamics_cli.errors import AutodynError
from autodynamics_cli.training.datasets import Piece

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


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
    share = (
        {s: (share or {}).get(s, 1.0) for s in present}
        if share
        else {s: counts[sources == s].sum() for s in present}
    )
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
    hide_markings: bool = False


class WindowSampler:
    """Draws random training windows, pieces in proportion to their note counts.

    Its whole state is one numpy Generator, saved in checkpoints so a resumed
    run draws exactly the windows the stopped run would have drawn.
    """

    def __init__(
        self,
        pieces: list[Piece],
        seed: int,
        roll_steps: int,
        max_notes: int,
        augment: Augment | None,
        aux_weight: float,
        velocity_mask_prob: float,
        source_share: dict[str, float] | None = None,
        drop_dynamics: float = 0.3,
        drop_staff: float | None = None,
        drop_markings: float = 0.3,
    ) -> None:
        if not pieces:
            raise AutodynError("no training pieces with notes")
        self.pieces = pieces
        self.prob = source_probabilities(pieces, source_share)
        self.drop_dynamics = drop_dynamics
        self.drop_staff = drop_staff  # None: the model reads no staves
        self.drop_markings = drop_markings
        self.rng = np.random.default_rng(seed)
        self.roll_steps, self.max_notes = roll_steps, max_notes
        self.augment, self.aux_weight = augment, aux_weight
        self.velocity_mask_prob = velocity_mask_prob

    def state(self) -> Mapping[str, Any]:
        return self.rng.bit_generator.state

    def set_state(self, state: Mapping[str, Any]) -> None:
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
        start = int(seconds_to_steps(p.onset[note] * factor)) - int(
            self.rng.integers(0, self.roll_steps // 2)
        )
        mask = self.rng.random(self.max_notes) < self.velocity_mask_prob
        # hidden dynamics: so that flat inputs, which carry no dynamics, still work
        hide_dynamics = p.in_velocity is not None and self.rng.random() < self.drop_dynamics
        # staves read unless hidden, as in a one-track export, which has no staves
        read_staff = self.drop_staff is not None and self.rng.random() >= self.drop_staff
        # hidden markings: a window as a MIDI export gives it (pieces without markings draw nothing)
        hide_markings = p.markings is not None and self.rng.random() < self.drop_markings
        return WindowDraw(piece, factor, shift, start, mask, hide_dynamics, read_staff, hide_markings)

    def build(self, d: WindowDraw) -> WindowSample:
        """The window a draw describes (deterministic: any process gives the same)."""
        piece = self.pieces[d.piece]
        onset, offset = piece.onset * d.factor, piece.offset * d.factor
        on, end = note_steps(onset, offset)
        in_vel = None if d.hide_dynamics else piece.in_velocity
        staff = piece.staff if d.read_staff else None
        markings = None if d.hide_markings else piece.markings
        return make_window(
            on,
            end,
            piece.pitch + d.shift,
            piece.target,
            piece.has_target,
            d.start,
            self.roll_steps,
            self.max_notes,
            self.aux_weight,
            d.mask,
            in_vel,
            onset,
            staff,
            markings,
        )


def make_window(
    on: np.ndarray,
    end: np.ndarray,
    pitch: np.ndarray,
    target: np.ndarray,
    has_target: np.ndarray,
    start: int,
    roll_steps: int,
    max_notes: int,
    aux_weight: float,
    velocity_mask: np.ndarray | None = None,
    in_velocity: np.ndarray | None = None,
    onset_s: np.ndarray | None = None,
    staff: np.ndarray | None = None,
    markings: np.ndarray | None = None,
) -> WindowSample:
    """The model inputs and weighted targets of the window that starts at ``start``.

    ``velocity_mask[i]`` True hides note i's velocity from the decoder input;
    ``in_velocity`` are notated velocities the model may read (None: none);
    ``onset_s`` the onsets in seconds, for the onset-lead feature; ``staff``
    the notes' ``note_features.part_staff`` (None: as a one-part file);
    ``markings`` their ``marking_buckets`` (None: unknown, as a MIDI file).
    Note features are computed on the notes near the window, which gives
    exactly what inference computes on the whole file (``note_features.py``).
    """
    near = np.flatnonzero((on >= start - NF.CONTEXT_STEPS) & (on < start + roll_steps + NF.CONTEXT_STEPS))
    feats = NF.note_features(
        on[near],
        pitch[near],
        None if in_velocity is None else in_velocity[near],
        None if onset_s is None else onset_s[near],
        None if staff is None else staff[near],
        None if markings is None else markings[near],
    )
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

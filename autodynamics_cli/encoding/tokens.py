"""The token layout shared by decoding and training (layout version 1).

Vocabulary (``VOCAB_SIZE`` = 347)::

    0          PAD        padding after the end of a sequence
    1          BOS        first decoder input
    2          EOS        target after the last note
    3          VEL_MASK   decoder input in place of a velocity that is hidden
    4..91      pitch      MIDI pitch 21..108 (key 0..87)
    92..219    duration   1..128 steps of 50 ms (longer notes are capped at 128)
    220..346   velocity   1..127

A window of N notes, sorted by onset then pitch, is the target sequence::

    p1 d1 v1  p2 d2 v2  ...  pN dN vN  EOS

The decoder input is that sequence shifted right by one, starting with BOS.
Every decoder position also carries the onset step (0..255) of the note its
input token belongs to (BOS: 0) and a role (BOS, pitch, duration, velocity),
added as embeddings, so the decoder knows where each note is in the roll; the
model adds the note's key too (``model.note_keys``).

Models with ``note_features``/``input_velocity`` also add, at every position of a
note, embeddings of that note's context features and notated velocity
(``note_features.py``; ``per_token`` spreads them over the note's positions).

A model may be trained with some or all velocity inputs replaced by VEL_MASK
(``ModelConfig.velocity_feedback``); with feedback off the decoder never sees a
velocity and all notes of a window are read out in a single pass.

The velocity of note i is read from the logits at the position whose input is
``d_i`` (its target is ``v_i``), restricted to the velocity tokens.
"""

from __future__ import annotations

import numpy as np

from autodynamics_cli.encoding.grid import LOWEST_KEY, N_KEYS

LAYOUT_VERSION = 1

PAD, BOS, EOS, VEL_MASK = 0, 1, 2, 3
PITCH_OFFSET = 4
N_PITCH = N_KEYS
LOWEST_PITCH = LOWEST_KEY
DUR_OFFSET = PITCH_OFFSET + N_PITCH  # 92
MAX_DURATION_STEPS = 128
VEL_OFFSET = DUR_OFFSET + MAX_DURATION_STEPS  # 220
N_VELOCITY = 127
VOCAB_SIZE = VEL_OFFSET + N_VELOCITY  # 347

ROLE_BOS, ROLE_PITCH, ROLE_DURATION, ROLE_VELOCITY = 0, 1, 2, 3
N_ROLES = 4
TOKENS_PER_NOTE = 3


def max_notes(decoder_length: int) -> int:
    """How many notes fit a decoder of ``decoder_length`` positions (BOS, 3 per note)."""
    return (decoder_length - 1) // TOKENS_PER_NOTE


def pitch_token(pitch: np.ndarray) -> np.ndarray:
    return np.asarray(pitch, dtype=np.int64) - LOWEST_PITCH + PITCH_OFFSET


def duration_token(steps: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(steps, dtype=np.int64), 1, MAX_DURATION_STEPS) - 1 + DUR_OFFSET


def velocity_token(velocity: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(velocity, dtype=np.int64), 1, 127) - 1 + VEL_OFFSET


def token_velocity(token: np.ndarray) -> np.ndarray:
    return np.asarray(token, dtype=np.int64) - VEL_OFFSET + 1


def token_pitch(token: np.ndarray) -> np.ndarray:
    return np.asarray(token, dtype=np.int64) - PITCH_OFFSET + LOWEST_PITCH


def token_duration(token: np.ndarray) -> np.ndarray:
    return np.asarray(token, dtype=np.int64) - DUR_OFFSET + 1


def note_order(on_step: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Indices that sort notes by onset step, then pitch (low to high)."""
    return np.lexsort((np.asarray(pitch), np.asarray(on_step)))


def target_sequence(pitch: np.ndarray, dur_steps: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """``p1 d1 v1 ... pN dN vN EOS`` for notes already in window order."""
    n = len(pitch)
    seq = np.empty(TOKENS_PER_NOTE * n + 1, dtype=np.int64)
    seq[0:-1:3] = pitch_token(pitch)
    seq[1:-1:3] = duration_token(dur_steps)
    seq[2:-1:3] = velocity_token(velocity)
    seq[-1] = EOS
    return seq


def decoder_inputs(
    target: np.ndarray, rel_onset: np.ndarray, velocity_mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoder tokens, onset steps and roles for a target sequence.

    ``velocity_mask[i]`` True replaces note i's velocity input with VEL_MASK.
    """
    n = len(rel_onset)
    tokens = np.concatenate(([BOS], target[:-1]))
    if velocity_mask is not None:
        vel_pos = 3 + 3 * np.arange(n)  # input position of v_i is 3i + 3
        keep = vel_pos < len(tokens)
        tokens[vel_pos[keep & velocity_mask]] = VEL_MASK
    onsets = np.concatenate(([0], np.repeat(np.asarray(rel_onset, dtype=np.int64), 3)))[: len(tokens)]
    roles = np.concatenate(([ROLE_BOS], np.tile([ROLE_PITCH, ROLE_DURATION, ROLE_VELOCITY], n)))
    return tokens, onsets, roles[: len(tokens)]


def velocity_positions(n_notes: int) -> np.ndarray:
    """Decoder positions whose logits predict each note's velocity (inputs d_i)."""
    return 2 + 3 * np.arange(n_notes)


def per_token(per_note: np.ndarray) -> np.ndarray:
    """Repeat per-note rows over each note's three decoder positions, after a zero row for BOS."""
    per_note = np.asarray(per_note)
    zero = np.zeros((1, *per_note.shape[1:]), dtype=per_note.dtype)
    return np.concatenate([zero, np.repeat(per_note, TOKENS_PER_NOTE, axis=0)])

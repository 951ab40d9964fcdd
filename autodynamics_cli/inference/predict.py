"""From parsed MIDI files to predicted velocities: windows, rolls, an engine, blending.

This is the inference pipeline that ``humanize``, ``eval`` and the benchmarks
share. Windows of several files go through the engine together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.encoding.grid import note_steps
from autodynamics_cli.encoding.pianoroll import encode_roll
from autodynamics_cli.encoding.windows import Window, WindowInput, plan_windows
from autodynamics_cli.midi.notes import Notes
from autodynamics_cli.model.config import ModelConfig

if TYPE_CHECKING:
    from autodynamics_cli.inference.model import Model

HOP_STEPS = 128  # 6.4 s: every note is decoded in up to two overlapping windows


def model_features(
    cfg: ModelConfig,
    notes: Notes,
    read_dynamics: bool = True,
    read_staves: bool = True,
    markings: np.ndarray | None = None,
) -> np.ndarray:
    """Note features of a whole file, with what else of it the model reads.

    That is its notated velocities, onset leads, staves and, for a MusicXML
    score, its markings (``encoding/note_features.py``; ``markings``:
    ``marking_buckets`` per note, None for a MIDI file: "unknown").

    A file whose velocities are all equal carries no dynamics: it gets "none",
    as does every file when ``read_dynamics`` is off. ``read_staves`` off
    gives every note "one part", as if the file had a single track.
    """
    on, _ = note_steps(notes.onset, notes.offset)
    staves = cfg.staff and read_staves
    staff = NF.part_staff(notes.track, notes.channel, notes.pitch) if staves else None
    read = read_dynamics and cfg.input_velocity and NF.velocities_vary(notes.velocity)
    return NF.note_features(
        on,
        notes.pitch,
        notes.velocity if read else None,
        notes.onset if cfg.onset_lead else None,
        staff,
        markings if cfg.markings else None,
    )


def window_inputs(
    notes: Notes, windows: list[Window], roll_steps: int, features: np.ndarray | None = None
) -> list[WindowInput]:
    """The roll, known tokens and note features of each window of one file."""
    on, end = note_steps(notes.onset, notes.offset)
    items = []
    for w in windows:
        lo, hi = w.start, w.start + roll_steps
        near = np.flatnonzero((on < hi) & (end > lo))  # notes visible in the roll
        roll = encode_roll(on[near], end[near], notes.pitch[near], w.start, roll_steps)
        idx = w.notes
        items.append(
            WindowInput(
                roll=roll,
                pitch_tok=T.pitch_token(notes.pitch[idx]),
                dur_tok=T.duration_token(end[idx] - on[idx]),
                rel_onset=on[idx] - w.start,
                features=None if features is None else features[idx],
            )
        )
    return items


def window_seed(seed: int, window: int) -> int:
    """Sampling seed of a file's ``window``-th window: same ``--seed``, same file, same take."""
    return int(np.random.SeedSequence([seed, window]).generate_state(1)[0])


def trim_after_last_kept(w: Window) -> Window:
    """The window without the notes after its last kept one.

    A causal decoder's output at a note reads only the notes before it, so for
    such a model those notes change no kept velocity: dropping them is exact
    and spares about a quarter of the decoder's work.
    """
    end = int(np.flatnonzero(w.keep)[-1]) + 1
    return Window(w.start, w.notes[:end], w.keep[:end])


def predict_velocities(
    model: Model,
    notes_list: list[Notes],
    batch_size: int = 32,
    hop: int | None = None,
    temperature: float = 0.0,
    seed: int = 0,
    read_dynamics: bool = True,
    blend: bool = True,
    read_staves: bool = True,
    on_notes: Callable[[int, int], None] | None = None,
    calibrate: bool = True,
    markings: list[np.ndarray | None] | None = None,
) -> list[np.ndarray]:
    """One velocity (1..127) per note of each file, aligned with ``Notes``.

    ``hop`` (steps between window starts, default ``HOP_STEPS``): larger is
    faster but gives notes near a window's edge less context (docs/design.md).
    ``temperature`` above 0 samples each velocity; every file's windows are
    seeded from ``seed`` alone, so a file's take does not depend on the others.
    ``read_dynamics`` off hides the files' notated velocities from a model that reads them,
    ``read_staves`` off their staves.
    ``blend`` (taggers): each note's velocity is the centrality-weighted mean over
    the overlapping windows that read it (``blend_windows``); off, for a causal
    model or when sampling, it comes from the one window where it sits most centrally.
    ``on_notes(file, n)``, for progress displays: ``n`` more notes of ``notes_list[file]``
    were decoded (each note counts once, in the window it is kept from).
    ``calibrate``: map each file to its piece's level and range with the model's
    ``calibration`` (``model/calibration.py``) when it has one (a file with ``markings``
    takes its MusicXML calibration); off, the network's own.
    ``markings``: per file, its notes' ``marking_buckets`` when it was read from
    MusicXML (None: a MIDI file, whose markings are unknown); only a model
    trained with markings reads them.
    """
    cfg = model.cfg
    hop = hop or HOP_STEPS
    all_items: list[WindowInput] = []
    plans: list[tuple[int, list[Window], np.ndarray]] = []
    for i, notes in enumerate(notes_list):
        on, _ = note_steps(notes.onset, notes.offset)
        windows = plan_windows(on, notes.pitch, cfg.roll_steps, hop, T.max_notes(cfg.max_decoder_len))
        if cfg.causal_decoder:
            windows = [trim_after_last_kept(w) for w in windows]
        plans.append((len(all_items), windows, on))
        feats = model_features(
            cfg, notes, read_dynamics, read_staves, None if markings is None else markings[i]
        )
        items = window_inputs(notes, windows, cfg.roll_steps, feats)
        for k, item in enumerate(items):
            item.seed = window_seed(seed, k)
        all_items.extend(items)
    on_batch = None
    if on_notes is not None:
        owner = np.repeat(np.arange(len(plans)), [len(w) for _, w, _ in plans])
        kept = [int(w.keep.sum()) for _, windows, _ in plans for w in windows]

        def on_batch(indices: list[int]) -> None:
            for i in indices:
                on_notes(int(owner[i]), kept[i])

    decoded = model.velocities(all_items, batch_size, temperature, on_batch)
    results = []
    cal = model.calibration if calibrate else None
    for i, (notes, (first, windows, on)) in enumerate(zip(notes_list, plans, strict=True)):
        if blend and not cfg.causal_decoder and temperature == 0:
            vel = blend_windows(on, windows, decoded[first : first + len(windows)], cfg.roll_steps)
        else:
            vel = np.zeros(len(notes), dtype=np.int64)
            for k, w in enumerate(windows):
                vel[w.notes[w.keep]] = decoded[first + k][w.keep]
        if cal is not None:
            from_xml = markings is not None and markings[i] is not None
            vel = cal.apply(
                vel, notes.onset, notes.offset, notes.pitch, notes.velocity, read_dynamics, from_xml
            )
        results.append(vel)
    return results


def blend_windows(
    on_step: np.ndarray, windows: list[Window], decoded: list[np.ndarray], steps: int
) -> np.ndarray:
    """Each note's velocity: the mean over the windows that read it, weighted by centrality.

    ``on_step``: each note's onset step (``grid.note_steps``). A note's
    weight in a window is its distance from the nearer edge, so the window that
    sees most context on both sides counts most, and an edge, where a note's
    context is cut off, counts nearly nothing.
    """
    total = np.zeros(len(on_step))
    weight = np.zeros(len(on_step))
    for w, vel in zip(windows, decoded, strict=True):
        rel = on_step[w.notes] - w.start
        wt = np.minimum(rel + 0.5, steps - rel - 0.5)
        total[w.notes] += wt * vel
        weight[w.notes] += wt
    return np.round(total / weight).astype(np.int64)

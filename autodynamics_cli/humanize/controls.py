"""Musician controls: turn the model's velocities into the velocities written to the file.

Pure numpy, no torch, so it is cheap to test and independent of how the model
decodes. The order of operations for the selected notes of one file is

1. model velocities (greedy, or sampled with ``--temperature``),
   (with the model's piece calibration, ``model/calibration.py``: a pianist's
   range at the piece's level),
2. ``--keep-dynamics``: the input's loudness envelope (its contrast halved,
   around the model's average level) plus the model's note-to-note
   deviations from its own envelope,
3. ``--expression``: scale every note's distance from the file's mean level
   (0 flat, 1 as is, 2 doubled),
4. ``--strength``: blend between the input velocities (0) and that result (1),
5. ``--range``: map the 1..127 scale linearly onto ``LO..HI`` (order of loudness kept).

Notes outside ``--tracks``/``--channels`` keep their input velocity, so their
bytes in the file do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autodynamics_cli.encoding.note_features import velocities_vary
from autodynamics_cli.errors import AutodynError
from autodynamics_cli.midi.notes import Notes
from autodynamics_cli.midi.read import track_names

ENVELOPE_SIGMA_S = 1.0  # Gaussian width of the loudness envelope (about 3 s wide in all)
ENVELOPE_BIN_S = 0.05  # time resolution of the envelope (one roll step)
DYNAMICS_MIN_SPREAD = 8.0  # envelope 5th..95th percentile spread that counts as written dynamics
DYNAMICS_CONTRAST = 0.5  # share of the input's loudness contrast that --keep-dynamics keeps
MAX_EXPRESSION = 2.0  # twice the default range; beyond it most of a piece is clipped at 1 or 127
KEYBOARD_PROGRAMS = 8  # GM programs 1-8 (0-7 in the file): pianos, electric pianos, harpsichord, clavinet


@dataclass(frozen=True)
class HumanizeOptions:
    """What ``autodyn humanize`` does beyond the plain model prediction.

    ``keep_dynamics`` None means automatic: on when the input has dynamics
    (``has_dynamics``), off for constant-velocity input. ``tracks`` items are
    1-based indices (as strings or ints) or track names; ``channels`` are 1..16.
    ``temperature`` 0 is the greedy, deterministic choice. ``read_staves`` off
    reads a multi-track file as one part (for tracks that are not staves).
    ``all_parts`` humanizes the other instruments of a General MIDI file too
    (``keyboard_parts``); ``tracks`` or ``channels`` choose explicitly.
    """

    keep_dynamics: bool | None = None
    expression: float = 1.0  # 0 flat at the piece's level, 1 the model's range, 2 doubled
    strength: float = 1.0
    velocity_range: tuple[int, int] | None = None
    tracks: tuple[str, ...] | None = None
    channels: tuple[int, ...] | None = None
    temperature: float = 0.0
    seed: int = 0
    read_staves: bool = True
    all_parts: bool = False  # humanize every pitched part, not only the keyboards

    def __post_init__(self) -> None:
        if not 0.0 <= self.expression <= MAX_EXPRESSION:
            raise AutodynError(
                f"--expression must be between 0 and {MAX_EXPRESSION:g}, got {self.expression}"
            )
        if not 0.0 <= self.strength <= 1.0:
            raise AutodynError(f"--strength must be between 0 and 1, got {self.strength}")
        if self.velocity_range is not None:
            lo, hi = self.velocity_range
            if not 1 <= lo <= hi <= 127:
                raise AutodynError(f"--range needs 1 <= LO <= HI <= 127, got {lo} {hi}")
        if self.channels is not None and any(not 1 <= c <= 16 for c in self.channels):
            raise AutodynError(f"--channels are numbered 1 to 16, got {list(self.channels)}")
        if self.temperature < 0:
            raise AutodynError(f"--temperature must be 0 or more, got {self.temperature}")


def envelope(velocity: np.ndarray, onset: np.ndarray, sigma_s: float = ENVELOPE_SIGMA_S) -> np.ndarray:
    """Gaussian-weighted local mean of ``velocity`` around each note's onset.

    Binned at 50 ms and convolved, so it is linear in the number of notes;
    the weights are those of the notes, so a dense passage counts more than
    a lone note, as the ear hears it.
    """
    n = len(velocity)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    t0 = float(onset.min())
    bins = np.floor((onset - t0) / ENVELOPE_BIN_S).astype(np.int64)
    size = int(bins.max()) + 1
    sums = np.bincount(bins, weights=velocity.astype(np.float64), minlength=size)
    counts = np.bincount(bins, minlength=size).astype(np.float64)
    half = max(1, int(np.ceil(3 * sigma_s / ENVELOPE_BIN_S)))
    x = np.arange(-half, half + 1) * ENVELOPE_BIN_S
    kernel = np.exp(-0.5 * (x / sigma_s) ** 2)
    s = np.convolve(sums, kernel, mode="full")[half : half + size]
    c = np.convolve(counts, kernel, mode="full")[half : half + size]
    return s[bins] / c[bins]


def has_dynamics(velocity: np.ndarray, onset: np.ndarray) -> bool:
    """Whether the input carries written dynamics worth keeping.

    Constant velocity (a notation program without dynamics), a few accents,
    or small random jitter all leave the loudness envelope nearly flat; a
    step between written levels (p to f is about 16 to 48 velocity units)
    moves it far more than ``DYNAMICS_MIN_SPREAD``.
    """
    if len(velocity) < 2 or int(velocity.min()) == int(velocity.max()):
        return False
    env = envelope(velocity, onset)
    lo, hi = np.percentile(env, [5, 95])
    return float(hi - lo) >= DYNAMICS_MIN_SPREAD


def keep_dynamics(
    input_velocity: np.ndarray,
    predicted: np.ndarray,
    onset: np.ndarray,
    contrast: float = DYNAMICS_CONTRAST,
    sigma_s: float = ENVELOPE_SIGMA_S,
) -> np.ndarray:
    """The input's loudness envelope, around the model's average, plus the model's deviations.

    The input decides which passages are louder or softer than the piece's
    average, and by how much (times ``contrast``); the model decides the
    average level and which notes of a passage stand out (voicing, melody,
    phrasing within a few seconds). Notation programs export dynamics about
    twice as wide as pianists play them (ff 112, pp 33), hence the default 0.5:
    measured on ASAP scores against their performances, it gave lower error than
    the model alone, and literal input levels (contrast 1, input average) more
    than three times higher (scripts/check_keep_dynamics.py, docs/design.md).
    """
    pred = predicted.astype(np.float64)
    env_in = envelope(input_velocity, onset, sigma_s)
    env_pred = envelope(pred, onset, sigma_s)
    return env_pred.mean() + contrast * (env_in - env_in.mean()) + pred - env_pred


def scale_expression(velocity: np.ndarray, expression: float) -> np.ndarray:
    """Every note's distance from the mean level times ``expression`` (0: all at the mean).

    Linear and increasing for ``expression`` above 0, so the order of loudness is kept;
    the level (the mean) does not move, before clipping.
    """
    v = np.asarray(velocity, dtype=np.float64)
    if expression == 1.0 or len(v) == 0:
        return v
    m = v.mean()
    return m + expression * (v - m)


def blend(input_velocity: np.ndarray, result: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` 0 gives the input, 1 the result, in between a straight mix."""
    if strength == 0.0:
        return input_velocity.astype(np.float64)
    return input_velocity + strength * (np.asarray(result, dtype=np.float64) - input_velocity)


def map_range(velocity: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Map the whole 1..127 scale linearly onto ``lo..hi``.

    The same map for every file, so a soft piece stays soft inside the range,
    and louder never becomes softer (after rounding, at most equal).
    """
    v = np.clip(np.asarray(velocity, dtype=np.float64), 1, 127)
    return lo + (v - 1) * (hi - lo) / 126


def finalize(
    input_velocity: np.ndarray, predicted: np.ndarray, onset: np.ndarray, options: HumanizeOptions, keep: bool
) -> np.ndarray:
    """Velocities 1..127 to write for the selected notes (see the module docstring)."""
    vin = input_velocity.astype(np.float64)
    result = keep_dynamics(vin, predicted, onset) if keep else predicted.astype(np.float64)
    result = np.clip(scale_expression(np.clip(result, 1, 127), options.expression), 1, 127)
    out = blend(vin, result, options.strength)
    if options.velocity_range is not None:
        out = map_range(out, *options.velocity_range)
    return np.clip(np.rint(out), 1, 127).astype(np.int64)


def select_notes(
    notes: Notes,
    data: bytes,
    tracks: tuple[str, ...] | None,
    channels: tuple[int, ...] | None,
    path: str = "",
) -> np.ndarray:
    """Boolean mask of the notes to humanize.

    A ``tracks`` item that is a number is a 1-based track index (the first
    track chunk of the file is 1); anything else matches a track name,
    ignoring case and surrounding spaces. Both filters given: a note must pass both.
    """
    mask = np.ones(len(notes), dtype=bool)
    if tracks:
        names = None
        wanted: set[int] = set()
        for item in tracks:
            item = str(item).strip()
            if item.isdigit():
                wanted.add(int(item) - 1)
                continue
            names = track_names(data) if names is None else names
            hits = [i for i, n in enumerate(names) if n.strip().lower() == item.lower()]
            if not hits:
                listed = ", ".join(repr(n) for n in names if n) or "none"
                raise AutodynError(f"{path}: no track named {item!r} (track names: {listed})")
            wanted.update(hits)
        mask &= np.isin(notes.track, sorted(wanted))
    if channels:
        mask &= np.isin(notes.channel, [c - 1 for c in channels])
    return mask


def keyboard_parts(programs: np.ndarray) -> np.ndarray:
    """Per note, whether its part is a keyboard: GM program 1-8, or no program change at all.

    The model learned piano; humanized as piano, a band's bass, guitar, brass
    and strings would drop to a piano's level against the untouched drums.
    """
    return np.asarray(programs) < KEYBOARD_PROGRAMS  # -1: no program change


MODEL_READS, ENVELOPE, MODEL_ONLY = "model-reads", "envelope", "model-only"
DYNAMICS_MODES = (MODEL_READS, ENVELOPE, MODEL_ONLY)  # what ``dynamics_mode`` reports


def dynamics_mode(notes: Notes, options: HumanizeOptions, model_reads_dynamics: bool) -> str:
    """Which dynamics the chosen ``notes`` get, exactly as ``humanized_velocities`` runs them.

    - ``envelope``: the input's loudness envelope is laid over the model's result
      (``--keep-dynamics``; by default too when the model reads no input
      velocities and the input has dynamics, ``has_dynamics``);
    - ``model-reads``: no envelope; the model reads the notated velocities and
      follows them with less contrast, as pianists do (the default with a model
      that reads them, when the input's velocities are not all equal);
    - ``model-only``: the model's own dynamics (``--no-keep-dynamics``, a flat
      input, or a model that reads none and an input without dynamics).
    """
    keep = (
        options.keep_dynamics
        if options.keep_dynamics is not None
        else has_dynamics(notes.velocity, notes.onset)
    )
    if keep and (not model_reads_dynamics or options.keep_dynamics is True):
        return ENVELOPE
    if model_reads_dynamics and options.keep_dynamics is not False and velocities_vary(notes.velocity):
        return MODEL_READS  # as ``inference.predict`` decides to show them to the model
    return MODEL_ONLY


def humanized_velocities(
    notes: Notes, predicted: np.ndarray, options: HumanizeOptions, model_reads_dynamics: bool
) -> tuple[np.ndarray, str]:
    """The velocities written for the chosen ``notes`` from the model's, and the ``dynamics_mode``.

    A model that reads notated dynamics follows them by itself; for others, and for an
    explicit ``keep_dynamics`` (so that loud stays louder), the input's envelope is laid over it.
    """
    mode = dynamics_mode(notes, options, model_reads_dynamics)
    return finalize(notes.velocity, predicted, notes.onset, options, mode == ENVELOPE), mode


def choose_notes(
    notes: Notes, programs: np.ndarray, data: bytes, options: HumanizeOptions, path: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """The notes to humanize, and the notes left alone because their part is not a keyboard.

    ``--tracks``/``--channels`` choose explicitly and ``all_parts`` takes every
    part; otherwise only keyboard parts are humanized (``keyboard_parts``).
    """
    mask = select_notes(notes, data, options.tracks, options.channels, path)
    if options.tracks or options.channels or options.all_parts:
        return mask, np.zeros(len(mask), dtype=bool)
    not_piano = mask & ~keyboard_parts(programs)
    return mask & ~not_piano, not_piano

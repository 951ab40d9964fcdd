"""``autodyn plot``: see what humanizing did, as the paper's figures show it.

One piano roll per file with each note coloured by its velocity, and below
them, on the same time axis, every note's velocity over time with its
loudness envelope (one colour per file). Two files (before, after) are
drawn aligned for comparison. The pitch axis names the C's (MIDI 60 = C4);
the time axis counts bars where the files have a time signature, seconds
otherwise. matplotlib is an optional extra
(the ``[plot]`` extra, or ``pip install matplotlib``); it draws off-screen (Agg), so
no display is needed.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mido
import numpy as np

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.humanize.controls import envelope
from autodynamics_cli.midi.notes import Notes, subset
from autodynamics_cli.midi.read import read_midi, tempo_map_seconds

if TYPE_CHECKING:
    from typing import Literal

MISSING_MATPLOTLIB = "autodyn plot needs matplotlib: install autodyn's [plot] extra (pip install matplotlib)"
# one file red; the first of several grey (before), the next red (after), then blue and green
# (e.g. the same input humanized with several --expression settings)
COLOURS = ("#7f7f7f", "#d62728", "#1f77b4", "#2ca02c")
MAX_FILES = len(COLOURS)
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
COLOUR_MAP = "viridis"  # perceptually uniform: equal velocity steps look equally different
COLOUR_BAND = 5  # velocities per colour band
# the colour bar's arrows, by which velocities lie beyond it: none, below, above, both
EXTENDS: tuple[Literal["neither", "min", "max", "both"], ...] = ("neither", "min", "max", "both")
MIN_COLOUR_WIDTH = 30  # the colour scale spans at least this many velocities
MAX_BARS = 100_000  # more bars than this: an absurd time signature, the axis is in seconds
MAX_BEATS = 1_000_000  # more beats than this: none are marked


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI note, sharps for the black keys: 60 is 'C4', 61 'C#4', 21 'A0'."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def pitch_ticks(lo: float, hi: float, max_labels: int | None = None) -> list[int]:
    """The pitches to name on a roll showing ``lo``..``hi``: the C's, or C, E and G when
    fewer than two C's are in view, or every key when even those are fewer than two.
    Over ``max_labels`` C's: every 2nd (C2, C4, C6...), 3rd... octave, C4 among them."""
    keys = range(math.ceil(lo), math.floor(hi) + 1)
    cs = [p for p in keys if p % 12 == 0]
    if len(cs) >= 2:
        every = 1 if max_labels is None else max(1, math.ceil(len(cs) / max(1, max_labels)))
        return [p for p in cs if (p // 12 - 5) % every == 0]
    picked = [p for p in keys if p % 12 in (0, 4, 7)]
    return picked if len(picked) >= 2 else list(keys)


@dataclass(frozen=True)
class Bars:
    """Where the bars and beats of a MIDI file fall, in seconds (the notes' tempo map)."""

    starts: np.ndarray  # seconds at which each bar starts, ascending
    numbers: np.ndarray  # each bar's number: 1, 2, ... (0 for a pickup bar)
    beats: np.ndarray  # seconds of every beat, bar starts included


def _merged(mid: mido.MidiFile, kind: str) -> list[tuple[int, int, int, mido.MetaMessage]]:
    """The ``kind`` meta messages of all tracks with their absolute ticks, ordered as
    ``read_midi`` merges tracks: by (tick, track, index)."""
    found = []
    for t, trk in enumerate(mid.tracks):
        tick = 0
        for i, msg in enumerate(trk):
            tick += msg.time
            if msg.type == kind:
                found.append((tick, t, i, msg))
    found.sort(key=lambda e: e[:3])
    return found


def _beat_ticks(numerator: int, denominator: int, ticks_per_beat: int) -> float:
    """Ticks per counted beat: a dotted beat in compound time (6/8, 9/8, 12/16...)."""
    unit = ticks_per_beat * 4 / denominator
    return 3 * unit if numerator % 3 == 0 and numerator > 3 and denominator >= 8 else unit


def bars_of(mid: mido.MidiFile) -> Bars | None:
    """The bars and beats of a MIDI file, or None when it has no time signature.

    A time signature takes effect at its own tick and starts a bar there (cutting
    short a bar it falls inside); before the first one, 4/4 holds (the MIDI
    default). A first bar shorter than a full bar of the metre after it is a pickup,
    bar 0, as notation programs export an anacrusis. Bars run to the end of the
    longest track. Times come from the tempo map as ``read_midi`` reads it, so they
    line up with the notes' onsets. An absurd metre (over ``MAX_BARS`` bars) gives None.
    """
    sigs = [
        (tick, m.numerator, m.denominator)
        for tick, _t, _i, m in _merged(mid, "time_signature")
        if m.numerator > 0
    ]
    if not sigs:
        return None
    metre = {tick: (n, d) for tick, n, d in sigs}  # several at one tick: the last one read holds
    changes = sorted(metre.keys() | {0})
    end_tick = max((sum(msg.time for msg in trk) for trk in mid.tracks), default=0)
    tpb = mid.ticks_per_beat
    bars: list[np.ndarray] = []
    beats: list[np.ndarray] = []
    full: list[np.ndarray] = []  # the nominal bar length in effect at each bar
    n_bars = n_beats = 0
    for t0, t1 in zip(changes, [*changes[1:], max(end_tick, changes[-1])], strict=True):
        num, den = metre.get(t0, (4, 4))
        bar_len = num * tpb * 4 / den
        beat = _beat_ticks(num, den, tpb)
        n = math.ceil((t1 - t0) / bar_len - 1e-9)
        n_bars += n
        if n_bars > MAX_BARS:
            return None
        bars.append(t0 + np.arange(n) * bar_len)
        full.append(np.full(n, bar_len))
        # bar_len is a whole number of beats, so the beats of a stretch are evenly spaced
        n = math.ceil((t1 - t0) / beat - 1e-9)
        n_beats += n
        if n_beats <= MAX_BEATS:
            beats.append(t0 + np.arange(n) * beat)
    starts = np.concatenate(bars)
    if not len(starts):
        return None
    pickup = len(starts) > 1 and starts[1] - starts[0] < np.concatenate(full)[1]
    beat_ticks = np.concatenate(beats) if n_beats <= MAX_BEATS else starts  # absurdly many: bars only
    tempo_events = _merged(mid, "set_tempo")
    tempo_ticks = [e[0] for e in tempo_events]
    tempos = [e[3].tempo for e in tempo_events]
    return Bars(
        starts=tempo_map_seconds(starts, tempo_ticks, tempos, tpb),
        numbers=np.arange(len(starts)) + (0 if pickup else 1),
        beats=tempo_map_seconds(beat_ticks, tempo_ticks, tempos, tpb),
    )


def bar_ticks(bars: Bars, lo: float, hi: float, max_labels: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The time-axis ticks for ``lo``..``hi`` seconds: labelled bar starts, their labels, unlabelled ticks.

    Every bar is labelled when at most ``max_labels`` start in view; otherwise every
    2nd, 4th, 8th... bar (1, 3, 5... or 1, 5, 9...), as few steps as keep to
    ``max_labels``, and the unlabelled ticks mark the other bars. With every bar
    labelled they mark the beats. A pickup (bar 0) is not labelled, as scores leave it
    unnumbered. Unlabelled ticks denser than ``8 * max_labels`` are left out.
    """
    eps = 1e-6
    inside = (bars.starts >= lo - eps) & (bars.starts <= hi + eps)
    n = int(inside.sum())
    every = 1
    while math.ceil(n / every) > max(1, max_labels):
        every *= 2
    labelled = inside & (bars.numbers >= 1) & ((bars.numbers - 1) % every == 0)  # not a pickup
    major = bars.starts[labelled]
    labels = [str(int(k)) for k in bars.numbers[labelled]]
    if every > 1:
        minor = bars.starts[inside & ~labelled]
    else:
        minor = bars.beats[(bars.beats >= lo - eps) & (bars.beats <= hi + eps)]
        if len(major):
            minor = minor[np.abs(minor[:, None] - major[None, :]).min(axis=1) > eps]
    if len(minor) > 8 * max_labels:
        minor = np.zeros(0)
    return major, labels, minor


def colour_range(velocities: np.ndarray, min_width: int = MIN_COLOUR_WIDTH) -> tuple[int, int]:
    """The velocities the colour scale spans: the 1st to 99th percentile of those drawn,
    widened about its middle to ``min_width`` and out to whole ``COLOUR_BAND``s, within 0..130.

    A scale over just the range in use makes the steps between, say, 40 and 60 visible,
    where one over 1..127 shows them in two near shades.
    """
    top = COLOUR_BAND * (127 // COLOUR_BAND + 1)
    if not len(velocities):
        return 0, top
    lo, hi = (float(x) for x in np.percentile(velocities, [1, 99]))
    if hi - lo < min_width:
        mid = (lo + hi) / 2
        lo, hi = mid - min_width / 2, mid + min_width / 2
    lo = COLOUR_BAND * math.floor(lo / COLOUR_BAND)
    hi = COLOUR_BAND * (math.floor(hi / COLOUR_BAND) + 1)  # bands hold [edge, next edge)
    if lo < 0:
        lo, hi = 0, hi - lo
    if hi > top:
        lo, hi = max(0, lo - (hi - top)), top
    return lo, hi


def _excerpt(notes: Notes, start: float | None, end: float | None) -> Notes:
    """Notes that start inside [start, end) seconds."""
    keep = np.ones(len(notes), dtype=bool)
    if start is not None:
        keep &= notes.onset >= start
    if end is not None:
        keep &= notes.onset < end
    return subset(notes, keep)


def _shared_bars(datas: list[bytes]) -> Bars | None:
    """The bars of the files when they all have the same (a humanized file keeps its input's
    timing); None when one has no time signature or their bars differ: the axis is in seconds."""
    found = [bars_of(mido.MidiFile(file=io.BytesIO(d))) for d in datas]
    first = found[0]
    if first is None or any(
        b is None or len(b.starts) != len(first.starts) or not np.allclose(b.starts, first.starts)
        for b in found[1:]
    ):
        return None
    return first


def _labels(paths: list[Path]) -> list[str]:
    """File names, or the paths as given where two files share a name."""
    names = [p.name for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def _legend(ax, names: list[str], colours: tuple[str, ...], inches: float) -> None:
    """Above ``ax``, what the dots and lines are: "notes of FILE" and "envelope of FILE" on one
    row when that fits in ``inches``, else an entry per file with both marks, side by side or stacked."""
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.lines import Line2D

    dots = [Line2D([], [], ls="", marker="o", ms=4, color=c, alpha=0.6) for c in colours]
    lines = [Line2D([], [], color=c, lw=1.5) for c in colours]
    pairs = list(zip(dots, lines, strict=True))
    separate = (
        [h for pair in pairs for h in pair],
        [f"{what} of {name}" for name in names for what in ("notes", "envelope")],
    )
    combined = (pairs, [f"{name}: notes, envelope" for name in names])
    renderer = ax.figure.canvas.get_renderer()
    for (handles, labels), ncols in ((separate, len(separate[1])), (combined, len(names)), (combined, 1)):
        legend = ax.legend(
            handles,
            labels,
            handler_map={tuple: HandlerTuple(ndivide=None, pad=0.3)},
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            fontsize="small",
            ncols=ncols,
            frameon=False,
            borderaxespad=0.2,
            handletextpad=0.4,
            columnspacing=1.5,
        )
        if legend.get_window_extent(renderer).width / ax.figure.dpi <= inches:
            return


def plot_files(
    paths: list[Path],
    output: Path,
    start: float | None = None,
    end: float | None = None,
    width: float = 10.0,
    height: float = 6.0,
    dpi: int = 100,
) -> None:
    """Draw one MIDI file, or up to four to compare, to ``output`` (format from its suffix: png, svg, pdf).

    ``start`` and ``end`` (seconds) pick the notes that start inside [start, end).
    """
    fig = draw_files(paths, start=start, end=end, width=width, height=height, dpi=dpi)
    try:
        fig.savefig(output, dpi=dpi)
    except (OSError, ValueError) as e:
        raise AutodynError(f"{output}: cannot write the figure ({e})") from None


def draw_files(
    paths: list[Path],
    start: float | None = None,
    end: float | None = None,
    width: float = 10.0,
    height: float = 6.0,
    dpi: int = 100,
):
    """The figure ``plot_files`` writes, a matplotlib ``Figure`` on an Agg canvas. ``fig.axes``
    holds the velocity panel, a piano roll per file (top down), then the colour bar."""
    try:
        from matplotlib import colormaps
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.cm import ScalarMappable
        from matplotlib.collections import PolyCollection
        from matplotlib.colors import BoundaryNorm
        from matplotlib.figure import Figure
        from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator
    except ImportError:
        raise AutodynError(MISSING_MATPLOTLIB) from None
    if not 1 <= len(paths) <= MAX_FILES:
        raise AutodynError(f"autodyn plot takes one file, or up to {MAX_FILES} to compare")
    scores = [read_midi(p) for p in paths]
    parts = [_excerpt(s.notes, start, end) for s in scores]
    names = _labels(paths)
    bars = _shared_bars([s.data for s in scores])
    lo = start if start is not None else min((float(n.onset.min()) for n in parts if len(n)), default=0.0)
    hi = end if end is not None else max((float(n.offset.max()) for n in parts if len(n)), default=lo + 1)
    hi = max(hi, lo + 0.1)

    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(parts) + 1, 1, height_ratios=[3] * len(parts) + [2])
    vel_ax = fig.add_subplot(grid[-1])
    rolls = [fig.add_subplot(grid[i], sharex=vel_ax) for i in range(len(parts))]
    roll_inches = (height - 1.3) * 3 / (3 * len(parts) + 2)
    drawn = np.concatenate([n.velocity for n in parts])
    v_lo, v_hi = colour_range(drawn)
    cmap = colormaps[COLOUR_MAP]
    below, above = bool((drawn < v_lo).any()), bool((drawn >= v_hi).any())
    extend = EXTENDS[below + 2 * above]  # arrows for the velocities beyond
    norm = BoundaryNorm(np.arange(v_lo, v_hi + 1, COLOUR_BAND), cmap.N, extend=extend)
    for ax, notes, name in zip(rolls, parts, names, strict=True):
        boxes = [
            ((a, p - 0.4), (b, p - 0.4), (b, p + 0.4), (a, p + 0.4))
            for a, b, p in zip(
                notes.onset, np.maximum(notes.offset, notes.onset + 0.02), notes.pitch, strict=True
            )
        ]
        ax.add_collection(PolyCollection(boxes, array=notes.velocity, cmap=cmap, norm=norm, linewidths=0))
        p_lo, p_hi = (notes.pitch.min() - 2, notes.pitch.max() + 2) if len(notes) else (58, 74)
        ax.set_ylim(p_lo, p_hi)
        ticks = pitch_ticks(p_lo, p_hi, max_labels=max(2, int(roll_inches / 0.2)))
        ax.set_yticks(ticks, [note_name(p) for p in ticks])
        for p in ticks:
            if p % 12 == 0:
                ax.axhline(p, color="#000000", alpha=0.08, lw=0.6, zorder=0)
        ax.set_ylabel("pitch")
        ax.set_title(name, fontsize="medium", loc="left")
        ax.tick_params(labelbottom=False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=rolls, label="velocity", aspect=30, extend=extend)

    colours = COLOURS[1:2] if len(parts) == 1 else COLOURS[: len(parts)]
    for notes, colour in zip(parts, colours, strict=True):
        order = np.argsort(notes.onset, kind="stable")
        t, v = notes.onset[order], notes.velocity[order]
        vel_ax.scatter(t, v, s=6, color=colour, alpha=0.5, linewidths=0)
        if len(t):
            vel_ax.plot(t, envelope(v, t), color=colour, lw=1.5)
    vel_ax.set_ylim(0, 131)  # the dots of velocity 127 whole
    vel_ax.set_ylabel("velocity")
    _legend(vel_ax, names, colours, width - 1.6)
    vel_ax.set_xlim(lo, hi)
    major, labels, minor = (
        ((), [], ()) if bars is None else bar_ticks(bars, lo, hi, max_labels=max(2, int((width - 1.5) * 3)))
    )
    if not len(major):  # no time signature, or no bar starts in view
        vel_ax.set_xlabel("time (s)")
    else:
        vel_ax.set_xticks(major, labels)
        vel_ax.xaxis.set_minor_locator(FixedLocator(minor))  # type: ignore[arg-type]  # takes arrays
        vel_ax.set_xlabel("bar")
        secs = rolls[0].secondary_xaxis("top")  # --start and --end are in seconds: show them too
        secs.xaxis.set_major_locator(MaxNLocator(nbins=max(3, int(width)), steps=[1, 2, 5, 10]))
        secs.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g} s"))
        secs.tick_params(labelsize="small", colors="#555555")
    for ax in [*rolls, vel_ax]:
        ax.grid(axis="x", which="major", color="#000000", alpha=0.12, lw=0.6)
    return fig

"""``autodyn plot``: see what humanizing did, as the paper's figures show it.

One piano roll per file with each note coloured by its velocity, and below
them, on the same time axis, every note's velocity over time with its
loudness envelope (one colour per file). Two files (before, after) are
drawn aligned for comparison. matplotlib is an optional extra
(``pip install 'autodynamics-cli[plot]'``); it draws off-screen (Agg), so
no display is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.humanize.controls import envelope
from autodynamics_cli.midi.notes import Notes, subset
from autodynamics_cli.midi.read import read_midi

MISSING_MATPLOTLIB = "autodyn plot needs matplotlib: pip install 'autodynamics-cli[plot]'"
COLOURS = ("#7f7f7f", "#d62728")  # first file grey (before), second red (after)


def _excerpt(notes: Notes, start: float | None, end: float | None) -> Notes:
    """Notes that start inside [start, end) seconds."""
    keep = np.ones(len(notes), dtype=bool)
    if start is not None:
        keep &= notes.onset >= start
    if end is not None:
        keep &= notes.onset < end
    return subset(notes, keep)


def plot_files(paths: list[Path], output: Path, start: float | None = None, end: float | None = None,
               width: float = 10.0, height: float = 6.0, dpi: int = 100) -> None:
    """Draw one or two MIDI files to ``output`` (format from its suffix: png, svg, pdf)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.cm import ScalarMappable
        from matplotlib.collections import PolyCollection
        from matplotlib.colors import Normalize
        from matplotlib.figure import Figure
    except ImportError:
        raise AutodynError(MISSING_MATPLOTLIB) from None
    if not 1 <= len(paths) <= 2:
        raise AutodynError("autodyn plot takes one file, or two to compare (before and after)")
    parts = [_excerpt(read_midi(p).notes, start, end) for p in paths]

    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(parts) + 1, 1, height_ratios=[3] * len(parts) + [2])
    vel_ax = fig.add_subplot(grid[-1])
    rolls = [fig.add_subplot(grid[i], sharex=vel_ax) for i in range(len(parts))]
    cmap, norm = "viridis", Normalize(1, 127)
    for ax, notes, path in zip(rolls, parts, paths, strict=True):
        boxes = [((a, p - 0.4), (b, p - 0.4), (b, p + 0.4), (a, p + 0.4))
                 for a, b, p in zip(notes.onset, np.maximum(notes.offset, notes.onset + 0.02),
                                    notes.pitch, strict=True)]
        ax.add_collection(PolyCollection(boxes, array=notes.velocity, cmap=cmap, norm=norm,
                                         linewidths=0))
        if len(notes):
            ax.set_ylim(notes.pitch.min() - 2, notes.pitch.max() + 2)
        ax.set_ylabel("pitch")
        ax.set_title(path.name, fontsize="medium", loc="left")
        ax.tick_params(labelbottom=False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=rolls, label="velocity", aspect=30)

    for notes, path, colour in zip(parts, paths, COLOURS[-len(parts):], strict=True):
        order = np.argsort(notes.onset, kind="stable")
        t, v = notes.onset[order], notes.velocity[order]
        vel_ax.scatter(t, v, s=6, color=colour, alpha=0.5, linewidths=0)
        if len(t):
            vel_ax.plot(t, envelope(v, t), color=colour, lw=1.5, label=f"{path.name} (envelope)")
    vel_ax.set_ylim(0, 128)
    vel_ax.set_ylabel("velocity")
    vel_ax.set_xlabel("time (s)")
    vel_ax.legend(loc="upper right", fontsize="small")
    lo = start if start is not None else min((float(n.onset.min()) for n in parts if len(n)), default=0.0)
    hi = end if end is not None else max((float(n.offset.max()) for n in parts if len(n)), default=lo + 1)
    vel_ax.set_xlim(lo, max(hi, lo + 0.1))
    try:
        fig.savefig(output, dpi=dpi)
    except (OSError, ValueError) as e:
        raise AutodynError(f"{output}: cannot write the figure ({e})") from None

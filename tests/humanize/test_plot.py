"""``autodyn plot`` (humanize/plot.py): PNGs of the asked size, and a clear line without matplotlib."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
from helpers import off, on, rich_file, simple_file, stepped_file, to_bytes, track
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.humanize import plot
from autodynamics_cli.midi.read import read_midi

runner = CliRunner()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plot_writes_png_of_the_right_size(tmp_path: Path):
    pytest.importorskip("matplotlib")
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    a.write_bytes(stepped_file())
    b.write_bytes(rich_file())
    fig = tmp_path / "one.png"
    r = runner.invoke(app, ["plot", str(a), "-o", str(fig), "--width", "4", "--height", "3", "--dpi", "50"])
    assert r.exit_code == 0, r.output
    assert _png_size(fig.read_bytes()) == (200, 150)
    fig2 = tmp_path / "two.png"
    r = runner.invoke(
        app,
        [
            "plot",
            str(a),
            str(b),
            "-o",
            str(fig2),
            "--start",
            "1",
            "--end",
            "8",
            "--width",
            "6",
            "--height",
            "4",
            "--dpi",
            "60",
        ],
    )
    assert r.exit_code == 0, r.output
    assert _png_size(fig2.read_bytes()) == (360, 240) and fig2.stat().st_size > 3000
    four = tmp_path / "four.png"  # e.g. an input and three --expression settings
    r = runner.invoke(app, ["plot", str(a), str(b), str(a), str(b), "-o", str(four), "--dpi", "40"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["plot", *[str(a)] * 5, "-o", str(fig)]).exit_code == 2


def test_plot_without_matplotlib_is_one_clear_line(tmp_path: Path):
    src = tmp_path / "a.mid"
    src.write_bytes(simple_file())
    code = (
        "import sys; sys.modules['matplotlib'] = None; from autodynamics_cli.cli.app import main; "
        f"sys.argv = ['autodyn', 'plot', {str(src)!r}, '-o', 'x.png']; main()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: autodyn plot needs matplotlib: install autodyn's [plot] extra (pip install matplotlib)"
    )


# --- labels a musician reads: note names, bars and beats, colours ------------------------------


def metred_file(
    sigs: list[tuple[int, int, int]],
    tempos: list[tuple[int, int]],
    note_ticks: list[int],
    tpb: int = 480,
    note_len: int = 120,
) -> bytes:
    """Type 1: a conductor track with time signatures ``(tick, numerator, denominator)`` and tempos
    ``(tick, microseconds per beat)``, and a piano track with a C4 at each of ``note_ticks``."""
    metas = [(t, mido.MetaMessage("time_signature", numerator=n, denominator=d)) for t, n, d in sigs]
    metas += [(t, mido.MetaMessage("set_tempo", tempo=us)) for t, us in tempos]
    events = [(t, m) for t, m in sorted(metas, key=lambda e: e[0])]
    notes = sorted(
        [(t, on(60, 70)) for t in note_ticks] + [(t + note_len, off(60)) for t in note_ticks],
        key=lambda e: (e[0], e[1].type == "note_on"),
    )

    def timed(items):
        out, now = [], 0
        for t, m in items:
            out.append(m.copy(time=t - now))
            now = t
        return track(*out)

    return to_bytes(mido.MidiFile(type=1, ticks_per_beat=tpb, tracks=[timed(events), timed(notes)]))


def _bars(data: bytes) -> plot.Bars | None:
    return plot.bars_of(mido.MidiFile(file=io.BytesIO(data)))


def test_note_names_follow_midi_60_is_c4():
    names = {60: "C4", 61: "C#4", 69: "A4", 21: "A0", 108: "C8", 0: "C-1", 127: "G9", 59: "B3", 36: "C2"}
    assert {p: plot.note_name(p) for p in names} == names
    assert plot.pitch_ticks(34, 86) == [36, 48, 60, 72, 84]  # the C's
    assert plot.pitch_ticks(58.5, 70) == [60, 64, 67]  # one C in view: C, E and G
    assert plot.pitch_ticks(61, 63) == [61, 62, 63]  # none of them: every key
    assert plot.pitch_ticks(21, 108, max_labels=4) == [36, 60, 84, 108]  # C2, C4, C6, C8


def test_bars_at_tempo_changes_land_on_the_notes_there():
    # 3/4 at 480 ticks a beat; 120 bpm, 60 bpm from bar 3, 240 bpm from the middle of bar 4
    tempos = [(0, 500_000), (2 * 1440, 1_000_000), (3 * 1440 + 480, 250_000)]
    bar_starts = [k * 1440 for k in range(6)]
    data = metred_file([(0, 3, 4)], tempos, bar_starts)
    bars = _bars(data)
    onsets = np.sort(read_midi("x.mid", data).notes.onset)
    assert bars.numbers.tolist() == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(bars.starts, [0, 1.5, 3, 6, 7.5, 8.25])
    np.testing.assert_allclose(bars.starts, onsets)  # the tempo map the notes use
    np.testing.assert_allclose(bars.beats[:7], [0, 0.5, 1, 1.5, 2, 2.5, 3])
    np.testing.assert_allclose(bars.beats[9:13], [6, 7, 7.25, 7.5])  # bar 4: 60 bpm, then 240


def test_pickup_is_bar_0_and_a_change_starts_a_bar():
    # an anacrusis of one beat (1/4), 4/4 bars, then 3/4 from the middle of bar 2, then 6/8
    sigs = [(0, 1, 4), (480, 4, 4), (480 + 1920 + 960, 3, 4), (480 + 1920 + 960 + 1440, 6, 8)]
    end = 480 + 1920 + 960 + 1440 + 2 * 1440
    bars = _bars(metred_file(sigs, [(0, 500_000)], [0, end - 120]))
    assert bars.numbers.tolist() == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(bars.starts, np.array([0, 480, 2400, 3360, 4800, 6240]) / 960)
    np.testing.assert_allclose(bars.beats[-4:], np.array([4800, 5520, 6240, 6960]) / 960)  # 6/8: 2 beats
    # before the first time signature, 4/4 holds: a late one cuts the first bar into a pickup
    late = _bars(metred_file([(960, 3, 4)], [], [0, 960 + 1440]))
    assert late.numbers.tolist()[:3] == [0, 1, 2] and late.starts[1] == pytest.approx(1.0)
    assert _bars(simple_file()) is None  # no time signature: the axis stays in seconds


def test_bar_ticks_thin_the_labels_when_many_bars_are_in_view():
    bars = plot.Bars(starts=np.arange(40) * 2.0, numbers=np.arange(1, 41), beats=np.arange(160) * 0.5)
    major, labels, minor = plot.bar_ticks(bars, 0, 80, max_labels=50)
    assert labels == [str(k) for k in range(1, 41)] and len(minor) == 120  # every bar, and the beats
    assert not set(minor) & set(major)
    major, labels, minor = plot.bar_ticks(bars, 0, 80, max_labels=10)
    assert labels == ["1", "5", "9", "13", "17", "21", "25", "29", "33", "37"]
    np.testing.assert_allclose(major, np.arange(0, 80, 8))
    assert len(minor) == 30  # the other bars, unlabelled
    assert plot.bar_ticks(bars, 0, 80, max_labels=15)[1][:3] == ["1", "5", "9"]
    assert plot.bar_ticks(bars, 0, 80, max_labels=20)[1][:3] == ["1", "3", "5"]
    major, labels, _minor = plot.bar_ticks(bars, 10, 20, max_labels=10)  # a zoomed view: bars 6 to 11
    assert labels == ["6", "7", "8", "9", "10", "11"]
    pickup = plot.Bars(starts=np.arange(41) * 2.0, numbers=np.arange(41), beats=np.arange(41) * 2.0)
    assert plot.bar_ticks(pickup, 0, 80, max_labels=30)[1][:3] == ["1", "3", "5"]
    major, labels, minor = plot.bar_ticks(pickup, 0, 7, max_labels=30)  # bar 0 is a tick, not a label
    assert labels == ["1", "2", "3"] and minor.tolist() == [0.0]


def test_colour_scale_spans_the_velocities_in_use():
    lo, hi = plot.colour_range(np.arange(40, 61))
    assert lo % plot.COLOUR_BAND == 0 and hi % plot.COLOUR_BAND == 0
    assert lo <= 40 and hi > 60 and hi - lo <= 40  # 40 and 60 are four colour bands apart
    assert plot.colour_range(np.array([49] * 50 + [96] * 50)) == (45, 100)
    lo, hi = plot.colour_range(np.full(10, 127))
    assert lo <= 127 < hi <= 130 and hi - lo >= plot.MIN_COLOUR_WIDTH
    lo, hi = plot.colour_range(np.full(10, 1))
    assert lo == 0 and hi - lo >= plot.MIN_COLOUR_WIDTH
    assert plot.colour_range(np.zeros(0, dtype=np.int64)) == (0, 130)


def test_figure_counts_bars_with_a_time_signature_and_seconds_without(tmp_path: Path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    metred, again, plain = Path("x/a.mid"), Path("y/a.mid"), Path("plain.mid")
    for path in (metred, again):
        path.parent.mkdir()
        path.write_bytes(metred_file([(0, 4, 4)], [(0, 500_000)], [k * 480 for k in range(64)]))
    plain.write_bytes(stepped_file())
    fig = plot.draw_files([metred, again], start=2.0, end=20.0)
    vel_ax, top, bottom = fig.axes[:3]
    assert vel_ax.get_xlabel() == "bar" and top.get_title(loc="left") == "x/a.mid"  # same names: paths
    assert [t.get_text() for t in vel_ax.get_xticklabels()] == [str(k) for k in range(2, 12)]  # 2 s a bar
    assert [t.get_text() for t in top.get_yticklabels()] == ["A#3", "B3", "C4", "C#4", "D4"]  # one key
    legend = [t.get_text() for t in vel_ax.get_legend().get_texts()]
    assert legend == ["notes of x/a.mid", "envelope of x/a.mid", "notes of y/a.mid", "envelope of y/a.mid"]
    narrow = plot.draw_files([metred, again], width=4, height=3)  # one entry a file, both marks
    assert [t.get_text() for t in narrow.axes[0].get_legend().get_texts()] == [
        "x/a.mid: notes, envelope",
        "y/a.mid: notes, envelope",
    ]
    one = plot.draw_files([plain])
    assert one.axes[0].get_xlabel() == "time (s)"
    assert [t.get_text() for t in one.axes[1].get_yticklabels()] == ["C3", "C4", "C5"]
    assert plot.draw_files([metred, plain]).axes[0].get_xlabel() == "time (s)"  # their bars differ
    assert plot.draw_files([metred], start=2.5, end=3.5).axes[0].get_xlabel() == "time (s)"  # in a bar
    for src, out in ((metred, tmp_path / "bars.png"), (plain, tmp_path / "secs.png")):
        r = runner.invoke(
            app, ["plot", str(src), "-o", str(out), "--width", "5", "--height", "4", "--dpi", "50"]
        )
        assert r.exit_code == 0, r.output
        assert _png_size(out.read_bytes()) == (250, 200)

"""Musician controls (issue 8): keep-dynamics, strength, range, track/channel selection, sampling."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import torch
from conftest import tiny_model
from midi_factory import off, on, rich_file, simple_file, to_bytes, track
from typer.testing import CliRunner

from autodynamics_cli.batch import expand_inputs, humanize_files, plan_outputs
from autodynamics_cli.cli import app
from autodynamics_cli.controls import (
    HumanizeOptions,
    envelope,
    finalize,
    has_dynamics,
    keep_dynamics,
    map_range,
    select_notes,
)
from autodynamics_cli.errors import AutodynError
from autodynamics_cli.humanize import predict_velocities
from autodynamics_cli.midi_io import read_midi

runner = CliRunner()
CPU = torch.device("cpu")


def stepped_file(levels: tuple[int, ...] = (40, 100, 40, 100), per_section: int = 24) -> bytes:
    """One track, sections of ``per_section`` notes (6 s each) at the given velocities."""
    msgs: list = [mido.MetaMessage("set_tempo", tempo=500_000, time=0)]
    for k, level in enumerate(levels):
        for i in range(per_section):
            pitch = 60 + (i * 5 + k) % 17
            msgs += [on(pitch, level), on(pitch - 12, level), off(pitch, time=240), off(pitch - 12)]
    return to_bytes(mido.MidiFile(type=0, ticks_per_beat=480, tracks=[track(*msgs)]))


def note_on_velocities(data: bytes) -> list[tuple[int, int, int]]:
    """(track, channel, velocity) of every sounding note_on, in file order."""
    mid = mido.MidiFile(file=io.BytesIO(data))
    return [(t, m.channel, m.velocity) for t, tr in enumerate(mid.tracks) for m in tr
            if m.type == "note_on" and m.velocity > 0]


def test_envelope_and_dynamics_detection():
    t = np.arange(96) * 0.25
    steps = np.repeat([40, 100, 40, 100], 24)
    env = envelope(steps, t)
    assert env[6:18].mean() < 45 and env[30:42].mean() > 95  # section middles keep their level
    rng = np.random.default_rng(0)
    assert has_dynamics(steps, t)
    assert not has_dynamics(np.full(96, 80), t)  # a constant export
    accents = np.full(96, 80)
    accents[::16] = 110
    assert not has_dynamics(accents, t)  # a few accents are not dynamics
    assert not has_dynamics(80 + rng.integers(-4, 5, 96), t)  # sequencer jitter neither


def test_keep_dynamics_follows_stepped_input():
    t = np.arange(96) * 0.25
    steps = np.repeat([40, 100, 40, 100], 24)
    rng = np.random.default_rng(1)
    pred = np.clip(70 + rng.normal(0, 15, 96) - np.repeat([0, 20, 0, 20], 24), 1, 127)  # model's own idea
    out = finalize(steps, pred, t, HumanizeOptions(), keep=True)
    sec = out.reshape(4, 24).mean(1)
    assert min(sec[1], sec[3]) > max(sec[0], sec[2]) + 10  # 60 apart in, contrast 0.5
    # the model's note-to-note shape survives inside each section
    dev = keep_dynamics(steps, pred, t) - pred
    assert np.corrcoef(out[30:42], pred[30:42])[0, 1] > 0.8 and dev.std() < 25


def test_strength_and_range():
    t = np.arange(50) * 0.3
    vin = np.repeat([30, 90], 25)
    pred = np.random.default_rng(2).integers(1, 128, 50)
    assert finalize(vin, pred, t, HumanizeOptions(strength=0.0), keep=True).tolist() == vin.tolist()
    assert finalize(vin, pred, t, HumanizeOptions(), keep=False).tolist() == pred.tolist()
    half = finalize(vin, pred, t, HumanizeOptions(strength=0.5), keep=False)
    assert np.abs(half - (vin + pred) / 2).max() <= 0.5
    out = finalize(vin, pred, t, HumanizeOptions(velocity_range=(40, 90)), keep=False)
    assert out.min() >= 40 and out.max() <= 90
    order = np.argsort(pred, kind="stable")
    assert np.all(np.diff(out[order]) >= 0)  # louder never becomes softer
    assert map_range(np.array([1, 127]), 20, 100).tolist() == [20, 100]
    with pytest.raises(AutodynError):
        HumanizeOptions(velocity_range=(90, 40))


def test_select_tracks_by_index_and_name_and_channels():
    data = rich_file()
    notes = read_midi("rich.mid", data).notes
    by_name = select_notes(notes, data, ("Right",), None)
    by_index = select_notes(notes, data, ("2",), None)
    assert by_name.tolist() == by_index.tolist() == (notes.track == 1).tolist()
    assert select_notes(notes, data, None, (2,)).tolist() == (notes.channel == 1).tolist()
    with pytest.raises(AutodynError, match="no track named 'violin'.*'right'"):
        select_notes(notes, data, ("violin",), None)


def _humanize(tmp_path: Path, data: bytes, options: HumanizeOptions, name: str = "in.mid"):
    src = tmp_path / name
    src.write_bytes(data)
    out = tmp_path / f"out_{name}"
    out.unlink(missing_ok=True)
    plans = plan_outputs(expand_inputs([str(src)]), str(out))
    (r,) = humanize_files(tiny_model(), plans, CPU, options=options)
    assert r.ok, r.error
    return r, out.read_bytes()


def test_untouched_tracks_and_channels_keep_their_bytes(tmp_path: Path):
    data = rich_file()
    before = note_on_velocities(data)
    r, out = _humanize(tmp_path, data, HumanizeOptions(tracks=("right",), velocity_range=(1, 2)))
    after = note_on_velocities(out)
    assert r.unselected_notes == 3 and len(after) == len(before)
    for (t, _, a), (_, _, b) in zip(before, after, strict=True):
        if t != 1:
            assert a == b  # other tracks untouched
    changed = [i for i, (x, y) in enumerate(zip(data, out, strict=True)) if x != y]
    offsets = set(read_midi("o.mid", out).notes.byte_offset[read_midi("o.mid", out).notes.track == 1])
    assert changed and set(changed) <= offsets  # only velocity bytes of the chosen track
    _, out = _humanize(tmp_path, data, HumanizeOptions(channels=(2,), velocity_range=(1, 2)))
    for (_, ch, a), (_, _, b) in zip(before, note_on_velocities(out), strict=True):
        assert a == b if ch != 1 else b <= 2


def test_auto_keep_dynamics_on_stepped_off_constant(tmp_path: Path):
    r, out = _humanize(tmp_path, stepped_file(), HumanizeOptions(), "stepped.mid")
    assert r.kept_dynamics
    vel = np.array([v for _, _, v in note_on_velocities(out)]).reshape(4, 48).mean(1)
    assert min(vel[1], vel[3]) > max(vel[0], vel[2])  # loud sections stay louder
    r, _ = _humanize(tmp_path, simple_file(40, vel=80), HumanizeOptions(), "flat.mid")
    assert not r.kept_dynamics
    r, _ = _humanize(tmp_path, stepped_file(), HumanizeOptions(keep_dynamics=False), "stepped.mid")
    assert not r.kept_dynamics


def test_temperature_seed_repeats_and_differs():
    notes = read_midi("s.mid", stepped_file()).notes
    other = read_midi("r.mid", rich_file()).notes
    model = tiny_model(feedback=False)  # the one-pass decoder
    (greedy,) = predict_velocities(model, [notes], CPU)
    a, _ = predict_velocities(model, [notes, other], CPU, temperature=1.0, seed=1)
    (b,) = predict_velocities(model, [notes], CPU, batch_size=3, temperature=1.0, seed=1)
    (c,) = predict_velocities(model, [notes], CPU, temperature=1.0, seed=2)
    assert a.tolist() == b.tolist()  # same seed, same file, whatever shares the batches
    assert a.tolist() != c.tolist() and a.tolist() != greedy.tolist()
    (g2,) = predict_velocities(model, [notes], CPU, temperature=0.0, seed=5)
    assert g2.tolist() == greedy.tolist()  # temperature 0 stays greedy
    fb = tiny_model(feedback=True)  # the step-by-step decoder samples the same way
    (x,) = predict_velocities(fb, [notes], CPU, temperature=1.0, seed=1)
    y, _ = predict_velocities(fb, [notes, other], CPU, temperature=1.0, seed=1)
    assert x.tolist() == y.tolist()


def test_cli_controls(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "song.mid"
    src.write_bytes(stepped_file())
    out = tmp_path / "out.mid"
    r = runner.invoke(app, ["humanize", str(src), "-o", str(out), "-m", str(tiny_weights), "--strength", "0"])
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == src.read_bytes()  # strength 0: the input, byte for byte
    args = ["humanize", str(src), "-o", str(out), "-m", str(tiny_weights), "--overwrite"]
    r = runner.invoke(app, [*args, "--range", "30", "50", "--temperature", "0.8", "--seed", "3",
                            "--channels", "1-2", "--tracks", "1", "--no-keep-dynamics"])
    assert r.exit_code == 0, r.output
    assert {v for _, _, v in note_on_velocities(out.read_bytes())} <= set(range(30, 51))
    assert runner.invoke(app, [*args, "--range", "90", "30"]).exit_code == 2
    assert runner.invoke(app, [*args, "--channels", "17"]).exit_code == 2
    assert runner.invoke(app, [*args, "--strength", "1.5"]).exit_code == 2
    r = runner.invoke(app, [*args, "--tracks", "Violin"])
    assert r.exit_code == 1 and "no track named 'Violin'" in r.output


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
    r = runner.invoke(app, ["plot", str(a), str(b), "-o", str(fig2), "--start", "1", "--end", "8",
                            "--width", "6", "--height", "4", "--dpi", "60"])
    assert r.exit_code == 0, r.output
    assert _png_size(fig2.read_bytes()) == (360, 240) and fig2.stat().st_size > 3000
    assert runner.invoke(app, ["plot", str(a), str(b), str(a), "-o", str(fig)]).exit_code == 2


def test_plot_without_matplotlib_is_one_clear_line(tmp_path: Path):
    src = tmp_path / "a.mid"
    src.write_bytes(simple_file())
    code = ("import sys; sys.modules['matplotlib'] = None; from autodynamics_cli.cli import main; "
            f"sys.argv = ['autodyn', 'plot', {str(src)!r}, '-o', 'x.png']; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: autodyn plot needs matplotlib: pip install 'autodynamics-cli[plot]'"


def test_help_imports_neither_torch_nor_matplotlib():
    code = ("import sys; from autodynamics_cli.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner(); assert r.invoke(app, ['humanize', '--help']).exit_code == 0; "
            "assert r.invoke(app, ['plot', '--help']).exit_code == 0; "
            "assert not {'torch', 'matplotlib'} & set(sys.modules), 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)

"""Musician controls (issue 8): keep-dynamics, strength, range, track/channel selection, staves."""

from __future__ import annotations

import io
import json
from pathlib import Path

import mido
import numpy as np
import pytest
from helpers import (
    STAFF_TAGGER,
    TAGGER,
    cli,
    off,
    on,
    rich_file,
    simple_file,
    stepped_file,
    tiny_model,
    to_bytes,
    track,
)
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.errors import AutodynError
from autodynamics_cli.humanize.controls import (
    HumanizeOptions,
    dynamics_mode,
    envelope,
    finalize,
    has_dynamics,
    humanized_velocities,
    keep_dynamics,
    map_range,
    select_notes,
)
from autodynamics_cli.humanize.files import humanize_files
from autodynamics_cli.humanize.inputs import expand_inputs, plan_outputs
from autodynamics_cli.inference.model import Model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.midi.notes import Notes
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.model.weights_file import save_model

runner = CliRunner()


def note_on_velocities(data: bytes) -> list[tuple[int, int, int]]:
    """(track, channel, velocity) of every sounding note_on, in file order."""
    mid = mido.MidiFile(file=io.BytesIO(data))
    return [
        (t, m.channel, m.velocity)
        for t, tr in enumerate(mid.tracks)
        for m in tr
        if m.type == "note_on" and m.velocity > 0
    ]


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
    (r,) = humanize_files(Model.from_network(tiny_model()), plans, options=options)
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
    """A model that reads no input velocities (the tiny one): by default the envelope, where dynamics are."""
    r, out = _humanize(tmp_path, stepped_file(), HumanizeOptions(), "stepped.mid")
    assert r.kept_dynamics and r.dynamics == "envelope"
    vel = np.array([v for _, _, v in note_on_velocities(out)]).reshape(4, 48).mean(1)
    assert min(vel[1], vel[3]) > max(vel[0], vel[2])  # loud sections stay louder
    r, _ = _humanize(tmp_path, simple_file(40, vel=80), HumanizeOptions(), "flat.mid")
    assert not r.kept_dynamics and r.dynamics == "model-only"
    r, _ = _humanize(tmp_path, stepped_file(), HumanizeOptions(keep_dynamics=False), "stepped.mid")
    assert not r.kept_dynamics and r.dynamics == "model-only"


def _notes(velocity) -> Notes:
    n = len(velocity)
    return Notes.table(
        onset=np.arange(n) * 0.25, offset=np.arange(n) * 0.25 + 0.2, pitch=60, velocity=velocity
    )


STEPPED = [40] * 48 + [100] * 48  # written dynamics: p, then f
JITTER = [80, 81] * 48  # velocities that vary, but no dynamics to keep
FLAT = [127] * 96


@pytest.mark.parametrize(
    ("velocity", "keep", "reads", "mode"),
    [
        # the bundled model reads notated velocities
        (STEPPED, None, True, "model-reads"),  # default: read, no envelope
        (JITTER, None, True, "model-reads"),  # the model sees them (they vary)
        (FLAT, None, True, "model-only"),  # all equal: nothing to read
        (STEPPED, True, True, "envelope"),  # --keep-dynamics: the envelope laid over too
        (FLAT, True, True, "envelope"),  # laid over, though flat: it flattens the model's own
        (STEPPED, False, True, "model-only"),  # --no-keep-dynamics: hidden
        # a model that reads none: the envelope is how dynamics are kept
        (STEPPED, None, False, "envelope"),
        (JITTER, None, False, "model-only"),
        (FLAT, None, False, "model-only"),
        (STEPPED, True, False, "envelope"),
        (STEPPED, False, False, "model-only"),
    ],
)
def test_dynamics_mode_says_what_ran(velocity, keep, reads, mode):
    notes = _notes(velocity)
    options = HumanizeOptions(keep_dynamics=keep)
    assert dynamics_mode(notes, options, reads) == mode
    pred = np.full(len(notes), 60) + np.arange(len(notes)) % 7
    out, got = humanized_velocities(notes, pred, options, reads)
    assert got == mode
    np.testing.assert_array_equal(
        out, finalize(notes.velocity, pred, notes.onset, options, mode == "envelope")
    )


def test_the_report_and_summary_say_which_dynamics_ran(tmp_path: Path, capsys, monkeypatch):
    """Through the command with a model that reads notated velocities: the default reads them, no envelope."""
    weights = tmp_path / "tagger.safetensors"
    save_model(weights, tiny_model(seed=1, **TAGGER))
    (tmp_path / "stepped.mid").write_bytes(stepped_file())
    (tmp_path / "flat.mid").write_bytes(simple_file(40, vel=127))
    ins = [tmp_path / "stepped.mid", tmp_path / "flat.mid"]
    for flag, modes in (
        (None, ["model-reads", "model-only"]),
        ("--keep-dynamics", ["envelope", "envelope"]),
        ("--no-keep-dynamics", ["model-only", "model-only"]),
    ):
        out = tmp_path / str(flag)
        args = ["humanize", *ins, "-o", out, "-m", weights, "--json", *([flag] if flag else [])]
        code, stdout, err = cli(capsys, monkeypatch, *args)
        assert code == 0, err
        report = json.loads(stdout)
        got = [(f["dynamics"], f["kept_dynamics"]) for f in report["files"]]
        assert got == [(m, m != "model-only") for m in modes]
        assert report["summary"]["dynamics"] == {
            m: modes.count(m) for m in ("model-reads", "envelope", "model-only")
        }
    code, _, err = cli(capsys, monkeypatch, "humanize", *ins, "-o", tmp_path / "words", "-m", weights)
    assert code == 0
    assert "; dynamics: read from the input by the model in 1 file(s), the model's own in 1 file(s)" in err
    code, _, err = cli(
        capsys, monkeypatch, "humanize", ins[0], "-o", tmp_path / "e.mid", "-m", weights, "--keep-dynamics"
    )
    assert code == 0 and "; dynamics: the input's loudness envelope laid over in 1 file(s)" in err


def test_cli_controls(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "song.mid"
    src.write_bytes(stepped_file())
    out = tmp_path / "out.mid"
    r = runner.invoke(app, ["humanize", str(src), "-o", str(out), "-m", str(tiny_weights), "--strength", "0"])
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == src.read_bytes()  # strength 0: the input, byte for byte
    args = ["humanize", str(src), "-o", str(out), "-m", str(tiny_weights), "--overwrite"]
    r = runner.invoke(
        app,
        [
            *args,
            "--range",
            "30",
            "50",
            "--temperature",
            "0.8",
            "--seed",
            "3",
            "--channels",
            "1-2",
            "--tracks",
            "1",
            "--no-keep-dynamics",
        ],
    )
    assert r.exit_code == 0, r.output
    assert {v for _, _, v in note_on_velocities(out.read_bytes())} <= set(range(30, 51))
    assert runner.invoke(app, [*args, "--range", "90", "30"]).exit_code == 2
    assert runner.invoke(app, [*args, "--channels", "17"]).exit_code == 2
    assert runner.invoke(app, [*args, "--strength", "1.5"]).exit_code == 2
    r = runner.invoke(app, [*args, "--tracks", "Violin"])
    assert r.exit_code == 1 and "no track named 'Violin'" in r.output


def test_humanize_can_read_a_multi_track_file_as_one_part(tmp_path: Path):
    """`autodyn humanize --no-read-staves`: for files whose tracks are not staves."""
    right = track(*[m for i in range(12) for m in (on(72 + i % 5, time=0), off(72 + i % 5, time=240))])
    left = track(*[m for i in range(12) for m in (on(48 + i % 3, time=0), off(48 + i % 3, time=240))])
    src = tmp_path / "two_staves.mid"
    src.write_bytes(to_bytes(mido.MidiFile(type=1, ticks_per_beat=480, tracks=[right, left])))
    weights = tmp_path / "staff.safetensors"
    model = tiny_model(seed=3, staff=True, **STAFF_TAGGER)
    save_model(weights, model)
    notes = read_midi(src).notes
    got = {}
    for flag in ("--read-staves", "--no-read-staves"):
        out = tmp_path / f"{flag}.mid"
        r = CliRunner().invoke(app, ["humanize", str(src), "-o", str(out), "-m", str(weights), flag])
        assert r.exit_code == 0, r.output
        got[flag] = read_midi(out).notes.velocity.tolist()
    for flag, staves in (("--read-staves", True), ("--no-read-staves", False)):
        (want,) = predict_velocities(Model.from_network(model), [notes], read_staves=staves)
        assert got[flag] == want.tolist()
    assert got["--read-staves"] != got["--no-read-staves"]


# --- --expression (issue 21): flat at the piece's level, through the default, to exaggerated ---------


def _expression_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 300
    onset = np.sort(rng.uniform(0, 90, n))
    vin = rng.choice([40, 64, 96], n)  # written dynamics, so --keep-dynamics has something to keep
    pred = np.clip(rng.normal(62, 12, n), 1, 127).round().astype(np.int64)
    return vin, pred, onset


@pytest.mark.parametrize("keep", [False, True])
def test_expression_zero_is_flat_at_the_pieces_level(keep):
    vin, pred, onset = _expression_case(0)
    out = finalize(vin, pred, onset, HumanizeOptions(expression=0.0), keep)
    default = finalize(vin, pred, onset, HumanizeOptions(), keep)
    assert out.std() == 0
    assert abs(int(out[0]) - default.mean()) <= 1  # the level the default plays at


def test_expression_one_is_the_model_and_scales_the_spread():
    vin, pred, onset = _expression_case(1)
    np.testing.assert_array_equal(finalize(vin, pred, onset, HumanizeOptions(expression=1.0), False), pred)
    for x in (0.5, 1.5):
        out = finalize(vin, pred, onset, HumanizeOptions(expression=x), False)
        assert out.std() == pytest.approx(x * pred.std(), rel=0.03)  # rounding, a little clipping
        assert out.mean() == pytest.approx(pred.mean(), abs=1.0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("x", [0.25, 1.0, 1.6, 2.0])
def test_every_expression_above_flat_keeps_the_order_of_loudness(seed, x):
    vin, pred, onset = _expression_case(seed)
    for opts in (HumanizeOptions(expression=x), HumanizeOptions(expression=x, velocity_range=(20, 110))):
        out = finalize(vin, pred, onset, opts, False)
        order = np.argsort(pred, kind="stable")
        assert np.all(np.diff(out[order]) >= 0)  # louder never softer (ties only from rounding/clipping)
    # with --keep-dynamics the order is that of the input's envelope plus the model's deviations
    mixed = np.clip(keep_dynamics(vin.astype(float), pred, onset), 1, 127)
    out = finalize(vin, pred, onset, HumanizeOptions(expression=x), True)
    order = np.argsort(mixed, kind="stable")
    assert np.all(np.diff(out[order]) >= 0)


def test_expression_outside_its_range_is_refused():
    for bad in (-0.1, 2.5):
        with pytest.raises(AutodynError, match="--expression"):
            HumanizeOptions(expression=bad)
    r = CliRunner().invoke(app, ["humanize", "x.mid", "--expression", "3"])
    assert r.exit_code == 2 and "expression" in r.output

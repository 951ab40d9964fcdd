"""The engines agree: torch cached, the reference decoder and numpy give the same velocities.

Float32 logits differ between the engines by about 1e-6, so both read velocities with
``numpy_engine.close_readout`` and hand close calls to the same float64 ``Referee``
(``scripts/engine_agreement.py`` measures how close the engines come).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import (
    CPU,
    NOTE_TAGGER,
    STAFF_COLUMNS,
    STAFF_TAGGER,
    TAGGER,
    as_numpy,
    assert_engines_agree_and_read,
    decode_reference,
    performance,
    piece,
    random_window,
    rich_file,
    stepped_file,
    tiny_model,
    windows_with,
)
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.inference import readout as RO
from autodynamics_cli.inference.model import Model, load_model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.inference.readout import close_readout
from autodynamics_cli.inference.torch_engine import decode_cached
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.model.numpy_net import NumpyTagger


@pytest.mark.parametrize("readout", ["argmax", "mean"])
def test_cached_numpy_and_reference_agree(readout):
    """The note-token tagger: the same velocities on every path."""
    model = tiny_model(seed=8, n_dec_layers=2, readout=readout, **NOTE_TAGGER)
    with torch.no_grad():  # sharpen the logits so a real mismatch changes velocities
        model.head.weight.mul_(50)
    rng = np.random.default_rng(9)
    items = [random_window(rng, n) for n in (1, 6, 18, 9, 21)]
    fast = decode_cached(model, items, CPU, batch_size=2)
    assert [f.tolist() for f in fast] == [decode_reference(model, w, CPU).tolist() for w in items]
    got = as_numpy(model).velocities(items, batch_size=2)
    assert [g.tolist() for g in got] == [f.tolist() for f in fast]
    assert len({v for f in fast for v in f.tolist()}) > 5  # not a comparison between constants


def test_engines_agree_on_a_lead_model():
    model = tiny_model(seed=8, n_dec_layers=2, readout="mean", onset_lead=True, **NOTE_TAGGER)
    items = windows_with((NF.LEAD_COLUMN,), 9, (1, 6, 18, 9))
    assert_engines_agree_and_read(model, items, NF.LEAD_COLUMN)


def test_engines_agree_on_a_staff_model():
    model = tiny_model(seed=8, n_dec_layers=2, readout="mean", staff=True, **STAFF_TAGGER)
    items = windows_with(STAFF_COLUMNS, 9, (1, 6, 18, 9))
    assert_engines_agree_and_read(model, items, NF.STAFF_COLUMN)


def test_cli_engines_write_identical_files(tmp_path: Path):
    """The bundled model through numpy and through torch: byte-identical outputs."""
    src = tmp_path / "in.mid"
    src.write_bytes(piece())
    outs = {}
    for engine in ("numpy", "torch"):
        out = tmp_path / f"{engine}.mid"
        r = CliRunner().invoke(
            app, ["humanize", str(src), "-o", str(out), "--device", "cpu", "--engine", engine]
        )
        assert r.exit_code == 0, r.output
        outs[engine] = out.read_bytes()
    assert outs["numpy"] == outs["torch"] != src.read_bytes()


def _logits_of(probs: dict[int, float]) -> np.ndarray:
    """Float32 velocity logits whose softmax puts ``probs`` on those velocities (1..127), 0 elsewhere."""
    logits = np.full(T.N_VELOCITY, -1e4, dtype=np.float32)
    for v, p in probs.items():
        logits[v - 1] = np.log(p)
    return logits


def test_close_readout_flags_what_float32_could_tip():
    margin = RO.CLOSE_CALL
    rows = np.stack(
        [
            _logits_of({64: 0.5 - margin / 4, 65: 0.5 + margin / 4}),  # mean 64.5 + margin/4
            _logits_of({64: 0.5 - 4 * margin, 65: 0.5 + 4 * margin}),  # mean 64.5 + 4 margin
            _logits_of({10: 0.3, 100: 0.7}),
        ]
    )  # mean 73.3
    vel, close = close_readout(rows, "mean")
    assert vel.tolist() == [65, 65, 73] and close.tolist() == [True, False, False]
    gaps = np.zeros((2, T.N_VELOCITY), dtype=np.float32)
    gaps[:, 40], gaps[0, 90], gaps[1, 90] = 5.0, 5.0 + margin / 4, 5.0 + 4 * margin
    vel, close = close_readout(gaps, "argmax")
    assert vel.tolist() == [91, 91] and close.tolist() == [True, False]


def _generated_notes():
    files = [piece(), stepped_file(), rich_file(), performance(4, n=100)]
    return [read_midi(f"gen{i}.mid", data).notes for i, data in enumerate(files)]


@pytest.mark.parametrize("readout", ["mean", "argmax"])
def test_engines_agree_on_generated_files(readout):
    """Random tiny taggers (both layouts), both engines, generated files: the same velocities."""
    notes = _generated_notes()
    seen = set()
    for seed in range(3):
        layout = NOTE_TAGGER if seed % 2 else TAGGER
        model = tiny_model(seed=seed, readout=readout, max_decoder_len=512, **layout)
        with torch.no_grad():  # sharpen the logits: velocities spread, readouts fall anywhere
            model.head.weight.mul_(30)
        got = predict_velocities(as_numpy(model, workers=2), notes)
        want = predict_velocities(Model.from_network(model), notes)
        assert [g.tolist() for g in got] == [w.tolist() for w in want], f"seed {seed}"
        seen |= {v for w in want for v in w.tolist()}
    assert len(seen) > 10  # not a comparison between constants


def _add_float32_noise(monkeypatch, model, size: float) -> None:
    """Independent noise of up to ``size`` on every float32 logit of either engine (not the referee's)."""
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    numpy_logits, torch_logits = NumpyTagger.velocity_logits, model.velocity_logits

    def noisy_numpy(self, *a):
        out = numpy_logits(self, *a)
        if self.dtype == np.float64:
            return out
        return out + rng.uniform(-size, size, out.shape).astype(np.float32)

    def noisy_torch(*a):
        out = torch_logits(*a)
        return out + (torch.rand(out.shape, generator=gen) * 2 - 1) * size

    monkeypatch.setattr(NumpyTagger, "velocity_logits", noisy_numpy)
    monkeypatch.setattr(model, "velocity_logits", noisy_torch)


@pytest.mark.parametrize("readout", ["mean", "argmax"])
def test_close_calls_make_the_engines_agree_despite_float32_noise(monkeypatch, readout):
    """Logit noise far above float32's (1e-3) tips readouts between the engines unless the referee
    settles the close calls; with a margin above what the noise can move a readout, they agree,
    and on the referee's answer."""
    model = tiny_model(seed=3, n_dec_layers=2, readout=readout, max_decoder_len=1024, **NOTE_TAGGER)
    with torch.no_grad():  # mean: velocities spread; argmax: the top logits close together
        model.head.weight.mul_(30 if readout == "mean" else 0.3)
    items = [random_window(np.random.default_rng(5), n) for n in (60, 150, 100, 200)]
    noise = 1e-3
    _add_float32_noise(monkeypatch, model, noise)

    def both():
        a = as_numpy(model, workers=2).velocities(items, batch_size=4)
        b = Model.from_network(model).velocities(items, batch_size=4)
        return [x.tolist() for x in a], [x.tolist() for x in b]

    monkeypatch.setattr(RO, "CLOSE_CALL", 0.0)  # no referee: the noise shows
    plain_numpy, plain_torch = both()
    assert plain_numpy != plain_torch
    # the noise moves an expected velocity by at most 63 * noise (half the range times the
    # largest logit change), the gap between the top two logits by at most 2 * noise
    monkeypatch.setattr(RO, "CLOSE_CALL", 0.15 if readout == "mean" else 3e-3)
    settled_numpy, settled_torch = both()
    assert settled_numpy == settled_torch
    monkeypatch.setattr(RO, "CLOSE_CALL", np.inf)  # every window read by the referee
    assert both() == (settled_numpy, settled_numpy)


# Before the referee, the engines differed by one on a note of each of these (with one BLAS
# thread and with two; scripts/engine_agreement.py scores).
SHARED_SCORES = ("Bach/Fugue/bwv_873", "Chopin/Sonata_2/3rd_no_repeat")


def test_bundled_model_engines_agree_on_shared_scores(shared_data):
    """The bundled model through numpy and through torch on real scores: identical velocities."""
    notes = [read_midi(shared_data / "asap-scores" / name / "midi_score.mid").notes for name in SHARED_SCORES]
    got = predict_velocities(load_model(None, device="cpu", engine="numpy"), notes)
    want = predict_velocities(load_model(None, device="cpu", engine="torch"), notes)
    assert [g.tolist() for g in got] == [w.tolist() for w in want]


def test_engines_agree_on_a_markings_model():
    model = tiny_model(seed=8, n_dec_layers=2, readout="mean", staff=True, markings=True, **STAFF_TAGGER)
    items = windows_with(NF.MARKING_COLUMNS, 9, (1, 6, 18, 9))
    assert_engines_agree_and_read(model, items, NF.MARKING_COLUMNS[0])

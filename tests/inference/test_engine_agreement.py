"""The engines agree: torch cached, the reference decoder and numpy give the same velocities."""

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
    as_numpy,
    assert_engines_agree_and_read,
    decode_reference,
    piece,
    random_window,
    tiny_model,
    windows_with,
)
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.inference.torch_engine import decode_cached


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
        r = CliRunner().invoke(app, ["humanize", str(src), "-o", str(out), "--device", "cpu",
                                     "--engine", engine])
        assert r.exit_code == 0, r.output
        outs[engine] = out.read_bytes()
    assert outs["numpy"] == outs["torch"] != src.read_bytes()

"""The onset-lead note feature: timing finer than a roll step (note_features.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_model
from test_decoding import random_window
from test_numpy_engine import as_numpy
from test_train_eval import dataset  # noqa: F401 (a fixture)
from typer.testing import CliRunner

from autodynamics_cli import note_features as NF
from autodynamics_cli import tokens as T
from autodynamics_cli.cli import app
from autodynamics_cli.data import make_window
from autodynamics_cli.decoding import _full_inputs, _stack, decode_cached, decode_reference
from autodynamics_cli.humanize import model_features
from autodynamics_cli.midi_io import Notes
from autodynamics_cli.model_spec import feature_layout
from autodynamics_cli.train import init_weights
from autodynamics_cli.weights import load_model, save_model

CPU = torch.device("cpu")
NOTE_TAGGER = dict(feedback=False, causal_decoder=False, note_features=True, input_velocity=True,
                   note_tokens=True)


def test_lead_buckets_of_a_rolled_chord():
    # a chord spread over 24 ms, then a lone note, then two notes 100 ms apart
    onset = np.array([1.012, 1.024, 1.000, 2.0, 3.0, 3.1])
    got = NF.onset_lead_bucket(onset)
    # chord mean 1.012 s: the early note leads by -12 ms (bucket 2), the late one +12 ms (6)
    assert got.tolist() == [4, 6, 2, 4, 4, 4]
    assert NF.onset_lead_bucket(np.zeros(0)).tolist() == []
    # the order of the notes does not matter
    perm = np.array([5, 2, 0, 4, 1, 3])
    assert NF.onset_lead_bucket(onset[perm]).tolist() == got[perm].tolist()


def test_bucket_edges():
    # two notes d ms apart lead by -d/2 and +d/2
    for d, (a, b) in {4.0: (4, 4), 10.0: (3, 5), 20.0: (2, 6), 36.0: (1, 7)}.items():
        assert NF.onset_lead_bucket(np.array([5.0, 5.0 + d / 1000])).tolist() == [a, b]
    # beyond the 40 ms radius notes are not neighbours
    assert NF.onset_lead_bucket(np.array([5.0, 5.05])).tolist() == [4, 4]


def test_scores_and_missing_onsets_are_on_time():
    on_step = np.array([0, 0, 0, 10, 20])
    pitch = np.array([60, 64, 67, 62, 65])
    quantized = on_step * 0.05
    assert (NF.note_features(on_step, pitch)[:, NF.LEAD_COLUMN] == NF.LEAD_NONE).all()
    assert (NF.note_features(on_step, pitch, None, quantized)[:, NF.LEAD_COLUMN] == NF.LEAD_NONE).all()


def test_training_windows_see_the_lead_inference_sees():
    rng = np.random.default_rng(4)
    n = 400
    onset = np.sort(rng.uniform(0, 60, n))
    onset[1::4] = onset[::4][: len(onset[1::4])] + rng.uniform(-0.03, 0.03, len(onset[1::4]))
    pitch = rng.integers(21, 109, n)
    on = np.floor(onset / 0.05).astype(np.int64)
    end = on + 5
    notes = Notes(onset=onset, offset=onset + 0.25, pitch=pitch, velocity=np.full(n, 64),
                  channel=np.zeros(n, np.int64), track=np.zeros(n, np.int64),
                  byte_offset=np.arange(n))
    whole = model_features(tiny_model(**NOTE_TAGGER, onset_lead=True), notes)
    assert len(set(whole[:, NF.LEAD_COLUMN].tolist())) >= 5  # the test data has leads to see
    start = 300
    w = make_window(on, end, pitch, np.full(n, 64), np.ones(n, bool), start, 256, 1000, 0.0,
                    None, None, onset)
    inside = np.flatnonzero((on >= start) & (on < start + 256))
    inside = inside[T.note_order(on[inside], pitch[inside])]
    assert w.features[1::3, NF.LEAD_COLUMN].tolist() == whole[inside, NF.LEAD_COLUMN].tolist()


def test_layout_appends_the_lead_rows():
    cfg = tiny_model(**NOTE_TAGGER).cfg
    used, offset, rows = feature_layout(cfg)
    used2, offset2, rows2 = feature_layout(replace(cfg, onset_lead=True))
    assert not used[NF.LEAD_COLUMN] and used2[NF.LEAD_COLUMN]
    assert rows2 == rows + NF.FEATURE_SIZES[NF.LEAD_COLUMN] and offset2[NF.LEAD_COLUMN] == rows
    assert (offset2[used] == offset[used]).all()


def windows_with(columns: tuple[int, ...], seed: int, sizes: tuple[int, ...]) -> list:
    """Random windows whose feature ``columns`` hold random values."""
    rng = np.random.default_rng(seed)
    items = [random_window(rng, n) for n in sizes]
    for w in items:
        for c in columns:
            w.features[:, c] = rng.integers(0, NF.FEATURE_SIZES[c], len(w.features))
    return items


def assert_engines_agree_and_read(model, items: list, column: int) -> None:
    """Torch cached, reference and numpy decoding agree; changing ``column`` changes velocities."""
    with torch.no_grad():
        model.head.weight.mul_(50)
    fast = decode_cached(model, items, CPU, batch_size=2)
    assert [f.tolist() for f in fast] == [decode_reference(model, w, CPU).tolist() for w in items]
    assert [g.tolist() for g in as_numpy(model).velocities(items, batch_size=2)] == \
        [f.tolist() for f in fast]
    for w in items:  # the column is read: other values, other velocities
        w.features[:, column] = (w.features[:, column] + 1) % NF.FEATURE_SIZES[column]
    moved = decode_cached(model, items, CPU, batch_size=2)
    assert [m.tolist() for m in moved] != [f.tolist() for f in fast]


def assert_init_keeps_the_logits(src, dst, items: list, tmp_path: Path) -> None:
    """``init_weights(dst, src)`` with added feature rows: dst computes what src did."""
    for p in src.parameters():
        torch.nn.init.normal_(p, std=0.3)
    save_model(tmp_path / "src.safetensors", src)
    init_weights(dst, tmp_path / "src.safetensors")
    x = _stack(items, CPU)
    inputs = _full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    with torch.inference_mode():
        want = src.decode(*inputs[:3], src.encode(x.roll), inputs[3])
        got = dst.decode(*inputs[:3], dst.encode(x.roll), inputs[3])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_engines_agree_on_a_lead_model():
    model = tiny_model(seed=8, n_dec_layers=2, readout="mean", onset_lead=True, **NOTE_TAGGER)
    items = windows_with((NF.LEAD_COLUMN,), 9, (1, 6, 18, 9))
    assert_engines_agree_and_read(model, items, NF.LEAD_COLUMN)


def test_init_from_a_model_without_the_lead(tmp_path: Path):
    """The lead's rows start at zero: the new model computes what the source did."""
    dst = tiny_model(seed=5, onset_lead=True, **NOTE_TAGGER)
    items = windows_with((NF.LEAD_COLUMN,), 3, (5, 12))
    assert_init_keeps_the_logits(tiny_model(seed=4, **NOTE_TAGGER), dst, items, tmp_path)
    rows = NF.FEATURE_SIZES[NF.LEAD_COLUMN]
    assert dst.feat_emb.weight[-rows:].abs().sum() == 0
    # not the other way round: a model without the lead cannot drop the source's rows
    save_model(tmp_path / "lead.safetensors", dst)
    with pytest.raises(Exception, match="do not fit"):
        init_weights(tiny_model(**NOTE_TAGGER), tmp_path / "lead.safetensors")
    # nor can rows be inserted before the source's (the notated velocity's come before the lead's)
    plain = tiny_model(feedback=False, causal_decoder=False, note_features=True, note_tokens=True,
                       onset_lead=True)
    save_model(tmp_path / "plain.safetensors", plain)
    with pytest.raises(Exception, match="do not fit"):
        init_weights(tiny_model(onset_lead=True, **NOTE_TAGGER), tmp_path / "plain.safetensors")


def trained_with(flag: str, data: Path, out: Path):
    """The config of a one-step tiny run trained with ``flag`` (a feature switch of `autodyn train`)."""
    r = CliRunner().invoke(app, ["train", "--data", str(data), "--out", str(out), "--preset", "tiny",
                                 "--max-steps", "1", "--batch-size", "2", "--threads", "1",
                                 "--eval-minutes", "0", "--device", "cpu", flag])
    assert r.exit_code == 0, r.output
    return load_model(str(out / "best.safetensors")).cfg


def test_cli_flag_reaches_the_config(dataset: Path, tmp_path: Path):  # noqa: F811
    assert trained_with("--onset-lead", dataset, tmp_path / "run").onset_lead

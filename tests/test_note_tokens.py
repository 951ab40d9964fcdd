"""The note-token tagger: one decoder position per note, the same velocities on every path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_model
from test_decoding import random_window
from test_numpy_engine import as_numpy
from test_train_eval import dataset, tiny_cfg  # noqa: F401 (dataset is a fixture)
from typer.testing import CliRunner

from autodynamics_cli import tokens as T
from autodynamics_cli.cli import app
from autodynamics_cli.data import collate, make_window
from autodynamics_cli.decoding import _full_inputs, _stack, decode_cached, decode_reference
from autodynamics_cli.model import AutoDynamics, ModelConfig
from autodynamics_cli.train import train
from autodynamics_cli.weights import load_model, save_model

CPU = torch.device("cpu")
NOTE_TAGGER = dict(feedback=False, causal_decoder=False, note_features=True, input_velocity=True,
                   note_tokens=True)


def test_note_tokens_need_a_tagger():
    with pytest.raises(ValueError, match="tagger"):
        ModelConfig(note_tokens=True, causal_decoder=True, velocity_feedback=False)
    assert ModelConfig(causal_decoder=False, velocity_feedback=False,
                       note_tokens=True).positions_per_note == 1


def test_one_decoder_row_per_note():
    model = tiny_model(seed=3, **NOTE_TAGGER)
    rng = np.random.default_rng(2)
    x = _stack([random_window(rng, n) for n in (4, 11, 7)], CPU)
    inputs = _full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    with torch.inference_mode():
        mem = model.encode(x.roll)
        full = model.decode(*inputs[:3], mem, inputs[3])
        fast = model.velocity_logits(*inputs[:3], mem, inputs[3])
    assert full.shape[:2] == x.pitch.shape  # not 3n + 1 positions
    real = x.pitch != T.PAD
    torch.testing.assert_close(fast[real], full[..., T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY][real])


def test_padding_notes_change_nothing():
    """A window's velocities do not depend on the longer windows batched with it."""
    model = tiny_model(seed=5, **NOTE_TAGGER)
    with torch.no_grad():
        model.head.weight.mul_(50)
    rng = np.random.default_rng(7)
    items = [random_window(rng, n) for n in (3, 20)]
    alone = decode_cached(model, items[:1], CPU)
    together = decode_cached(model, items, CPU, batch_size=2)
    assert alone[0].tolist() == together[0].tolist()


@pytest.mark.parametrize("readout", ["argmax", "mean"])
def test_cached_numpy_and_reference_agree(readout):
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


def test_loss_reads_the_velocity_targets_only():
    """Training a note-token model: a row per note, its target the note's velocity."""
    model = tiny_model(seed=1, **NOTE_TAGGER).train()
    on = np.array([0, 4, 4, 9]); end = on + 3  # noqa: E702
    pitch = np.array([60, 64, 67, 72]); vel = np.array([30, 50, 70, 90])  # noqa: E702
    s = make_window(on, end, pitch, vel, np.array([True, True, False, True]), 0, 256, 100, 0.0,
                    np.ones(4, dtype=bool), None)
    b = {k: torch.from_numpy(v) for k, v in collate([s]).items()}
    logits, loss = model(b["roll"], b["tokens"], b["onsets"], b["roles"], b["targets"],
                         b["weights"], "ce", b["features"])
    assert logits.shape[1] == 4
    per = torch.nn.functional.cross_entropy(logits[0], torch.from_numpy(T.velocity_token(vel)),
                                            reduction="none")
    assert loss.item() == pytest.approx(per[[0, 1, 3]].sum().item(), rel=1e-5)  # note 3: no target


def test_ev_loss_is_the_squared_error_of_the_mean_readout():
    """``ev``: velocity targets score (expected velocity - target)^2; others keep cross-entropy."""
    from autodynamics_cli.model import EV_SCALE, sequence_loss

    torch.manual_seed(0)
    logits = torch.randn(2, 5, T.VOCAB_SIZE) * 3
    targets = torch.tensor([[T.velocity_token(np.array([30]))[0], T.PITCH_OFFSET + 12,
                             T.velocity_token(np.array([100]))[0], T.PAD, T.EOS]] * 2)
    loss = sequence_loss(logits, targets, None, "ev")
    probs = logits[..., T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY].softmax(-1)
    mean = (probs * torch.arange(1, 128)).sum(-1)
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    want = (((mean[:, 0] - 30) / EV_SCALE) ** 2 + ((mean[:, 2] - 100) / EV_SCALE) ** 2
            + ce[:, 1] + ce[:, 4]).mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)
    # moving probability towards the target lowers it, even where argmax stays put
    shifted = logits.clone()
    shifted[:, 0, T.velocity_token(np.array([30]))[0]] += 1.0
    assert sequence_loss(shifted, targets, None, "ev") < loss


def test_ev_loss_needs_the_mean_readout(dataset: Path, tmp_path: Path):  # noqa: F811
    cfg = tiny_cfg(dataset, tmp_path / "run", 1)
    cfg.loss, cfg.readout = "ev", "argmax"
    with pytest.raises(Exception, match="readout mean"):
        train(cfg)
    cfg.readout, cfg.out = "mean", str(tmp_path / "run2")
    train(cfg)
    assert (tmp_path / "run2" / "best.safetensors").is_file()


def test_train_from_a_three_token_model(dataset: Path, tmp_path: Path):  # noqa: F811
    three = tmp_path / "three.safetensors"
    src = AutoDynamics(ModelConfig(**{**tiny_model(**{**NOTE_TAGGER, "note_tokens": False}).cfg.to_dict()}))
    torch.manual_seed(0)
    for p in src.parameters():
        torch.nn.init.normal_(p)
    save_model(three, src)
    cfg = tiny_cfg(dataset, tmp_path / "run", 1)
    cfg.overrides = {"note_tokens": True, "causal_decoder": False, "note_features": True,
                     "input_velocity": True}
    cfg.lr, cfg.init_from = 0.0, str(three)  # no update: the run's weights are the source's
    train(cfg)
    got = load_model(str(tmp_path / "run" / "best.safetensors"))
    assert got.cfg.note_tokens
    for k, v in src.state_dict().items():
        torch.testing.assert_close(got.state_dict()[k], v, msg=k)
    # weights of another shape are refused with the file's name
    cfg2 = tiny_cfg(dataset, tmp_path / "run2", 1)
    cfg2.init_from = str(three)
    cfg2.preset = "small"
    with pytest.raises(Exception, match="three.safetensors"):
        train(cfg2)


def test_init_from_a_shallower_model_grows_it_as_identity(tmp_path: Path):
    """Added layers start as the identity: the grown model computes what the source did."""
    from autodynamics_cli.train import init_weights

    src = tiny_model(seed=4, **NOTE_TAGGER)
    for p in src.parameters():  # no zeros by chance: every tensor matters
        torch.nn.init.normal_(p, std=0.3)
    save_model(tmp_path / "src.safetensors", src)
    grown = tiny_model(seed=5, n_enc_layers=2, n_dec_layers=3, **NOTE_TAGGER)
    init_weights(grown, tmp_path / "src.safetensors")
    rng = np.random.default_rng(3)
    x = _stack([random_window(rng, n) for n in (5, 12)], CPU)
    inputs = _full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    with torch.inference_mode():
        want = src.decode(*inputs[:3], src.encode(x.roll), inputs[3])
        got = grown.decode(*inputs[:3], grown.encode(x.roll), inputs[3])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert grown.decoder[2].ff.wi.weight.abs().sum() > 0  # only the residual outputs are zero
    assert grown.decoder[2].ff.wo.weight.abs().sum() == 0
    # a shallower model cannot start from a deeper one
    with pytest.raises(Exception, match="do not fit"):
        init_weights(tiny_model(**NOTE_TAGGER), _save(tmp_path / "deep.safetensors", grown))


def _save(path: Path, model: AutoDynamics) -> Path:
    save_model(path, model)
    return path


def test_cli_flags(dataset: Path, tmp_path: Path):  # noqa: F811
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", "--data", str(dataset), "--out", str(out), "--preset", "tiny",
                                 "--max-steps", "2", "--batch-size", "2", "--threads", "1",
                                 "--eval-minutes", "0", "--device", "cpu", "--note-tokens"])
    assert r.exit_code != 0 and "needs a tagger" in str(r.exception)  # the tiny preset is causal
    r = CliRunner().invoke(app, ["train", "--data", str(dataset), "--out", str(out), "--preset", "tiny",
                                 "--max-steps", "1", "--batch-size", "2", "--threads", "1",
                                 "--eval-minutes", "0", "--device", "cpu", "--dec-layers", "2",
                                 "--enc-layers", "3"])
    assert r.exit_code == 0, r.output
    cfg = load_model(str(out / "best.safetensors")).cfg
    assert (cfg.n_enc_layers, cfg.n_dec_layers) == (3, 2)


def test_free_generation_twin_of_a_note_token_tagger():
    """The paper-style comparison runs on a causal three-token twin of the same size."""
    from autodynamics_cli.decoding import free_generation_twin

    tagger = tiny_model(**NOTE_TAGGER)
    twin = free_generation_twin(tagger)
    assert twin.cfg.causal_decoder and not twin.cfg.note_tokens
    assert twin.num_parameters() == tagger.num_parameters()


def test_correlation_term_adds_notes_times_one_minus_r_per_window():
    """``corr_weight``: each window adds weight * notes * (1 - Pearson r of mean readout, target)."""
    from autodynamics_cli.model import sequence_loss

    torch.manual_seed(1)
    vel = np.array([[20, 50, 90, 70], [40, 40, 40, 40]])  # second window: no contrast, no term
    targets = torch.from_numpy(np.stack([T.velocity_token(v) for v in vel]))
    targets[0, 3] = T.PAD  # padding is left out of r
    logits = torch.randn(2, 4, T.VOCAB_SIZE) * 3
    ce = sequence_loss(logits, targets, None, "ce")
    probs = logits[..., T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY].softmax(-1)
    mean = (probs * torch.arange(1, 128)).sum(-1)
    r = np.corrcoef(mean[0, :3].numpy(), vel[0, :3])[0, 1]
    got = sequence_loss(logits, targets, None, "ce", corr_weight=2.0)
    assert got.item() == pytest.approx(ce.item() + 2.0 * 3 * (1 - r) / 2, rel=1e-4)
    # a readout ordered like the target scores a lower term than one ordered against it
    along = torch.full_like(logits, -9.0)
    against = along.clone()
    for j, v in enumerate(vel[0]):
        along[0, j, T.VEL_OFFSET + v - 1] = 9.0
        against[0, j, T.VEL_OFFSET + 127 - v] = 9.0
    assert (sequence_loss(along, targets, None, "ce", 1.0) - sequence_loss(along, targets, None, "ce")
            < sequence_loss(against, targets, None, "ce", 1.0)
            - sequence_loss(against, targets, None, "ce"))


def test_train_with_the_correlation_term(dataset: Path, tmp_path: Path):  # noqa: F811
    """``--corr-weight`` reaches the loss: the same ten steps log a larger loss with it."""
    import json

    losses = []
    for w in ("0", "5"):
        out = tmp_path / f"run{w}"
        r = CliRunner().invoke(app, ["train", "--data", str(dataset), "--out", str(out), "--preset",
                                     "small", "--note-tokens", "--loss", "ce", "--corr-weight", w,
                                     "--max-steps", "10", "--batch-size", "2", "--threads", "1",
                                     "--eval-minutes", "0", "--device", "cpu", "--seed", "3"])
        assert r.exit_code == 0, r.output
        rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        losses.append(next(m["loss"] for m in rows if m["event"] == "train"))
        assert next(m for m in rows if m["event"] == "start")["config"]["corr_weight"] == float(w)
    assert losses[1] > losses[0]

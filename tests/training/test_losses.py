"""What training minimises (training/losses.py): note-token targets, the ev loss, the correlation term."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import NOTE_TAGGER, tiny_cfg, tiny_model

from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.training.config import TrainConfig
from autodynamics_cli.training.loop import train
from autodynamics_cli.training.losses import EV_SCALE, model_loss, sequence_loss
from autodynamics_cli.training.sampler import collate, make_window


def test_loss_reads_the_velocity_targets_only():
    """Training a note-token model: a row per note, its target the note's velocity."""
    model = tiny_model(seed=1, **NOTE_TAGGER).train()
    on = np.array([0, 4, 4, 9])
    end = on + 3  # noqa: E702
    pitch = np.array([60, 64, 67, 72])
    vel = np.array([30, 50, 70, 90])  # noqa: E702
    s = make_window(
        on,
        end,
        pitch,
        vel,
        np.array([True, True, False, True]),
        0,
        256,
        100,
        0.0,
        np.ones(4, dtype=bool),
        None,
    )
    b = {k: torch.from_numpy(v) for k, v in collate([s]).items()}
    logits = model(b["roll"], b["tokens"], b["onsets"], b["roles"], b["features"])
    loss = model_loss(model.cfg, logits, b["targets"], b["weights"], "ce")
    assert logits.shape[1] == 4
    per = torch.nn.functional.cross_entropy(
        logits[0], torch.from_numpy(T.velocity_token(vel)), reduction="none"
    )
    assert loss.item() == pytest.approx(per[[0, 1, 3]].sum().item(), rel=1e-5)  # note 3: no target


def test_ev_loss_is_the_squared_error_of_the_mean_readout():
    """``ev``: velocity targets score (expected velocity - target)^2; others keep cross-entropy."""
    torch.manual_seed(0)
    logits = torch.randn(2, 5, T.VOCAB_SIZE) * 3
    targets = torch.tensor(
        [
            [
                T.velocity_token(np.array([30]))[0],
                T.PITCH_OFFSET + 12,
                T.velocity_token(np.array([100]))[0],
                T.PAD,
                T.EOS,
            ]
        ]
        * 2
    )
    loss = sequence_loss(logits, targets, None, "ev")
    probs = logits[..., T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY].softmax(-1)
    mean = (probs * torch.arange(1, 128)).sum(-1)
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    want = (
        ((mean[:, 0] - 30) / EV_SCALE) ** 2 + ((mean[:, 2] - 100) / EV_SCALE) ** 2 + ce[:, 1] + ce[:, 4]
    ).mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)
    # moving probability towards the target lowers it, even where argmax stays put
    shifted = logits.clone()
    shifted[:, 0, T.velocity_token(np.array([30]))[0]] += 1.0
    assert sequence_loss(shifted, targets, None, "ev") < loss


def test_ev_loss_needs_the_mean_readout(dataset: Path, tmp_path: Path):
    cfg = tiny_cfg(dataset, tmp_path / "run", 1)
    cfg.loss, cfg.readout = "ev", "argmax"
    with pytest.raises(Exception, match="needs readout 'mean'"):
        train(cfg)
    cfg.readout, cfg.out = "mean", str(tmp_path / "run2")
    train(cfg)
    assert (tmp_path / "run2" / "best.safetensors").is_file()


def test_correlation_term_adds_notes_times_one_minus_r_per_window():
    """``corr_weight``: each window adds weight * notes * (1 - Pearson r of mean readout, target)."""
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
    assert sequence_loss(along, targets, None, "ce", 1.0) - sequence_loss(
        along, targets, None, "ce"
    ) < sequence_loss(against, targets, None, "ce", 1.0) - sequence_loss(against, targets, None, "ce")


def test_train_with_the_correlation_term(dataset: Path, tmp_path: Path):
    """``corr_weight`` reaches the loss: the same ten steps log a larger loss with it."""
    losses = []
    for w in (0.0, 5.0):
        out = tmp_path / f"run{w}"
        # what `autodyn train --preset small --note-tokens --loss ce` ran, with the research setting
        train(
            TrainConfig(
                data=str(dataset),
                out=str(out),
                preset="small",
                loss="ce",
                corr_weight=w,
                max_steps=10,
                batch_size=2,
                threads=1,
                eval_minutes=0.0,
                device="cpu",
                seed=3,
                overrides={"note_tokens": True},
            )
        )
        rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        losses.append(next(m["loss"] for m in rows if m["event"] == "train"))
        assert next(m for m in rows if m["event"] == "start")["config"]["corr_weight"] == w
    assert losses[1] > losses[0]

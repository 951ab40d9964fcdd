"""What training minimises: per-position losses on the network's logits.

The network (``model/torch_net.py``) returns logits; the loss is chosen here, so
research losses never reach the shipping model's code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.inference.readout import expected_velocity_torch as expected_velocity
from autodynamics_cli.model.config import ModelConfig

EV_SCALE = 8.0  # velocity steps per unit of the ``ev`` loss: its values land near cross-entropy's


def window_correlation(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pearson r of ``pred`` and ``target`` over each row's ``mask``ed positions.

    Returns r per row and whether it is defined (at least three positions and
    targets that vary); undefined rows get r 0.
    """
    m = mask.to(pred.dtype)
    n = m.sum(-1)
    mean_p = (pred * m).sum(-1) / n.clamp(min=1)
    mean_t = (target * m).sum(-1) / n.clamp(min=1)
    dp, dt = (pred - mean_p[:, None]) * m, (target - mean_t[:, None]) * m
    var_t = (dt * dt).sum(-1)
    ok = (n >= 3) & (var_t > 1e-6)
    r = (dp * dt).sum(-1) / torch.sqrt((dp * dp).sum(-1) * var_t + 1e-6)
    return torch.where(ok, r, torch.zeros_like(r)), ok


def sequence_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor | None,
    kind: str = "mse",
    corr_weight: float = 0.0,
) -> torch.Tensor:
    """Per-position loss, weighted and summed over each sequence, averaged over the batch.

    ``mse`` is the paper's loss: squared error between the softmax and the
    one-hot target. ``ce`` is cross-entropy. ``ev`` trains what the ``mean``
    readout reports: at velocity targets, the squared error of the expected
    velocity under the softmax (over the velocity tokens), in units of
    ``EV_SCALE`` velocity steps; cross-entropy at the other targets. Positions
    with weight 0 (padding, unmatched notes) carry no loss.

    ``corr_weight`` > 0 adds, per window, ``corr_weight * notes * (1 - r)``,
    with r the Pearson correlation of the expected velocity with the target
    over the window's weighted velocity targets. The evaluation's r is within
    a performance, where the overall level the per-note loss spends itself on
    does not count; this term rewards the contrasts between notes directly.
    """
    if weights is None:
        weights = (targets != T.PAD).to(logits.dtype)
    logits = logits.float()
    is_vel = (targets >= T.VEL_OFFSET) & (targets < T.VEL_OFFSET + T.N_VELOCITY)
    true_vel = (targets - T.VEL_OFFSET + 1).to(logits.dtype)  # 1..127 where is_vel
    mean = None
    if kind == "ev" or corr_weight > 0:
        mean = expected_velocity(logits[..., T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY])
    if kind == "mse":
        p = logits.softmax(-1)
        per = (p * p).sum(-1) - 2 * p.gather(-1, targets[..., None]).squeeze(-1) + 1.0
    elif kind == "ce":
        per = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    elif kind == "ev":
        per = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        assert mean is not None  # computed above for "ev"
        err = (mean - true_vel) / EV_SCALE
        per = torch.where(is_vel, err * err, per)
    else:
        raise ValueError(f"unknown loss {kind!r} (use 'mse', 'ce' or 'ev')")
    total = (per * weights).sum()
    if corr_weight > 0:
        scored = is_vel & (weights > 0)
        assert mean is not None  # computed above when corr_weight > 0
        r, ok = window_correlation(mean, true_vel, scored)
        total = total + corr_weight * (scored.sum(-1) * (1 - r) * ok).sum()
    return total / targets.shape[0]


def model_loss(
    cfg: ModelConfig,
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor | None,
    kind: str = "mse",
    corr_weight: float = 0.0,
) -> torch.Tensor:
    """``sequence_loss`` of a model's ``forward`` logits against a batch's three-token targets.

    A note-token model has one logit row per note, so it is scored on each
    note's velocity target (the target at input ``d_i``) alone.
    """
    if cfg.note_tokens:
        targets = targets[:, 2::3]
        weights = None if weights is None else weights[:, 2::3]
    return sequence_loss(logits, targets, weights, kind, corr_weight)

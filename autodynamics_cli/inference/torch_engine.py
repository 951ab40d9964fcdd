"""The torch adapter: forced decoding, where the model chooses only each given note's velocity.

Pitch and duration tokens come from the input notes, so the output has one
velocity per input note, always. ``decode_cached`` runs all windows of a batch
together, one decoder step per note against a key/value cache, or a single
pass when the model never reads velocities back (``velocity_feedback`` off).
With a temperature above 0 (``--temperature``), velocities are sampled instead
of chosen greedily, from noise seeded by each window's own ``seed``.

A tagger's one pass reads its velocities as the numpy engine does, with
``readout.close_readout``, and hands windows with a close call to the same
``referee.Referee``: the two engines then write the same velocities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.encoding.windows import BATCH_OVERHEAD_TOKENS, WindowInput, batch_windows
from autodynamics_cli.inference.engine import Engine
from autodynamics_cli.inference.readout import close_readout, readout_torch
from autodynamics_cli.inference.referee import Referee
from autodynamics_cli.model.numpy_net import NumpyTagger
from autodynamics_cli.model.torch_net import AutoDynamics


class TorchEngine(Engine):
    """A torch model on ``device``: every model kind, sampling, GPUs."""

    name = "torch"

    def __init__(self, model: AutoDynamics, device: torch.device | str = "cpu") -> None:
        self.model, self.cfg, self.device = model, model.cfg, torch.device(device)
        self.referee = referee_of(model)

    def velocities(
        self,
        windows: list[WindowInput],
        batch_size: int = 32,
        temperature: float = 0.0,
        on_batch: Callable[[list[int]], None] | None = None,
    ) -> list[np.ndarray]:
        return decode_cached(
            self.model, windows, self.device, batch_size, temperature, self.referee, on_batch
        )

    def num_parameters(self) -> int:
        return self.model.num_parameters()


class VelocitySampler:
    """Samples velocities from softmax(logits / T) instead of the greedy readout.

    Each window draws from its own numpy generator seeded by ``WindowInput.seed``,
    one 127-wide uniform vector per note in note order (numpy fills arrays
    sequentially, so one-pass and step-by-step decoding draw the same numbers).
    A window's velocities thus depend only on its seed, never on which windows
    share its batch or on the device. Gumbel-max: argmax(logits / T + Gumbel noise).
    """

    def __init__(self, batch: list[WindowInput], temperature: float) -> None:
        self.temperature = temperature
        self.rngs = [np.random.default_rng(w.seed) for w in batch]

    def __call__(self, vel_logits: torch.Tensor) -> torch.Tensor:
        """Velocities 1..127 for velocity logits of shape (batch, [notes,] N_VELOCITY)."""
        vel_logits = vel_logits.float()
        shape = tuple(vel_logits.shape[1:])
        u = np.stack([rng.random(shape) for rng in self.rngs]).clip(1e-12, 1 - 1e-12)
        gumbel = torch.from_numpy(-np.log(-np.log(u))).to(vel_logits.device, torch.float32)
        return (vel_logits / self.temperature + gumbel).argmax(-1) + 1


def _readout(vel_logits: torch.Tensor, readout: str, sampler: VelocitySampler | None) -> torch.Tensor:
    """Velocities from logits of the velocity tokens only: the model's readout, or sampled."""
    return readout_torch(vel_logits, readout) if sampler is None else sampler(vel_logits)


@dataclass
class Batch:
    roll: torch.Tensor  # (B, steps, 88)
    pitch: torch.Tensor  # (B, n) pitch tokens, PAD after each window's notes
    dur: torch.Tensor
    onset: torch.Tensor
    features: torch.Tensor  # (B, n, N_FEATURES)


def stack_windows(items: list[WindowInput], device: torch.device) -> Batch:
    n_max = max(len(w) for w in items)
    b = len(items)
    pitch = np.full((b, n_max), T.PAD, dtype=np.int64)
    dur = np.full((b, n_max), T.PAD, dtype=np.int64)
    onset = np.zeros((b, n_max), dtype=np.int64)
    feats = np.zeros((b, n_max, NF.N_FEATURES), dtype=np.int64)
    for i, w in enumerate(items):
        pitch[i, : len(w)], dur[i, : len(w)], onset[i, : len(w)] = w.pitch_tok, w.dur_tok, w.rel_onset
        if w.features is not None:
            feats[i, : len(w)] = w.features
    roll = torch.from_numpy(np.stack([w.roll for w in items])).to(device)
    return Batch(roll, *(torch.from_numpy(a).to(device) for a in (pitch, dur, onset, feats)))


def referee_of(model: AutoDynamics) -> Referee | None:
    """The numpy engine's referee for ``model``'s close calls; None for a causal model (torch's alone)."""
    if model.cfg.causal_decoder:
        return None
    return Referee(
        model.cfg,
        lambda: NumpyTagger(
            model.cfg,
            {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()},
            np.float64,
        ),
    )


@torch.inference_mode()
def decode_cached(
    model: AutoDynamics,
    items: list[WindowInput],
    device: torch.device,
    batch_size: int = 32,
    temperature: float = 0.0,
    referee: Referee | None = None,
    on_batch: Callable[[list[int]], None] | None = None,
) -> list[np.ndarray]:
    """Velocities for each window, batching windows of similar length together.

    ``temperature`` 0 is the model's own readout (greedy); above 0, sampling.
    A tagger's close calls go to ``referee`` (by default ``referee_of(model)``, which
    reads the weights when first needed), as in the numpy engine.
    """
    referee = referee or referee_of(model)
    out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(items)
    overhead = BATCH_OVERHEAD_TOKENS.get(device.type, BATCH_OVERHEAD_TOKENS["cuda"])
    if model.cfg.velocity_feedback:  # one step per note: every batch costs hundreds of steps
        overhead = 1 << 40
    for idx in batch_windows(items, model.cfg.max_decoder_len, batch_size, overhead):
        batch = [items[i] for i in idx]
        sampler = VelocitySampler(batch, temperature) if temperature > 0 else None
        close = None
        if model.cfg.velocity_feedback:
            vel = _decode_batch_stepwise(model, batch, device, sampler).cpu().numpy()
        elif sampler is None:
            vel, close = _decode_batch_one_pass_greedy(model, batch, device)
        else:
            vel = _decode_batch_one_pass(model, batch, device, sampler).cpu().numpy()
        vel = vel.astype(np.int64)
        for row, i in enumerate(idx):
            n = len(items[i])
            if referee is not None and close is not None and close[row, :n].any():  # settle it
                out[i] = referee.velocities(items[i])
            else:
                out[i] = vel[row, :n]
        if on_batch is not None:
            on_batch(idx)
    return out


def _roles(b: int, first: int, device: torch.device) -> torch.Tensor:
    return torch.tensor([first, T.ROLE_PITCH, T.ROLE_DURATION], device=device).expand(b, 3)


def _decode_batch_stepwise(
    model: AutoDynamics,
    batch: list[WindowInput],
    device: torch.device,
    sampler: VelocitySampler | None = None,
) -> torch.Tensor:
    x = stack_windows(batch, device)
    b, n = x.pitch.shape
    mem_kv = model.encode(x.roll)
    cache = model.new_cache(b, 3 * n + 1)
    vel = torch.zeros(b, n, dtype=torch.long, device=device)
    prev_tok = torch.full((b,), T.BOS, dtype=torch.long, device=device)
    prev_on = torch.zeros(b, dtype=torch.long, device=device)
    prev_feat = torch.zeros_like(x.features[:, 0])
    for i in range(n):
        toks = torch.stack([prev_tok, x.pitch[:, i], x.dur[:, i]], dim=1)
        ons = torch.stack([prev_on, x.onset[:, i], x.onset[:, i]], dim=1)
        feats = torch.stack([prev_feat, x.features[:, i], x.features[:, i]], dim=1)
        roles = _roles(b, T.ROLE_BOS if i == 0 else T.ROLE_VELOCITY, device)
        logits = model.decode_step(toks, ons, roles, mem_kv, cache, feats)
        vel[:, i] = _readout(
            logits[:, -1, T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY], model.cfg.readout, sampler
        )
        prev_tok = (
            vel[:, i] - 1 + T.VEL_OFFSET
            if model.cfg.velocity_feedback
            else torch.full_like(prev_tok, T.VEL_MASK)
        )
        prev_on, prev_feat = x.onset[:, i], x.features[:, i]
    return vel


def full_inputs(
    x: Batch, vel_tok: torch.Tensor, n: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decoder input ``BOS p1 d1 v1 ... pN dN vN`` of the first ``n`` notes, as in training.

    Returns tokens, onsets, roles and features; positions of padding notes
    (rows with fewer notes) are PAD, so a tagger's attention mask skips them.
    """
    pitch, dur, onset, feats = (a[:, :n] for a in (x.pitch, x.dur, x.onset, x.features))
    b, n = pitch.shape
    triples = torch.stack([pitch, dur, vel_tok[:, :n]], dim=2).reshape(b, 3 * n)
    pad = (pitch == T.PAD).repeat_interleave(3, dim=1)
    bos = torch.full((b, 1), T.BOS, dtype=torch.long, device=pitch.device)
    tokens = torch.cat([bos, triples.masked_fill(pad, T.PAD)], dim=1)
    onsets = torch.cat([torch.zeros_like(bos), onset.repeat_interleave(3, dim=1)], dim=1)
    roles = torch.tensor([T.ROLE_PITCH, T.ROLE_DURATION, T.ROLE_VELOCITY], device=pitch.device).repeat(n)
    roles = torch.cat([torch.tensor([T.ROLE_BOS], device=pitch.device), roles]).expand(b, -1)
    features = torch.cat([torch.zeros_like(feats[:, :1]), feats.repeat_interleave(3, dim=1)], dim=1)
    return tokens, onsets, roles, features


def _decode_batch_one_pass(
    model: AutoDynamics,
    batch: list[WindowInput],
    device: torch.device,
    sampler: VelocitySampler | None = None,
) -> torch.Tensor:
    x = stack_windows(batch, device)
    tokens, onsets, roles, features = full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    logits = model.velocity_logits(tokens, onsets, roles, model.encode(x.roll), features)
    return _readout(logits, model.cfg.readout, sampler)


def _decode_batch_one_pass_greedy(
    model: AutoDynamics, batch: list[WindowInput], device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """The one pass's velocities, read by ``readout.close_readout``, and its close calls."""
    x = stack_windows(batch, device)
    tokens, onsets, roles, features = full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    logits = model.velocity_logits(tokens, onsets, roles, model.encode(x.roll), features)
    return close_readout(logits.float().cpu().numpy(), model.cfg.readout)

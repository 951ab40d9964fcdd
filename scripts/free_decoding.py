"""Reference decoders, for cost comparisons and checks only (``bench_humanize.py``; tests).

``decode_reference`` re-runs the whole decoder for every note, with no cache: the
shipping paths (``inference/``) are checked against it and timed beside it.

The paper's decoder generates pitch, duration and velocity of every note, token
by token; ours is forced: pitch and duration come from the input and only the
velocity is read (``inference/torch_engine.py``). These two functions let the
benchmark measure what the paper's decoding would cost next to ours. They are
not part of the product.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.encoding.windows import WindowInput
from autodynamics_cli.inference.readout import readout_torch
from autodynamics_cli.inference.torch_engine import full_inputs, stack_windows
from autodynamics_cli.model.torch_net import AutoDynamics


def free_generation_twin(model: AutoDynamics) -> AutoDynamics:
    """A random causal model of ``model``'s size: what the paper's decoding would run on.

    Free generation needs a causal decoder that reads its own tokens back; a
    tagger cannot generate, so cost comparisons use a twin of the same shape.
    """
    cfg = replace(model.cfg, causal_decoder=True, velocity_feedback=True, note_tokens=False, dropout=0.0)
    w = model.head.weight
    return AutoDynamics(cfg).to(device=w.device, dtype=w.dtype).eval()


@torch.inference_mode()
def decode_free_greedy(
    model: AutoDynamics, items: list[WindowInput], device: torch.device, batch_size: int = 32
) -> list[np.ndarray]:
    """Paper-style inference: generate pitch, duration and velocity of every note, token by token.

    Not forced: each step feeds back the argmax over the whole vocabulary, with a
    key/value cache, for as many notes as each window has (3 tokens each). It
    exists to measure what the paper's decoding costs next to ours
    (``bench_humanize.py``); its notes need not match the input.
    Needs a causal model (see ``free_generation_twin``).
    """
    if not model.cfg.causal_decoder:
        raise ValueError("free generation needs a causal decoder")
    out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(items)
    order = sorted(range(len(items)), key=lambda i: len(items[i]))
    roles = torch.tensor([T.ROLE_PITCH, T.ROLE_DURATION, T.ROLE_VELOCITY], device=device)
    for s in range(0, len(order), batch_size):
        idx = [i for i in order[s : s + batch_size] if len(items[i]) > 0]
        if not idx:
            continue
        x = stack_windows([items[i] for i in idx], device)
        b, n = x.pitch.shape
        mem_kv = model.encode(x.roll)
        cache = model.new_cache(b, 3 * n + 1)
        tok = torch.full((b, 1), T.BOS, dtype=torch.long, device=device)
        role = torch.full((b, 1), T.ROLE_BOS, dtype=torch.long, device=device)
        onset = torch.zeros((b, 1), dtype=torch.long, device=device)
        feats = torch.zeros((b, 1, NF.N_FEATURES), dtype=torch.long, device=device)
        generated = torch.zeros(b, 3 * n, dtype=torch.long, device=device)
        for k in range(3 * n):
            logits = model.decode_step(tok, onset, role, mem_kv, cache, feats)
            tok = logits[:, -1].argmax(-1, keepdim=True)
            generated[:, k] = tok[:, 0]
            role = roles[k % 3].expand(b, 1)
        for row, i in enumerate(idx):
            out[i] = generated[row, : 3 * len(items[i])].cpu().numpy()
    return out


def decode_reference(model: AutoDynamics, item: WindowInput, device: torch.device) -> np.ndarray:
    """Velocities of one window, re-running the full decoder for every note (no cache).

    A causal decoder reads the notes up to note i; a tagger (non-causal) reads
    the whole window each time.
    """
    n = len(item)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    x = stack_windows([item], device)
    mem_kv = model.encode(x.roll)
    vel_tok = torch.full_like(x.pitch, T.VEL_MASK)
    vel = np.zeros(n, dtype=np.int64)
    for i in range(n):
        upto = i + 1 if model.cfg.causal_decoder else n
        tokens, onsets, roles, features = full_inputs(x, vel_tok, upto)
        logits = model.decode(tokens, onsets, roles, mem_kv, features)
        pos = i if model.cfg.note_tokens else 2 + 3 * i  # where note i's velocity is read
        v = readout_torch(logits[:, pos, T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY], model.cfg.readout)
        vel[i] = int(v[0])
        if model.cfg.velocity_feedback:
            vel_tok[0, i] = v[0] - 1 + T.VEL_OFFSET
    return vel

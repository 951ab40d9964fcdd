"""The Auto-Dynamics encoder-decoder transformer, in plain torch.

Encoder: each 88-key step of the piano roll, split into a "held" and an
"onset" channel, is linearly projected to ``d_model`` and given sinusoidal
positions. Decoder: token embeddings plus sinusoidal positions, plus learned
embeddings of each token's note onset step, key and role (see ``encoding/tokens.py``),
and optionally of its note's context features and notated velocity
(``encoding/note_features.py``). With ``causal_decoder`` off the decoder is a tagger:
self-attention over the whole window (padding masked), one pass, no velocity
read back. A tagger with ``note_tokens`` gives the decoder one position per
note instead of three: the embeddings of its pitch and duration tokens, onset,
key and features, summed. It reads the same three-token inputs (``tokens.py``),
so data and decoding code are shared, but its decoder does a third of the work.
Pre-norm layers, gated-GELU feed-forward (as T5 v1.1, which the paper's
T5X configuration uses), attention through ``scaled_dot_product_attention``.

``forward`` returns logits (the losses are training's, ``training/losses.py``).
``decode_step`` runs new decoder positions against a key/value cache, for fast
forced decoding.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.model import config as spec
from autodynamics_cli.model.config import ModelConfig


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    return torch.from_numpy(spec.sinusoidal_positions(length, dim))


class KVCache:
    """Preallocated self-attention keys and values of one decoder layer."""

    def __init__(
        self, batch: int, n_heads: int, max_len: int, d_kv: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        self.k = torch.empty(batch, n_heads, max_len, d_kv, device=device, dtype=dtype)
        self.v = torch.empty_like(self.k)
        self.length = 0
        self.tail = torch.full((batch, 2), T.PAD, dtype=torch.long, device=device)

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = k.shape[2]
        self.k[:, :, self.length : self.length + n] = k
        self.v[:, :, self.length : self.length + n] = v
        self.length += n
        return self.k[:, :, : self.length], self.v[:, :, : self.length]


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        inner = cfg.n_heads * cfg.d_kv
        self.n_heads, self.d_kv = cfg.n_heads, cfg.d_kv
        self.q = nn.Linear(cfg.d_model, inner, bias=False)
        self.kv = nn.Linear(cfg.d_model, 2 * inner, bias=False)
        self.o = nn.Linear(inner, cfg.d_model, bias=False)
        self.dropout = cfg.dropout

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.n_heads, self.d_kv).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(x).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def attend(
        self,
        x: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        q = self._heads(self.q(x))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        b, _, n, _ = y.shape
        return self.o(y.transpose(1, 2).reshape(b, n, self.n_heads * self.d_kv))


class FeedForward(nn.Module):
    """Gated-GELU feed-forward (T5 v1.1)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.wi = nn.Linear(cfg.d_model, 2 * cfg.d_ff, bias=False)
        self.wo = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, lin = self.wi(x).chunk(2, dim=-1)
        return self.wo(self.drop(F.gelu(gate, approximate="tanh") * lin))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn, self.ff = Attention(cfg), FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        k, v = self.attn.keys_values(h)
        x = x + self.drop(self.attn.attend(h, k, v))
        return x + self.drop(self.ff(self.norm2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.norm3 = nn.LayerNorm(cfg.d_model)
        self.self_attn, self.cross_attn = Attention(cfg), Attention(cfg)
        self.ff = FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self,
        x: torch.Tensor,
        mem_kv: tuple[torch.Tensor, torch.Tensor],
        cache: KVCache | None = None,
        key_mask: torch.Tensor | None = None,
        queries: slice | None = None,
    ) -> torch.Tensor:
        """``key_mask`` (non-causal decoders): ``(B, 1, 1, L)``, True where a key may be read.

        ``queries`` (no cache): compute outputs only at these positions, their
        self-attention still reading keys and values of every position; all
        that follows is per position, so they equal a full pass's outputs.
        """
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)
        if queries is not None:
            pos = torch.arange(x.shape[1], device=x.device)[queries]
            x, h = x[:, queries], h[:, queries]
            mask = key_mask
            if key_mask is None:  # causal: query at position p reads keys 0..p
                mask = torch.arange(k.shape[2], device=x.device)[None, :] <= pos[:, None]
            a = self.self_attn.attend(h, k, v, mask=mask)
        elif cache is None:
            a = self.self_attn.attend(h, k, v, mask=key_mask, causal=key_mask is None)
        else:
            past = cache.length
            k, v = cache.append(k, v)
            n = x.shape[1]
            mask = torch.arange(past + n, device=x.device)[None, :] <= (
                past + torch.arange(n, device=x.device)[:, None]
            )
            a = self.self_attn.attend(h, k, v, mask=mask)
        x = x + self.drop(a)
        x = x + self.drop(self.cross_attn.attend(self.norm2(x), *mem_kv))
        return x + self.drop(self.ff(self.norm3(x)))


class AutoDynamics(nn.Module):
    # buffers (``register_buffer``), which ``nn.Module.__getattr__`` types as ``Tensor | Module``
    feat_offset: torch.Tensor
    feat_used: torch.Tensor
    enc_pos: torch.Tensor
    dec_pos: torch.Tensor

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.roll_in = nn.Linear(2 * cfg.n_keys, d)
        self.tok_emb = nn.Embedding(cfg.vocab_size, d)
        self.onset_emb = nn.Embedding(cfg.roll_steps, d)
        self.role_emb = nn.Embedding(T.N_ROLES, d)
        self.key_emb = nn.Embedding(T.N_PITCH, d) if cfg.note_pitch_embedding else None
        used, offset, rows = spec.feature_layout(cfg)
        self.register_buffer("feat_offset", torch.from_numpy(offset), persistent=False)
        self.register_buffer("feat_used", torch.from_numpy(used), persistent=False)
        self.feat_emb = nn.Embedding(rows, d) if rows else None
        self.register_buffer("enc_pos", sinusoidal_positions(cfg.roll_steps, d), persistent=False)
        self.register_buffer("dec_pos", sinusoidal_positions(cfg.max_decoder_len, d), persistent=False)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_enc_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_dec_layers))
        self.enc_norm, self.dec_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.vocab_size, bias=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode(self, roll: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Encode a ``(B, steps, 88)`` roll; return each decoder layer's cross-attention K/V."""
        x = torch.cat([(roll >= 1), (roll == 2)], dim=-1).to(self.roll_in.weight.dtype)
        x = self.drop(self.roll_in(x) + self.enc_pos[: roll.shape[1]])
        for layer in self.encoder:
            x = layer(x)
        mem = self.enc_norm(x)
        # nn.ModuleList yields plain Modules
        return [cast(DecoderLayer, layer).cross_attn.keys_values(mem) for layer in self.decoder]

    def _decoder_input(
        self,
        tokens: torch.Tensor,
        onsets: torch.Tensor,
        roles: torch.Tensor,
        start: int,
        tail: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        pos = self.dec_pos[start : start + tokens.shape[1]]
        x = self.tok_emb(tokens) + self.onset_emb(onsets) + self.role_emb(roles) + pos
        if self.key_emb is not None:
            x = x + self.key_emb(note_keys(tokens, roles, tail))
        if self.feat_emb is not None:
            x = x + self._feature_sum(features)
        return self.drop(x)

    def _note_input(
        self, tokens: torch.Tensor, onsets: torch.Tensor, features: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A note-token model's decoder input, one position per note, and its key mask.

        Note i's pitch and duration tokens sit at positions 3i+1 and 3i+2 of the
        three-token input; its position sums their embeddings with its onset,
        key and features. Padding notes (pitch PAD) are masked as keys.
        """
        pitch, dur = tokens[:, 1::3], tokens[:, 2::3]
        real = pitch != T.PAD
        x = self.tok_emb(pitch) + self.tok_emb(dur) + self.onset_emb(onsets[:, 1::3])
        x = x + self.dec_pos[: pitch.shape[1]]
        if self.key_emb is not None:
            x = x + self.key_emb(torch.where(real, pitch - T.PITCH_OFFSET, torch.zeros_like(pitch)))
        if self.feat_emb is not None:
            x = x + self._feature_sum(None if features is None else features[:, 1::3])
        return self.drop(x), real[:, None, None, :]

    def _note_states(
        self,
        tokens: torch.Tensor,
        onsets: torch.Tensor,
        mem_kv: list[tuple[torch.Tensor, torch.Tensor]],
        features: torch.Tensor | None,
    ) -> torch.Tensor:
        """A note-token model's decoder output, one row per note, before the final norm."""
        x, key_mask = self._note_input(tokens, onsets, features)
        for layer, kv in zip(self.decoder, mem_kv, strict=True):
            x = layer(x, kv, key_mask=key_mask)
        return x

    def _feature_sum(self, features: torch.Tensor | None) -> torch.Tensor:
        """The summed embeddings of each position's used note-feature columns."""
        if features is None:
            raise ValueError("this model reads note features; pass features=")
        assert self.feat_emb is not None  # called only for a model that embeds note features
        if self.training:
            used = self.feat_used.to(features.dtype)
            return (self.feat_emb((features + self.feat_offset) * used) * used[:, None]).sum(-2)
        # the same sum without a (B, L, 8, d_model) intermediate
        cols = self.feat_used.nonzero()[:, 0]
        idx = (features[..., cols] + self.feat_offset[cols]).reshape(-1, len(cols))
        return F.embedding_bag(idx, self.feat_emb.weight, mode="sum").view(*features.shape[:-1], -1)

    def decode(
        self,
        tokens: torch.Tensor,
        onsets: torch.Tensor,
        roles: torch.Tensor,
        mem_kv: list[tuple[torch.Tensor, torch.Tensor]],
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits for a whole decoder input sequence (no cache).

        ``features`` is ``(B, L, N_FEATURES)``: each token's note features
        (``note_features.py``), zeros for BOS and padding. A note-token model
        returns one row per note (``(B, n, vocab)``), else one per position.
        """
        if self.cfg.note_tokens:
            return self.head(self.dec_norm(self._note_states(tokens, onsets, mem_kv, features)))
        x = self._decoder_input(tokens, onsets, roles, 0, features=features)
        # a tagger reads the whole window, but never the padding after it
        key_mask = None if self.cfg.causal_decoder else (tokens != T.PAD)[:, None, None, :]
        for layer, kv in zip(self.decoder, mem_kv, strict=True):
            x = layer(x, kv, key_mask=key_mask)
        return self.head(self.dec_norm(x))

    def velocity_logits(
        self,
        tokens: torch.Tensor,
        onsets: torch.Tensor,
        roles: torch.Tensor,
        mem_kv: list[tuple[torch.Tensor, torch.Tensor]],
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Velocity logits ``(B, n, N_VELOCITY)`` at each note's duration position (inference).

        The same numbers as ``decode(...)[:, 2::3, VEL_OFFSET:VEL_OFFSET + N_VELOCITY]``
        (up to float rounding), but the last layer, the final norm and the head
        run only where a velocity is read: a third of the positions and 127 of
        the 347 vocabulary rows. A note-token model reads every position.
        """
        head = self.head.weight[T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY]
        if self.cfg.note_tokens:
            return F.linear(self.dec_norm(self._note_states(tokens, onsets, mem_kv, features)), head)
        x = self._decoder_input(tokens, onsets, roles, 0, features=features)
        key_mask = None if self.cfg.causal_decoder else (tokens != T.PAD)[:, None, None, :]
        last = len(self.decoder) - 1
        for i, (layer, kv) in enumerate(zip(self.decoder, mem_kv, strict=True)):
            x = layer(x, kv, key_mask=key_mask, queries=slice(2, None, 3) if i == last else None)
        if last < 0:
            x = x[:, 2::3]
        return F.linear(self.dec_norm(x), head)

    def new_cache(self, batch: int, max_len: int) -> list[KVCache]:
        w = self.head.weight
        return [
            KVCache(batch, self.cfg.n_heads, max_len, self.cfg.d_kv, w.device, w.dtype) for _ in self.decoder
        ]

    def decode_step(
        self,
        tokens: torch.Tensor,
        onsets: torch.Tensor,
        roles: torch.Tensor,
        mem_kv: list[tuple[torch.Tensor, torch.Tensor]],
        cache: list[KVCache],
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits for new decoder positions appended after those already in ``cache``."""
        if not self.cfg.causal_decoder:
            raise ValueError("a non-causal decoder has no step-by-step decoding; use decode()")
        x = self._decoder_input(tokens, onsets, roles, cache[0].length, cache[0].tail, features)
        cache[0].tail = torch.cat([cache[0].tail, tokens], dim=1)[:, -2:]
        for layer, kv, c in zip(self.decoder, mem_kv, cache, strict=True):
            x = layer(x, kv, c)
        return self.head(self.dec_norm(x))

    def forward(
        self,
        roll: torch.Tensor,
        tokens: torch.Tensor,
        onsets: torch.Tensor,
        roles: torch.Tensor,
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of a whole decoder input (``decode`` after ``encode``): what training fits."""
        return self.decode(tokens, onsets, roles, self.encode(roll), features)


def note_keys(tokens: torch.Tensor, roles: torch.Tensor, tail: torch.Tensor | None) -> torch.Tensor:
    """The key (0..87) of the note each decoder token belongs to.

    A note's pitch token sits 0, 1 or 2 positions before its pitch, duration and
    velocity tokens; ``tail`` holds the two tokens before ``tokens`` (for cached
    steps). BOS and padding get key 0.
    """
    if tail is None:
        tail = torch.full_like(tokens[:, :2], T.PAD)
    ext = torch.cat([tail, tokens], dim=1)
    back = (roles - T.ROLE_PITCH).clamp(min=0)
    idx = torch.arange(tokens.shape[1], device=tokens.device) + 2 - back
    keys = ext.gather(1, idx) - T.PITCH_OFFSET
    valid = (roles != T.ROLE_BOS) & (keys >= 0) & (keys < T.N_PITCH)
    return torch.where(valid, keys, torch.zeros_like(keys))

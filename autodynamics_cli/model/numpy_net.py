"""The tagger's network in numpy: humanize on a CPU without importing torch.

Importing torch takes two to three seconds on a small CPU, longer than the
model needs for a five-minute score. A tagger (``causal_decoder`` off) reads
every velocity of a window in one pass, which is a few matrix products per
layer, so this module runs that pass in numpy, from the same weights file and
the same config as ``torch_net.AutoDynamics``. It computes exactly what
``AutoDynamics.encode`` and ``velocity_logits`` compute (fp32, eval mode), and
the tests compare the velocities of both. Batching and the readout are the
numpy engine's (``inference/numpy_engine.py``).
"""

from __future__ import annotations

import math

import numpy as np

from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.model import config as spec
from autodynamics_cli.model.config import ModelConfig

LN_EPS = 1e-5  # torch.nn.LayerNorm's default


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + LN_EPS) * w + b


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    """torch's ``gelu(approximate="tanh")``, in place where it can (x*x*x: ``x**3`` is 10x slower)."""
    t = x * x
    t *= x.dtype.type(0.044715)
    t += 1.0
    t *= x
    t *= x.dtype.type(math.sqrt(2.0 / math.pi))
    np.tanh(t, out=t)
    t += 1.0
    t *= x
    t *= 0.5
    return t


class NumpyTagger:
    """A tagger model's weights as numpy arrays, with its one-pass forward.

    ``dtype`` is what it computes in: float32 as torch does, or float64, in
    which the numpy engine's referee (``inference.referee.Referee``) settles close calls.
    """

    def __init__(
        self, cfg: ModelConfig, state: dict[str, np.ndarray], dtype: type[np.floating] = np.float32
    ) -> None:
        if cfg.causal_decoder:
            raise ValueError("the numpy engine runs taggers only (causal_decoder off)")
        self.cfg, self.dtype = cfg, np.dtype(dtype)
        self.n_parameters = sum(v.size for v in state.values())
        # x @ W.T with W.T laid out contiguously once, not on every call; W itself is not kept
        linear = {
            k for k, v in state.items() if v.ndim == 2 and not k.endswith("emb.weight") and k != "head.weight"
        }
        self.wt = {k[: -len(".weight")]: np.ascontiguousarray(state[k].T, dtype=self.dtype) for k in linear}
        self.w = {k: np.ascontiguousarray(v, dtype=self.dtype) for k, v in state.items() if k not in linear}
        self.feat_used, self.feat_offset, _ = spec.feature_layout(cfg)
        self.enc_pos = spec.sinusoidal_positions(cfg.roll_steps, cfg.d_model).astype(self.dtype)
        self.dec_pos = spec.sinusoidal_positions(cfg.max_decoder_len, cfg.d_model).astype(self.dtype)
        self.scale = self.dtype.type(1.0 / math.sqrt(cfg.d_kv))
        vel = slice(T.VEL_OFFSET, T.VEL_OFFSET + T.N_VELOCITY)
        self.vel_head_t = np.ascontiguousarray(self.w["head.weight"][vel].T)

    def num_parameters(self) -> int:
        return self.n_parameters

    def state(self) -> dict[str, np.ndarray]:
        """The weights by name, as given (views, not copies)."""
        return {**self.w, **{k + ".weight": wt.T for k, wt in self.wt.items()}}

    def astype(self, dtype: type[np.floating]) -> NumpyTagger:
        """The same model computing in ``dtype`` (the referee's float64 twin); itself if it does."""
        return self if np.dtype(dtype) == self.dtype else NumpyTagger(self.cfg, self.state(), dtype)

    # -- layers ---------------------------------------------------------------

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        w = self.wt[name]
        y = (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[1])  # one GEMM
        bias = self.w.get(name + ".bias")
        return y if bias is None else y + bias

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def _heads(self, x: np.ndarray) -> np.ndarray:
        b, n, _ = x.shape
        return x.reshape(b, n, self.cfg.n_heads, self.cfg.d_kv).transpose(0, 2, 1, 3)

    def _keys_values(self, x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
        k, v = np.split(self._linear(x, name + ".kv"), 2, axis=-1)
        return self._heads(k), self._heads(v)

    def _attend(
        self, x: np.ndarray, k: np.ndarray, v: np.ndarray, name: str, key_bias: np.ndarray | None = None
    ) -> np.ndarray:
        """``key_bias``: ``(B, 1, 1, L)``, 0 where a key may be read, -inf where not.

        The scale goes on the queries and the softmax's division on the output,
        both smaller than the ``(B, heads, queries, keys)`` scores.
        """
        q = self._heads(self._linear(x, name + ".q") * self.scale)
        scores = q @ k.transpose(0, 1, 3, 2)
        if key_bias is not None:
            scores += key_bias
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)
        y = scores @ v
        y /= scores.sum(-1, keepdims=True)
        b, _, n, _ = y.shape
        return self._linear(y.transpose(0, 2, 1, 3).reshape(b, n, -1), name + ".o")

    def _feed_forward(self, x: np.ndarray, name: str) -> np.ndarray:
        gate, lin = np.split(self._linear(x, name + ".wi"), 2, axis=-1)
        return self._linear(_gelu_tanh(gate) * lin, name + ".wo")

    # -- the model ------------------------------------------------------------

    def encode(self, roll: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``AutoDynamics.encode``: each decoder layer's cross-attention keys and values."""
        x = np.concatenate([roll >= 1, roll == 2], axis=-1).astype(self.dtype)
        x = self._linear(x, "roll_in") + self.enc_pos[: roll.shape[1]]
        for i in range(self.cfg.n_enc_layers):
            p = f"encoder.{i}"
            h = self._norm(x, p + ".norm1")
            x = x + self._attend(h, *self._keys_values(h, p + ".attn"), p + ".attn")
            x = x + self._feed_forward(self._norm(x, p + ".norm2"), p + ".ff")
        mem = self._norm(x, "enc_norm")
        return [self._keys_values(mem, f"decoder.{i}.cross_attn") for i in range(self.cfg.n_dec_layers)]

    def _decoder_input(
        self,
        tokens: np.ndarray,
        onsets: np.ndarray,
        roles: np.ndarray,
        keys: np.ndarray,
        features: np.ndarray,
    ) -> np.ndarray:
        w = self.w
        x = (
            w["tok_emb.weight"][tokens]
            + w["onset_emb.weight"][onsets]
            + w["role_emb.weight"][roles]
            + self.dec_pos[: tokens.shape[1]]
        )
        return self._add_note_embeddings(x, keys, features)

    def _note_input(
        self, tokens: np.ndarray, onsets: np.ndarray, keys: np.ndarray, features: np.ndarray
    ) -> np.ndarray:
        """``AutoDynamics._note_input``: one position per note of the three-token input."""
        w = self.w
        pitch = tokens[:, 1::3]
        x = (
            w["tok_emb.weight"][pitch]
            + w["tok_emb.weight"][tokens[:, 2::3]]
            + w["onset_emb.weight"][onsets[:, 1::3]]
            + self.dec_pos[: pitch.shape[1]]
        )
        return self._add_note_embeddings(x, keys[:, 1::3], features[:, 1::3])

    def _add_note_embeddings(self, x: np.ndarray, keys: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Adds each position's key and note-feature embeddings to ``x`` (in place)."""
        w = self.w
        if "key_emb.weight" in w:
            x += w["key_emb.weight"][keys]
        if "feat_emb.weight" in w:
            table = w["feat_emb.weight"]
            for c in np.flatnonzero(self.feat_used):  # no (B, L, columns, d) intermediate
                x += table[features[..., c] + self.feat_offset[c]]
        return x

    def velocity_logits(
        self,
        tokens: np.ndarray,
        onsets: np.ndarray,
        roles: np.ndarray,
        keys: np.ndarray,
        features: np.ndarray,
        mem_kv: list[tuple[np.ndarray, np.ndarray]],
    ) -> np.ndarray:
        """``AutoDynamics.velocity_logits``: ``(B, n, N_VELOCITY)``, one row per note."""
        if self.cfg.note_tokens:
            x = self._note_input(tokens, onsets, keys, features)
            real = tokens[:, 1::3] != T.PAD
            last = self.cfg.n_dec_layers  # no layer is cut down: every position is read
        else:
            x = self._decoder_input(tokens, onsets, roles, keys, features)
            real = tokens != T.PAD
            last = self.cfg.n_dec_layers - 1
        key_bias = np.where(real, self.dtype.type(0), self.dtype.type(-np.inf))[:, None, None, :]
        for i, kv in enumerate(mem_kv):
            p = f"decoder.{i}"
            h = self._norm(x, p + ".norm1")
            k, v = self._keys_values(h, p + ".self_attn")
            if i == last:  # only where velocities are read; keys still cover every position
                x, h = x[:, 2::3], h[:, 2::3]
            x = x + self._attend(h, k, v, p + ".self_attn", key_bias)
            x = x + self._attend(self._norm(x, p + ".norm2"), *kv, p + ".cross_attn")
            x = x + self._feed_forward(self._norm(x, p + ".norm3"), p + ".ff")
        if last < 0:
            x = x[:, 2::3]
        return self._norm(x, "dec_norm") @ self.vel_head_t

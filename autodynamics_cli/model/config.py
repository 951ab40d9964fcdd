"""The model's shape, without torch: config, presets, positions and feature-embedding layout.

Shared by the torch network (``torch_net.py``, training and GPU inference) and
the numpy network (``numpy_net.py``, fast CPU start-up), so both build the same
network from a weights file's config.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.encoding.grid import N_KEYS, ROLL_STEPS


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; stored in each weights file."""

    n_enc_layers: int = 3
    n_dec_layers: int = 3
    n_heads: int = 4
    d_model: int = 256
    d_kv: int = 64
    d_ff: int = 768
    dropout: float = 0.2
    vocab_size: int = T.VOCAB_SIZE
    roll_steps: int = ROLL_STEPS
    n_keys: int = N_KEYS
    max_decoder_len: int = 1024
    velocity_feedback: bool = True  # False: velocity inputs are always VEL_MASK
    readout: str = "argmax"  # "argmax" or "mean" (expected value of the velocity softmax)
    note_pitch_embedding: bool = True  # every token of a note also carries its key
    note_features: bool = False  # decoder tokens carry note_features.py's context features
    input_velocity: bool = False  # ... and the note's notated (input) velocity bucket
    onset_lead: bool = False  # ... and its onset lead, timing finer than a roll step
    staff: bool = False  # ... and its staff (top or bottom part of a notation export)
    markings: bool = False  # ... and its MusicXML score's markings (unknown for MIDI input)
    causal_decoder: bool = True  # False: decoder self-attention sees the whole window (tagger)
    note_tokens: bool = False  # tagger: one decoder position per note (not three), see torch_net.py
    layout_version: int = T.LAYOUT_VERSION

    def __post_init__(self) -> None:
        if not self.causal_decoder and self.velocity_feedback:
            raise ValueError("a non-causal decoder cannot read back its own velocities")
        if self.note_tokens and self.causal_decoder:
            raise ValueError("note_tokens needs a tagger (causal_decoder off)")

    @property
    def positions_per_note(self) -> int:
        """Decoder positions a note takes: one for a note-token tagger, else three (tokens.py)."""
        return 1 if self.note_tokens else T.TOKENS_PER_NOTE

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config fields: {sorted(unknown)}")
        return cls(**d)


PRESETS: dict[str, ModelConfig] = {
    # The paper's Table 1 (T5 base-like): about 200M parameters.
    "paper-base": ModelConfig(
        n_enc_layers=12, n_dec_layers=12, n_heads=12, d_model=768, d_kv=64, d_ff=2048, max_decoder_len=2048
    ),
    # The paper's smaller model that scored as well (T5X small).
    "paper-small": ModelConfig(
        n_enc_layers=8, n_dec_layers=8, n_heads=6, d_model=512, d_kv=64, d_ff=2048, max_decoder_len=2048
    ),
    # CPU-friendly default size (6.2M parameters), reading note features and notated dynamics.
    "default": ModelConfig(
        note_features=True, input_velocity=True, causal_decoder=False, velocity_feedback=False, readout="mean"
    ),
    # Smaller still (3.3M): what two CPU cores can train in an hour or two.
    "small": ModelConfig(
        d_model=192,
        n_heads=3,
        d_ff=512,
        note_features=True,
        input_velocity=True,
        causal_decoder=False,
        velocity_feedback=False,
        readout="mean",
    ),
    # For tests only.
    "tiny": ModelConfig(
        n_enc_layers=1, n_dec_layers=1, n_heads=2, d_model=32, d_kv=16, d_ff=64, max_decoder_len=64
    ),
}


# Sizes tried in research and not shipped (docs/experiments.md); not offered by ``autodyn
# train``, reachable through ``scripts/train_research.py``.
RESEARCH_PRESETS: dict[str, ModelConfig] = {
    # The paper's small size with this project's design (note features, one-pass tagger,
    # mean readout): trained on one H100, it did not beat the default size on score input.
    "paper-small-tagger": ModelConfig(
        n_enc_layers=8,
        n_dec_layers=8,
        n_heads=6,
        d_model=512,
        d_kv=64,
        d_ff=2048,
        note_features=True,
        input_velocity=True,
        causal_decoder=False,
        velocity_feedback=False,
        readout="mean",
    ),
}


def sinusoidal_positions(length: int, dim: int) -> np.ndarray:
    """``(length, dim)`` float32 sine/cosine positions (the Transformer paper's)."""
    pos = np.arange(length, dtype=np.float32)[:, None]
    div = np.exp(np.arange(0, dim, 2, dtype=np.float32) * np.float32(-math.log(10000.0) / dim))
    pe = np.zeros((length, dim), dtype=np.float32)
    pe[:, 0::2] = np.sin(pos * div)
    pe[:, 1::2] = np.cos(pos * div[: dim // 2])
    return pe


def feature_layout(cfg: ModelConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Which note-feature columns the model embeds, each column's first row, and the rows in all.

    All used columns share one embedding table; column i's value v is row
    ``offset[i] + v``.
    """
    flags = {
        NF.VELOCITY_COLUMN: cfg.input_velocity,
        NF.LEAD_COLUMN: cfg.onset_lead,
        NF.STAFF_COLUMN: cfg.staff,
        NF.STAFF_RANK_COLUMN: cfg.staff,
        **dict.fromkeys(NF.MARKING_COLUMNS, cfg.markings),
    }
    used = np.array([flags.get(i, cfg.note_features) for i in range(NF.N_FEATURES)])
    sizes = [NF.FEATURE_SIZES[i] if used[i] else 0 for i in range(NF.N_FEATURES)]
    return used, np.cumsum([0] + sizes[:-1]).astype(np.int64), int(sum(sizes))


def state_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every weight of ``torch_net.AutoDynamics(cfg)`` (tests check they agree)."""
    d, inner = cfg.d_model, cfg.n_heads * cfg.d_kv
    shapes: dict[str, tuple[int, ...]] = {
        "roll_in.weight": (d, 2 * cfg.n_keys),
        "roll_in.bias": (d,),
        "tok_emb.weight": (cfg.vocab_size, d),
        "onset_emb.weight": (cfg.roll_steps, d),
        "role_emb.weight": (T.N_ROLES, d),
    }
    if cfg.note_pitch_embedding:
        shapes["key_emb.weight"] = (T.N_PITCH, d)
    rows = feature_layout(cfg)[2]
    if rows:
        shapes["feat_emb.weight"] = (rows, d)

    def norm(name: str) -> None:
        shapes[name + ".weight"] = shapes[name + ".bias"] = (d,)

    def attention(name: str) -> None:
        shapes.update(
            {
                name + ".q.weight": (inner, d),
                name + ".kv.weight": (2 * inner, d),
                name + ".o.weight": (d, inner),
            }
        )

    def feed_forward(name: str) -> None:
        shapes.update({name + ".wi.weight": (2 * cfg.d_ff, d), name + ".wo.weight": (d, cfg.d_ff)})

    for i in range(cfg.n_enc_layers):
        p = f"encoder.{i}"
        norm(p + ".norm1")
        norm(p + ".norm2")
        attention(p + ".attn")
        feed_forward(p + ".ff")
    for i in range(cfg.n_dec_layers):
        p = f"decoder.{i}"
        norm(p + ".norm1")
        norm(p + ".norm2")
        norm(p + ".norm3")
        attention(p + ".self_attn")
        attention(p + ".cross_attn")
        feed_forward(p + ".ff")
    norm("enc_norm")
    norm("dec_norm")
    shapes["head.weight"] = (cfg.vocab_size, d)
    return shapes

"""Start a new run from a trained model's weights, also when the new model is larger."""

from __future__ import annotations

from pathlib import Path

import torch

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.model import config as spec
from autodynamics_cli.model.config import ModelConfig
from autodynamics_cli.model.torch_net import AutoDynamics


def init_weights(model: AutoDynamics, path: str | Path) -> None:
    """Start a new run from a trained model's weights (the layout may differ).

    Shapes must match, so a note-token tagger can start from a three-token one.
    The new model may also have more encoder or decoder layers than the source
    (grown at the top of each stack): an added layer starts with its residual
    outputs at zero, so it is the identity and the grown model computes exactly
    what the source did until training moves it. Likewise a model that embeds
    more note-feature columns (e.g. ``onset_lead``) than the source: the added
    columns' rows come last in the table and start at zero.
    """
    from autodynamics_cli.inference.model import load_model

    source = load_model(path, device="cpu", engine="torch").network()
    src, dst = source.state_dict(), model.state_dict()
    depth = {
        stack: sum(1 for k in src if k.startswith(f"{stack}.") and k.endswith(".norm1.weight"))
        for stack in ("encoder", "decoder")
    }
    added = {k for k in dst if k not in src and _added_layer(k, depth)}
    grown = {"feat_emb.weight"} if _features_appended(source.cfg, model.cfg) else set()
    wrong = sorted(
        k for k in dst if k not in added | grown and (k not in src or src[k].shape != dst[k].shape)
    )
    wrong += sorted(set(src) - set(dst))
    if wrong:
        raise AutodynError(
            f"{path}: weights do not fit this model ({len(wrong)} tensors missing, "
            f"extra or of another shape, e.g. {wrong[0]})"
        )
    state = {k: v.float() for k, v in src.items()}
    for k in added:
        state[k] = torch.zeros_like(dst[k]) if k.endswith(_RESIDUAL_OUTPUTS) else dst[k]
    for k in grown:
        state[k] = torch.cat([state[k], torch.zeros(dst[k].shape[0] - src[k].shape[0], *dst[k].shape[1:])])
    model.load_state_dict(state)


def _features_appended(src: ModelConfig, dst: ModelConfig) -> bool:
    """Whether ``dst`` embeds the note-feature columns of ``src`` at the same rows, plus more after."""
    s_used, s_off, s_rows = spec.feature_layout(src)
    d_used, d_off, d_rows = spec.feature_layout(dst)
    new = d_used & ~s_used
    return (
        s_rows > 0
        and d_rows > s_rows
        and bool(d_used[s_used].all())
        and bool((d_off[s_used] == s_off[s_used]).all())
        and bool((d_off[new] >= s_rows).all())
    )


_RESIDUAL_OUTPUTS = (".attn.o.weight", ".self_attn.o.weight", ".cross_attn.o.weight", ".ff.wo.weight")


def _added_layer(key: str, depth: dict[str, int]) -> bool:
    """Whether ``key`` belongs to an encoder or decoder layer above the source's top one.

    ``depth``: the source's layer count per stack.
    """
    stack, _, rest = key.partition(".")
    index = rest.split(".", 1)[0]
    return depth.get(stack, 0) > 0 and index.isdigit() and int(index) >= depth[stack]

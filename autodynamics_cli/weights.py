"""Save and load self-describing weights files, and find the bundled default model.

A weights file is safetensors; its metadata holds the model config (JSON), the
token layout version and the autodyn version that wrote it, plus free-form
model-card fields (training data, licence, metrics). Loading checks the layout
version, so a file made for another layout fails clearly instead of giving
garbage velocities.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from autodynamics_cli import __version__
from autodynamics_cli import tokens as T
from autodynamics_cli.errors import ModelError
from autodynamics_cli.model import AutoDynamics, ModelConfig

DEFAULT_MODEL_FILE = "default.safetensors"


def bundled_weights_dir() -> Path:
    """``weights/`` inside the installed package (wheel), else beside it (source tree)."""
    here = Path(__file__).resolve().parent
    inside = here / "weights"
    return inside if inside.is_dir() else here.parent / "weights"


def save_model(path: str | Path, model: AutoDynamics, metadata: dict[str, str] | None = None,
               half: bool = False) -> None:
    """Write the model's weights and config; ``half`` stores fp16 tensors."""
    state = {k: (v.half() if half and v.is_floating_point() else v).contiguous().cpu()
             for k, v in model.state_dict().items()}
    meta = {
        "config": json.dumps(model.cfg.to_dict()),
        "layout_version": str(T.LAYOUT_VERSION),
        "autodyn_version": __version__,
        **(metadata or {}),
    }
    save_file(state, str(path), metadata=meta)


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"{path}: not a readable weights file ({e})") from None


def resolve_model_path(name: str | None) -> Path:
    """A weights file for ``--model``: a path, or ``default`` (the bundled model)."""
    if name is None or name == "default":
        path = bundled_weights_dir() / DEFAULT_MODEL_FILE
        if not path.is_file():
            raise ModelError(f"the bundled default model is missing ({path}); "
                             "reinstall autodyn or pass --model PATH")
        return path
    path = Path(name).expanduser()
    if path.is_file():
        return path
    raise ModelError(f"model {name!r} not found (give a .safetensors file or 'default')")


def load_model(name: str | None, device: torch.device | str = "cpu") -> AutoDynamics:
    """Load weights by name or path into an eval-mode model on ``device``."""
    path = resolve_model_path(name)
    meta = read_metadata(path)
    if "config" not in meta:
        raise ModelError(f"{path}: no autodyn model config in the file's metadata")
    layout = meta.get("layout_version")
    if layout != str(T.LAYOUT_VERSION):
        raise ModelError(f"{path}: made for token layout {layout}, this autodyn reads layout "
                         f"{T.LAYOUT_VERSION}; upgrade autodyn or use a matching model")
    try:
        cfg = ModelConfig.from_dict(json.loads(meta["config"]))
        model = AutoDynamics(cfg)
        state = load_file(str(path))
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except (SafetensorError, ValueError, RuntimeError, TypeError) as e:
        raise ModelError(f"{path}: weights do not match their config ({str(e).splitlines()[0]})") \
            from None
    return model.to(device).eval()


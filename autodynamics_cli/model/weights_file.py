"""Save and load self-describing weights files, and find the bundled default model.

A weights file is safetensors; its metadata holds the model config (JSON), the
token layout version and the autodyn version that wrote it, plus free-form
model-card fields (training data, licence, metrics). Loading checks the layout
version, so a file made for another layout fails clearly instead of giving
garbage velocities, and checks the file's header against its size, so a corrupt
or truncated file fails clearly instead of deep inside safetensors.

The header is read here in plain Python (no torch), so ``autodyn models`` can
describe files without importing torch; torch is imported only to save or load.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING

from autodynamics_cli import __version__
from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from autodynamics_cli.model.calibration import PieceCalibration
    from autodynamics_cli.model.config import ModelConfig
    from autodynamics_cli.model.torch_net import AutoDynamics

DEFAULT_MODEL_FILE = "default.safetensors"
# Larger than any real header (a few hundred tensors of JSON); a bigger claim means a corrupt file.
MAX_HEADER_BYTES = 100 * 1024 * 1024


def bundled_weights_dir() -> Path:
    """``weights/`` inside the installed package (wheel), else beside it (source tree)."""
    package = Path(__file__).resolve().parents[1]
    inside = package / "weights"
    return inside if inside.is_dir() else package.parent / "weights"


@dataclass(frozen=True)
class WeightsInfo:
    """What a weights file says about itself, read from its header alone."""

    path: Path
    size_bytes: int
    parameters: int
    metadata: dict[str, str]

    @property
    def is_autodyn(self) -> bool:
        return "config" in self.metadata

    def incompatibility(self) -> str | None:
        """Why this autodyn cannot use the file, or None if it can."""
        return _incompatibility(self.metadata)


def inspect_weights(path: str | Path) -> WeightsInfo:
    """Read and check a safetensors header: refuses corrupt and truncated files by name."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ModelError(f"{path}: not a weights file (only {size} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, MAX_HEADER_BYTES):
                raise ModelError(
                    f"{path}: not a safetensors weights file, or truncated "
                    f"(header of {n:,} bytes claimed, file has {size:,})"
                )
            raw = f.read(n)
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        end, params = 0, 0
        for name, t in header.items():
            begin, stop = (int(x) for x in t["data_offsets"])
            end = max(end, stop)
            params += prod(int(d) for d in t["shape"])
            if begin > stop:
                raise ValueError(f"tensor {name} has bad offsets")
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{path}: corrupt weights file (unreadable header: {e})") from None
    if 8 + n + end > size:
        raise ModelError(
            f"{path}: truncated weights file ({size:,} bytes, "
            f"{8 + n + end:,} expected); download or copy it again"
        )
    return WeightsInfo(path, size, params, {str(k): str(v) for k, v in metadata.items()})


def read_metadata(path: str | Path) -> dict[str, str]:
    """The file's free-form metadata (config, versions, licence, metrics)."""
    return inspect_weights(path).metadata


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v.split("+")[0])[:3])


def _incompatibility(meta: dict[str, str]) -> str | None:
    if "config" not in meta:
        return "not an autodyn model (no model config in its metadata)"
    layout = meta.get("layout_version")
    writer = meta.get("autodyn_version", "unknown")
    if layout is None:
        return "no token layout version in its metadata; not written by autodyn's save_model"
    if layout != str(T.LAYOUT_VERSION):
        newer = layout.isdigit() and int(layout) > T.LAYOUT_VERSION
        advice = (
            "upgrade autodyn (pip install -U autodynamics-cli)"
            if newer
            else f"use a model made for layout {T.LAYOUT_VERSION}"
        )
        return (
            f"made for token layout {layout} (by autodyn {writer}); this autodyn {__version__} "
            f"reads layout {T.LAYOUT_VERSION}: {advice}"
        )
    return None


def save_model(
    path: str | Path, model: AutoDynamics, metadata: dict[str, str] | None = None, half: bool = False
) -> None:
    """Write the model's weights and config; ``half`` stores fp16 tensors."""
    from safetensors.torch import save_file

    state = {
        k: (v.half() if half and v.is_floating_point() else v).contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    meta = {
        **(metadata or {}),
        "config": json.dumps(model.cfg.to_dict()),
        "layout_version": str(T.LAYOUT_VERSION),
        "autodyn_version": __version__,
    }
    save_file(state, str(path), metadata=meta)


def read_checked_config(path: Path) -> ModelConfig:
    """A weights file's model config, after checking its header and layout version (no torch)."""
    from autodynamics_cli.model.config import ModelConfig

    info = inspect_weights(path)
    meta = info.metadata
    problem = info.incompatibility()
    if problem:
        raise ModelError(f"{path}: {problem}")
    writer = meta.get("autodyn_version", "unknown")
    try:
        return ModelConfig.from_dict(json.loads(meta["config"]))
    except (ValueError, TypeError) as e:
        if writer != "unknown" and _version_tuple(writer) > _version_tuple(__version__):
            raise ModelError(
                f"{path}: written by autodyn {writer}, newer than this {__version__}, "
                f"with a config it cannot read ({e}); upgrade autodyn"
            ) from None
        raise ModelError(f"{path}: invalid model config in the metadata ({e})") from None


def read_checked_calibration(path: Path) -> PieceCalibration | None:
    """The piece calibration stored with the weights (``model/calibration.py``), or None."""
    from autodynamics_cli.model.calibration import read_calibration

    try:
        return read_calibration(read_metadata(path))
    except (ValueError, TypeError, KeyError) as e:
        raise ModelError(f"{path}: invalid piece calibration in the metadata ({e})") from None


def read_numpy_state(path: Path, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """The weights as float32 numpy arrays, checked against ``cfg``'s names and shapes (no torch)."""
    import numpy as np
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from autodynamics_cli.model.config import state_shapes

    try:
        state = load_file(str(path))
    except (SafetensorError, ValueError, OSError) as e:
        raise ModelError(f"{path}: cannot read the weights ({str(e).splitlines()[0]})") from None
    want = state_shapes(cfg)
    if set(state) != set(want) or any(state[k].shape != shape for k, shape in want.items()):
        wrong = sorted(set(state) ^ set(want)) or sorted(k for k in want if state[k].shape != want[k])
        raise ModelError(f"{path}: weights do not match their config ({', '.join(wrong[:3])})")
    state = {k: v.astype(np.float32) for k, v in state.items()}
    if not all(np.isfinite(v).all() for v in state.values()):
        raise ModelError(f"{path}: corrupt weights file (NaN or infinite weights)")
    return state


def load_network(path: Path, device: torch.device | str = "cpu") -> AutoDynamics:
    """The torch network of a weights file, after checking its header, layout and config.

    The network alone: ``inference.model.load_model`` pairs it with the file's calibration.
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from autodynamics_cli.model.torch_net import AutoDynamics

    cfg = read_checked_config(path)
    try:
        model = AutoDynamics(cfg)
        state = load_file(str(path))
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except (SafetensorError, ValueError, RuntimeError, TypeError) as e:
        raise ModelError(f"{path}: weights do not match their config ({str(e).splitlines()[0]})") from None
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise ModelError(f"{path}: corrupt weights file (NaN or infinite weights)")
    return model.to(device).eval()

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from autodynamics_cli.model import PRESETS, AutoDynamics, ModelConfig  # noqa: E402
from autodynamics_cli.weights import save_model  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

torch.set_num_threads(min(2, torch.get_num_threads()))
# training caches parsed notes; tests must not write into the user's cache, nor leave one behind
os.environ["AUTODYN_CACHE_DIR"] = tempfile.mkdtemp(prefix="autodyn-test-cache-")
atexit.register(shutil.rmtree, os.environ["AUTODYN_CACHE_DIR"], ignore_errors=True)


def tiny_model(feedback: bool = True, seed: int = 0, **kw) -> AutoDynamics:
    """A random tiny model; ``kw`` overrides config fields (e.g. ``causal_decoder=False``)."""
    torch.manual_seed(seed)
    cfg = ModelConfig(**{**PRESETS["tiny"].to_dict(), "velocity_feedback": feedback,
                         "dropout": 0.0, **kw})
    return AutoDynamics(cfg).eval()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_model(path, tiny_model(max_decoder_len=256))
    return path


@pytest.fixture(autouse=True)
def _no_network_no_user_models(tmp_path_factory, monkeypatch):
    """No test reaches the Hub or reads the user's Hugging Face cache or AUTODYN_MODEL."""
    import huggingface_hub.constants as hf_constants

    cache = tmp_path_factory.getbasetemp() / "hf-empty" / "hub"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("AUTODYN_MODEL", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # read at import by huggingface_hub
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))


def needs_shared() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")

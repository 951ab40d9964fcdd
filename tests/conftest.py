"""Fixtures shared by the whole test tree (pytest gives them to every folder below)."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # test modules import ``helpers``

from helpers import (  # noqa: E402
    alignment_csv,
    performance,
    performance_bytes,
    score_bytes,
    tiny_model,
)

from autodynamics_cli.model.weights_file import save_model  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

torch.set_num_threads(min(2, torch.get_num_threads()))
# training caches parsed notes; tests must not write into the user's cache, nor leave one behind
os.environ["AUTODYN_CACHE_DIR"] = tempfile.mkdtemp(prefix="autodyn-test-cache-")
atexit.register(shutil.rmtree, os.environ["AUTODYN_CACHE_DIR"], ignore_errors=True)


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


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder of real scores and performances; the test skips where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A random tiny causal model's weights file."""
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_model(path, tiny_model(max_decoder_len=256))
    return path


@pytest.fixture
def markings_seen(monkeypatch) -> list:
    """The markings ``autodyn humanize`` passes to the model, one entry per file (None: none)."""
    from autodynamics_cli.humanize import files

    seen: list = []
    real = files.predict_velocities

    def spy(engine, notes_list, **kw):
        seen.extend(kw["markings"])
        return real(engine, notes_list, **kw)

    monkeypatch.setattr(files, "predict_velocities", spy)
    return seen


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Five tiny performances with a MAESTRO-style metadata.csv (one in the validation split)."""
    root = tmp_path / "data"
    rows = ["canonical_composer,canonical_title,split,year,midi_filename,duration"]
    for i in range(5):
        split = "validation" if i == 4 else "train"
        (root / "A").mkdir(parents=True, exist_ok=True)
        (root / "A" / f"p{i}.mid").write_bytes(performance(i))
        rows.append(f"Anon,Piece {i % 2},{split},2020,A/p{i}.mid,10.0")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def aligned(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Performances, scores and alignments of three pieces (performance, score, alignment roots)."""
    perf_root, score_root, align_root = tmp_path / "perf", tmp_path / "scores", tmp_path / "align"
    rows = ["canonical_composer,canonical_title,split,year,midi_filename,duration"]
    for piece in range(3):
        split = "validation" if piece == 2 else "train"
        folder = f"Anon/Piece{piece}"
        (score_root / folder).mkdir(parents=True)
        (score_root / folder / "midi_score.mid").write_bytes(score_bytes(stepped=piece != 1))
        (perf_root / folder).mkdir(parents=True)
        align_root.mkdir(exist_ok=True)
        for who in ("Ann", "Bob"):
            perf = performance_bytes(piece * 10 + len(who) + ord(who[0]))
            (perf_root / folder / f"{who}.mid").write_bytes(perf)
            (align_root / f"Anon__Piece{piece}__{who}.csv").write_text(alignment_csv(perf, {3}))
            rows.append(f"Anon,Piece {piece},{split},2020,{folder}/{who}.mid,7.0")
    (perf_root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return perf_root, score_root, align_root

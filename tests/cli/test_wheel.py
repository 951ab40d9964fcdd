"""The wheel carries the default model: build it, install it in a new venv, humanize offline.

Slow (about 20-30 s) but run in CI. The wheel is built with pip (build isolation
fetches hatchling as for any install). The new venv gets only the wheel; its
dependencies (torch, mido, ...) come from the test interpreter's site-packages,
named in a ``.pth`` file, so no multi-GB download. That folder is appended after
the venv's own site-packages and its own ``.pth`` files (such as an editable
install of this repo) are not processed, and the test asserts that autodyn and
its model are imported from the new venv, in an empty folder, with no
PYTHONPATH, no Hugging Face cache and ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from helpers import ROOT, assert_only_velocities_changed


def _run(cmd: list, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_humanizes_offline_with_the_bundled_model(tmp_path: Path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "PYTHONPATH",
            "HF_HUB_CACHE",
            "HUGGINGFACE_HUB_CACHE",
            "AUTODYN_MODEL",
            "PYTHONHOME",
            "VIRTUAL_ENV",
        }
    }
    hf_home = tmp_path / "hf-home"
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HOME=str(hf_home),
        OMP_NUM_THREADS="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
    )
    empty = tmp_path / "empty"
    empty.mkdir()

    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", ROOT], empty, env)
    (wheel,) = (tmp_path / "dist").glob("autodynamics_cli-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "autodynamics_cli/weights/default.safetensors" in names
    assert "autodynamics_cli/weights/README.md" in names  # the model card and licence travel along
    for dep in ("torch", "huggingface-hub", "safetensors", "mido"):
        assert f"Requires-Dist: {dep}" in meta

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], empty, env)
    py = venv / "bin" / "python"
    site = Path(
        _run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], empty, env).stdout.strip()
    )
    outer = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "zz_test_dependencies.pth").write_text("\n".join(outer) + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel],
        empty,
        env,
    )

    where = _run([py, "-c", "import autodynamics_cli, sys; print(autodynamics_cli.__file__)"], empty, env)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout

    models = json.loads(_run([venv / "bin" / "autodyn", "models", "--json"], empty, env).stdout)
    default = next(m for m in models if m["name"] == "default")
    assert default["available"] and Path(default["path"]).is_relative_to(site), default

    example = ROOT / "examples" / "minuet_in_g.mid"
    src = tmp_path / "in" / "minuet.mid"
    src.parent.mkdir()
    src.write_bytes(example.read_bytes())
    out = tmp_path / "out" / "minuet.mid"
    out.parent.mkdir()
    run = _run([venv / "bin" / "autodyn", "humanize", src, "-o", out, "--device", "cpu"], empty, env)
    assert "humanized 1 of 1" in run.stderr
    assert_only_velocities_changed(example.read_bytes(), out.read_bytes(), 47)
    assert out.read_bytes() != example.read_bytes()
    assert list(empty.iterdir()) == []  # nothing written where it ran
    assert not (hf_home / "hub").exists() or not any((hf_home / "hub").iterdir())  # nothing fetched

"""The light install: without torch, humanize works on numpy and the rest names the extra to install.

Torch is hidden from a fresh interpreter (``sys.modules['torch'] = None`` makes
every ``import torch`` fail, as on a machine without it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "minuet_in_g.mid"


def autodyn_without_torch(*args: str) -> subprocess.CompletedProcess:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from autodynamics_cli.cli.app import main\n"
        f"sys.argv = ['autodyn', *{list(args)!r}]\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_humanizes_the_example_on_numpy(tmp_path: Path):
    r = autodyn_without_torch("humanize", str(EXAMPLE), "-o", str(tmp_path / "out.mid"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.mid").stat().st_size == EXAMPLE.stat().st_size


def test_a_big_job_falls_back_to_numpy(tmp_path: Path):
    """auto picks torch above 512 KB of MIDI only where torch is installed."""
    big = tmp_path / "big"
    big.mkdir()
    for i in range(3):  # 900 KB in all: bytes after the last track are ignored by readers
        (big / f"{i}.mid").write_bytes(EXAMPLE.read_bytes() + b"\0" * 300_000)
    r = autodyn_without_torch("humanize", str(big), "-o", str(tmp_path / "out") + "/")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.mid", "1.mid", "2.mid"]


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["humanize", str(EXAMPLE), "--engine", "torch"], "torch"),
        (["humanize", str(EXAMPLE), "--temperature", "0.5"], "torch"),
        (["train", "--data", str(ROOT / "examples")], "train"),
        (["eval", "--data", str(ROOT / "examples")], "train"),
        (["export", "runs/none", "-o", "x.safetensors"], "train"),
    ],
)
def test_torch_commands_name_the_extra(tmp_path: Path, args: list[str], extra: str):
    if args[0] == "humanize":
        args += ["-o", str(tmp_path / "out.mid")]
    r = autodyn_without_torch(*args)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: PyTorch is not installed")
    assert f"install autodyn's [{extra}] extra (pip install torch)" in lines[0]
    assert not (tmp_path / "out.mid").exists()

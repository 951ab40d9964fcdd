"""``autodyn plot`` (humanize/plot.py): PNGs of the asked size, and a clear line without matplotlib."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import rich_file, simple_file, stepped_file
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app

runner = CliRunner()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plot_writes_png_of_the_right_size(tmp_path: Path):
    pytest.importorskip("matplotlib")
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    a.write_bytes(stepped_file())
    b.write_bytes(rich_file())
    fig = tmp_path / "one.png"
    r = runner.invoke(app, ["plot", str(a), "-o", str(fig), "--width", "4", "--height", "3", "--dpi", "50"])
    assert r.exit_code == 0, r.output
    assert _png_size(fig.read_bytes()) == (200, 150)
    fig2 = tmp_path / "two.png"
    r = runner.invoke(app, ["plot", str(a), str(b), "-o", str(fig2), "--start", "1", "--end", "8",
                            "--width", "6", "--height", "4", "--dpi", "60"])
    assert r.exit_code == 0, r.output
    assert _png_size(fig2.read_bytes()) == (360, 240) and fig2.stat().st_size > 3000
    assert runner.invoke(app, ["plot", str(a), str(b), str(a), "-o", str(fig)]).exit_code == 2


def test_plot_without_matplotlib_is_one_clear_line(tmp_path: Path):
    src = tmp_path / "a.mid"
    src.write_bytes(simple_file())
    code = ("import sys; sys.modules['matplotlib'] = None; from autodynamics_cli.cli.app import main; "
            f"sys.argv = ['autodyn', 'plot', {str(src)!r}, '-o', 'x.png']; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: autodyn plot needs matplotlib: pip install 'autodynamics-cli[plot]'"



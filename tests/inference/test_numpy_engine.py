"""The numpy engine (inference/numpy_engine.py): the torch engine's inputs, and no torch import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from helpers import CPU, piece, random_window

from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.inference.referee import decoder_inputs
from autodynamics_cli.inference.torch_engine import full_inputs, stack_windows
from autodynamics_cli.model.torch_net import note_keys


def test_decoder_inputs_match_the_torch_ones():
    rng = np.random.default_rng(1)
    items = [random_window(rng, n) for n in (6, 13, 9)]
    x = stack_windows(items, CPU)
    tokens, onsets, roles, features = full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
    got = decoder_inputs(items)
    want = (tokens, onsets, roles, note_keys(tokens, roles, None), features)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w.numpy())


def test_humanize_on_cpu_does_not_import_torch(tmp_path: Path):
    src = tmp_path / "in.mid"
    src.write_bytes(piece(4))
    code = (
        "import sys\nfrom autodynamics_cli.cli.app import main\n"
        f"sys.argv = ['autodyn', 'humanize', {str(src)!r}, '-o', {str(tmp_path / 'o.mid')!r}, "
        "'--device', 'cpu', '-q']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.mid").is_file()

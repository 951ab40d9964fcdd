"""The benchmark script and the fast-path pieces it compares (no timing asserts here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_model
from midi_factory import simple_file
from test_decoding import random_window

from autodynamics_cli.decoding import decode_free_greedy, free_generation_twin

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[1]


def test_free_greedy_generates_three_tokens_per_note():
    tagger = tiny_model(feedback=False, causal_decoder=False, note_features=True, input_velocity=True)
    twin = free_generation_twin(tagger)
    assert twin.cfg.causal_decoder and twin.num_parameters() == tagger.num_parameters()
    rng = np.random.default_rng(0)
    items = [random_window(rng, n) for n in (3, 8, 5)]
    out = decode_free_greedy(twin, items, CPU, batch_size=2)
    assert [len(o) for o in out] == [9, 24, 15]
    with pytest.raises(ValueError, match="causal"):
        decode_free_greedy(tagger, items, CPU)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_humanize", ROOT / "benchmarks" / "bench_humanize.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_prints_its_json(tmp_path: Path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        (data / f"f{i}.mid").write_bytes(simple_file(20 + 10 * i))
    result = _bench().main(["--data", str(data), "--preset", "tiny", "--limit", "2",
                            "--compare-windows", "2", "--no-startup", "--threads", "1"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(result))
    run = printed["run"]
    assert run["files"] == 2 and not run["failed"] and run["notes"] == 20 + 40
    for key in ("wall_s", "realtime_factor", "notes_per_s", "peak_rss_mb", "first_output_s",
                "minutes_of_music"):
        assert run[key] > 0, key
    dec = printed["decoding"]
    assert dec["identical_to_reference"] is True
    assert dec["speedup_vs_reference"] > 0 and dec["speedup_vs_free_greedy"] > 0

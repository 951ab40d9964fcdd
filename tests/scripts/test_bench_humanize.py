"""The benchmark script and the paper-style decoders it compares with (no timing asserts here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import CPU, NOTE_TAGGER, TAGGER, load_script, random_window, simple_file, tiny_model

free_decoding = load_script("free_decoding")


def test_free_greedy_generates_three_tokens_per_note():
    tagger = tiny_model(**TAGGER)
    twin = free_decoding.free_generation_twin(tagger)
    assert twin.cfg.causal_decoder and twin.num_parameters() == tagger.num_parameters()
    rng = np.random.default_rng(0)
    items = [random_window(rng, n) for n in (3, 8, 5)]
    out = free_decoding.decode_free_greedy(twin, items, CPU, batch_size=2)
    assert [len(o) for o in out] == [9, 24, 15]
    with pytest.raises(ValueError, match="causal"):
        free_decoding.decode_free_greedy(tagger, items, CPU)


def test_free_generation_twin_of_a_note_token_tagger():
    """The paper-style comparison runs on a causal three-token twin of the same size."""
    tagger = tiny_model(**NOTE_TAGGER)
    twin = free_decoding.free_generation_twin(tagger)
    assert twin.cfg.causal_decoder and not twin.cfg.note_tokens
    assert twin.num_parameters() == tagger.num_parameters()


def test_benchmark_prints_its_json(tmp_path: Path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        (data / f"f{i}.mid").write_bytes(simple_file(20 + 10 * i))
    result = load_script("bench_humanize").main(
        [
            "--data",
            str(data),
            "--preset",
            "tiny",
            "--limit",
            "2",
            "--compare-windows",
            "2",
            "--no-startup",
            "--threads",
            "1",
        ]
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(result))
    run = printed["run"]
    assert run["files"] == 2 and not run["failed"] and run["notes"] == 20 + 40
    for key in (
        "wall_s",
        "realtime_factor",
        "notes_per_s",
        "peak_rss_mb",
        "first_output_s",
        "minutes_of_music",
    ):
        assert run[key] > 0, key
    dec = printed["decoding"]
    assert dec["identical_to_reference"] is True
    assert dec["speedup_vs_reference"] > 0 and dec["speedup_vs_free_greedy"] > 0

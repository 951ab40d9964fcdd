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


@pytest.mark.parametrize("variant", ["causal", "tagger"])
def test_velocity_logits_match_the_full_decoder(variant):
    """The pruned last layer and velocity-only head give the full pass's numbers."""
    from autodynamics_cli import tokens as T
    from autodynamics_cli.decoding import _full_inputs, _stack

    kw = {"causal": dict(feedback=False),
          "tagger": dict(feedback=False, causal_decoder=False, note_features=True,
                         input_velocity=True)}[variant]
    model = tiny_model(seed=2, n_dec_layers=2, **kw)
    rng = np.random.default_rng(1)
    x = _stack([random_window(rng, n) for n in (6, 13, 9)], CPU)
    with torch.inference_mode():
        inputs = _full_inputs(x, torch.full_like(x.pitch, T.VEL_MASK))
        mem = model.encode(x.roll)
        full = model.decode(*inputs[:3], mem, inputs[3])[:, 2::3, T.VEL_OFFSET : T.VEL_OFFSET + T.N_VELOCITY]
        fast = model.velocity_logits(*inputs[:3], mem, inputs[3])
    assert fast.shape == full.shape
    real = (x.pitch != T.PAD)[..., None].expand_as(full)  # padding rows of a tagger may differ
    torch.testing.assert_close(fast[real], full[real], rtol=1e-5, atol=1e-5)


def test_plan_batches_covers_in_order_and_cuts_padding():
    from autodynamics_cli.decoding import plan_batches

    lengths = sorted([5, 6, 6, 7, 100, 101, 300, 300, 301, 2, 3])
    cuts = plan_batches(lengths, batch_size=4, overhead=16)
    assert cuts[0][0] == 0 and cuts[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:], strict=False))
    assert all(0 < hi - lo <= 4 for lo, hi in cuts)
    # short and long windows never share a batch when the padding would cost more than a batch
    assert all(lengths[hi - 1] <= 2 * lengths[lo] for lo, hi in cuts)
    # a huge per-batch cost gives the fewest batches
    assert len(plan_batches(lengths, batch_size=4, overhead=1 << 40)) == 3


@pytest.mark.parametrize("readout", ["argmax", "mean"])
def test_shipping_tagger_equals_reference_with_either_readout(readout):
    """The shipping preset's layout (tagger, note features, mean readout) on the fast path."""
    from autodynamics_cli.decoding import decode_cached, decode_reference

    model = tiny_model(seed=4, feedback=False, causal_decoder=False, note_features=True,
                       input_velocity=True, readout=readout, n_dec_layers=2)
    with torch.no_grad():
        model.head.weight.mul_(20)
    rng = np.random.default_rng(5)
    items = [random_window(rng, n) for n in (2, 19, 7, 20, 11, 1, 15)]
    fast = decode_cached(model, items, CPU, batch_size=3)
    assert [f.tolist() for f in fast] == [decode_reference(model, w, CPU).tolist() for w in items]


def test_read_ahead_gives_the_same_files_and_errors(tmp_path: Path, monkeypatch):
    """Parsing the next group in a thread changes nothing but the timing."""
    from autodynamics_cli import batch

    ins = []
    for i in range(7):
        p = tmp_path / f"in{i}.mid"
        p.write_bytes(b"not midi" if i in (2, 5) else simple_file(6 + 3 * i))
        ins.append(p)
    model = tiny_model(feedback=False, max_decoder_len=256)
    monkeypatch.setattr(batch, "FILES_PER_GROUP", 2)
    outs = {}
    for ahead in (False, True):
        monkeypatch.setattr(batch, "READ_AHEAD", ahead)
        out = tmp_path / f"out{ahead}"
        plans = batch.plan_outputs(batch.expand_inputs([str(p) for p in ins]), str(out) + "/")
        results = batch.humanize_files(model, plans, CPU)
        names = [Path(r.input).name for r in results]
        assert sorted(names) == sorted(p.name for p in ins)
        assert sorted(Path(r.input).name for r in results if not r.ok) == ["in2.mid", "in5.mid"]
        outs[ahead] = ({Path(r.input).name: Path(r.output).read_bytes() for r in results if r.ok}, names)
    assert outs[True] == outs[False]


def test_causal_models_skip_notes_after_the_last_kept_one(monkeypatch):
    """Trimming a causal model's windows after their last kept note changes no velocity."""
    from autodynamics_cli import humanize
    from autodynamics_cli.midi_io import Notes

    model = tiny_model(seed=6, feedback=False, max_decoder_len=256)
    with torch.no_grad():
        model.head.weight.mul_(30)
    rng = np.random.default_rng(8)
    n = 400
    onset = np.sort(rng.uniform(0, 60, n))
    notes = Notes(onset=onset, offset=onset + rng.uniform(0.05, 1, n), pitch=rng.integers(21, 109, n),
                  velocity=np.full(n, 64), channel=np.zeros(n, int), track=np.zeros(n, int),
                  byte_offset=np.arange(n))
    (trimmed,) = humanize.predict_velocities(model, [notes], CPU)
    monkeypatch.setattr(humanize, "trim_after_last_kept", lambda w: w)
    (full,) = humanize.predict_velocities(model, [notes], CPU)
    assert trimmed.tolist() == full.tolist()


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_do_not_import_torch(flag):
    import subprocess
    import sys

    code = (f"import sys\nsys.argv = ['autodyn', {flag!r}]\nfrom autodynamics_cli.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'numpy', 'mido') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip().splitlines()[-1] == "[]"

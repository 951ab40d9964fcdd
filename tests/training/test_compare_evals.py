"""scripts/compare_evals.py: the paired comparison of two eval reports, on reports built in code."""

from __future__ import annotations

import json

import pytest
from helpers import load_script

compare_evals = load_script("compare_evals")


def report(mse_by_perf: dict[str, float], r: float = 0.5) -> dict:
    """An eval report: performance 'piece/name' -> MSE; MAE and r fixed."""
    return {"performances": [
        {"path": path, "group": path.split("/")[0], "mse": mse, "mae": 10.0, "r": r}
        for path, mse in mse_by_perf.items()]}


PERFS = [f"p{i}/{k}" for i in range(6) for k in "ab"]


def test_same_report_differs_by_nothing():
    a = report({p: 100.0 + i for i, p in enumerate(PERFS)})
    res = compare_evals.compare(a, a, resamples=200)
    assert res["mse"]["diff"] == 0.0
    assert res["mse"]["low"] == res["mse"]["high"] == 0.0
    assert res["mse"]["better"] == 0 and res["mse"]["pieces"] == 6


def test_better_on_every_piece_gives_an_interval_below_zero():
    a = report({p: 100.0 + 3 * i for i, p in enumerate(PERFS)}, r=0.5)
    b = report({p: 95.0 + 3 * i - (i % 3) for i, p in enumerate(PERFS)}, r=0.55)
    res = compare_evals.compare(a, b, resamples=500)
    assert res["mse"]["high"] < 0 and res["mse"]["better"] == 6
    assert res["r"]["diff"] == pytest.approx(0.05) and res["r"]["better"] == 6
    # piece means first: p0 averages its two performances
    assert res["mse"]["a"] == pytest.approx(100.0 + 3 * 5.5)


def test_one_lucky_piece_leaves_an_interval_that_straddles_zero():
    mse_a = {p: 100.0 for p in PERFS}
    mse_b = {p: (60.0 if p.startswith("p0/") else 101.0) for p in PERFS}
    res = compare_evals.compare(report(mse_a), report(mse_b), resamples=2000)
    assert res["mse"]["diff"] < 0  # better on average ...
    assert res["mse"]["low"] < 0 < res["mse"]["high"]  # ... but not reliably
    assert res["mse"]["better"] == 1


def test_reports_of_different_performances_are_refused():
    a = report({p: 100.0 for p in PERFS})
    b = report({p: 100.0 for p in PERFS[:-1]})
    with pytest.raises(ValueError, match="different performances"):
        compare_evals.compare(a, b)


def test_command_line_prints_the_table_and_json(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(report({p: 100.0 for p in PERFS})))
    b.write_text(json.dumps(report({p: 90.0 for p in PERFS})))
    compare_evals.main([str(a), str(b), "--resamples", "100"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["metric", "A", "B", "B-A"]
    assert json.loads(out[-1])["mse"]["diff"] == pytest.approx(-10.0)

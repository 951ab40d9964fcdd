"""scripts/compare_evals.py: the paired comparison of two eval reports, on reports built in code."""

from __future__ import annotations

import json

import pytest
from helpers import load_script

compare_evals = load_script("compare_evals")


def report(mse_by_perf: dict[str, float], r: float = 0.5) -> dict:
    """An eval report: performance 'piece/name' -> MSE; MAE and r fixed."""
    return {
        "performances": [
            {"path": path, "group": path.split("/")[0], "mse": mse, "mae": 10.0, "r": r}
            for path, mse in mse_by_perf.items()
        ]
    }


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


def test_within_compares_two_paths_of_the_musicxml_table_on_the_rows_both_have(tmp_path, capsys):
    nan = float("nan")
    rows = [
        {
            "path": f"p{i}/a",
            "group": f"p{i}",
            "mse": 90.0 + i,
            "mae": 9.0,
            "r": 0.6,
            "midi_mse": 100.0 + i,
            "midi_mae": 10.0,
            "midi_r": 0.5,
            "with_score_mse": nan if i == 0 else 95.0 + i,
            "with_score_mae": nan if i == 0 else 9.5,
            "with_score_r": nan if i == 0 else 0.55,
            "markings": i != 3,
        }
        for i in range(4)
    ]
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"performances": [], "musicxml": {"performances": rows}}))
    a, b = compare_evals.musicxml_paths(json.loads(path.read_text()), ("midi", "with_score"))
    assert [r["mse"] for r in a["performances"]] == [101.0, 102.0, 103.0]  # p0 has no --score row
    res = compare_evals.compare(a, b, resamples=100)
    assert res["mse"]["diff"] == pytest.approx(-5.0) and res["mse"]["pieces"] == 3
    a, _ = compare_evals.musicxml_paths(json.loads(path.read_text()), ("midi", "musicxml"), marked=True)
    assert [r["mse"] for r in a["performances"]] == [100.0, 101.0, 102.0]  # p3's score has no markings
    compare_evals.main([str(path), "--within", "midi", "musicxml", "--resamples", "50"])
    assert "-10.000" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        compare_evals.main([str(path)])  # neither a second report nor --within
    better = tmp_path / "b.json"  # a second model, 4 lower from MusicXML on every piece
    for r in rows:
        r["mse"] -= 4.0
    better.write_text(json.dumps({"performances": [], "musicxml": {"performances": rows}}))
    compare_evals.main([str(path), str(better), "--path", "musicxml", "--resamples", "50"])
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["mse"]["diff"] == pytest.approx(-4.0)
    with pytest.raises(SystemExit):
        compare_evals.main([str(path), str(better), "--path", "midi", "--within", "midi", "musicxml"])

"""Spread and level error of ``autodyn eval``: per performance, per piece, over pieces."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import tiny_model

from autodynamics_cli.inference.model import Model
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.training import evaluate as ev
from autodynamics_cli.training.datasets import aligned_targets, list_aligned, read_alignment
from autodynamics_cli.training.evaluate import (
    METRICS,
    SCORE_METRICS,
    PerformanceScore,
    compare_velocities,
    score_velocities,
    spread_and_level,
    summarize,
)


def test_spread_and_level_on_small_arrays():
    # performed std sqrt(800/3), predicted std sqrt(200/3): half as varied, as loud
    assert spread_and_level(np.array([60, 70, 80]), np.array([50, 70, 90])) == pytest.approx((0.5, 0.0))
    # predicted std 2, performed std 10; means 64 and 70
    assert spread_and_level(np.array([62, 66]), np.array([60, 80])) == pytest.approx((0.2, -6.0))
    # twice as varied and 5 louder
    assert spread_and_level(np.array([45, 85]), np.array([50, 70])) == pytest.approx((2.0, 5.0))


def test_spread_is_nan_where_the_pianist_is_constant():
    spread, level = spread_and_level(np.array([60, 70]), np.array([64, 64]))
    assert math.isnan(spread) and level == 1.0
    assert all(math.isnan(v) for v in spread_and_level(np.array([]), np.array([])))
    assert all(math.isnan(v) for v in compare_velocities(np.array([]), np.array([]), "x_").values())


def test_model_and_constant_64_rows():
    m = score_velocities(np.array([62, 66]), np.array([60, 80]))
    assert m["spread"] == pytest.approx(0.2)
    assert m["level_error"] == pytest.approx(-6.0) and m["abs_level_error"] == pytest.approx(6.0)
    # constant 64: no spread by definition, its level error 64 minus the performed mean
    assert m["baseline_spread"] == 0.0
    assert m["baseline_level_error"] == pytest.approx(-6.0)
    assert m["baseline_abs_level_error"] == pytest.approx(6.0)
    assert "baseline_r" not in m
    # the existing metrics keep their values
    assert m["mse"] == pytest.approx((4 + 196) / 2) and m["mae"] == pytest.approx(8.0)
    assert m["baseline_mse"] == pytest.approx((16 + 256) / 2) and m["baseline_mae"] == pytest.approx(10)
    assert set(m) == set(METRICS)


def test_summarize_averages_spread_and_level_per_piece_then_over_pieces():
    def ps(group, spread, level):
        return PerformanceScore(
            "x",
            group,
            10,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            spread=spread,
            level_error=level,
            abs_level_error=abs(level),
        )

    rows = [
        ps("a", 0.5, 4.0),
        ps("a", 1.0, -2.0),
        ps("b", float("nan"), -10.0),
        ps("b", 0.9, -10.0),
        ps("c", 0.6, 3.0),
    ]
    s = summarize(rows)
    assert s["spread"] == pytest.approx((0.75 + 0.9 + 0.6) / 3)  # b's NaN row skipped
    assert s["level_error"] == pytest.approx((1.0 - 10.0 + 3.0) / 3)
    assert s["abs_level_error"] == pytest.approx((3.0 + 10.0 + 3.0) / 3)  # no cancelling
    assert s["pieces"] == 3 and s["performances"] == 5


def test_score_input_rows(aligned, monkeypatch):
    """Model, notated velocities and the other performer on score input, checked against the
    alignments directly."""
    perf_root, score_root, align_root = aligned
    entries = [e for e in list_aligned(perf_root, score_root, align_root) if "Piece0" in str(e.score)]
    assert len(entries) == 2  # Ann and Bob, the score with notated dynamics

    def louder_than_notated(engine, notes_list, **kw):
        return [n.velocity.astype(np.int64) + 5 for n in notes_list]

    monkeypatch.setattr(ev, "predict_velocities", louder_than_notated)
    rows = ev.evaluate_scores(Model.from_network(tiny_model()), entries)
    assert {r.group for r in rows} == {entries[0].group} and len(rows) == 2
    midi = read_midi(entries[0].score)
    targets = [aligned_targets(midi.notes, midi.data, read_alignment(e.alignment)) for e in entries]
    notated = midi.notes.velocity.astype(np.float64)
    for k, row in enumerate(rows):
        target, has = targets[k]
        other, other_has = targets[1 - k]
        true = target[has].astype(np.float64)
        assert row.notated_spread == pytest.approx(notated[has].std() / true.std())
        assert row.notated_level_error == pytest.approx(notated[has].mean() - true.mean())
        assert row.notated_mae == pytest.approx(np.abs(notated[has] - true).mean())
        # the model: the notated velocities 5 louder
        assert row.spread == pytest.approx(row.notated_spread)
        assert row.level_error == pytest.approx(row.notated_level_error + 5)
        assert row.abs_level_error == pytest.approx(abs(row.level_error))
        assert row.baseline_spread == 0.0
        assert row.baseline_level_error == pytest.approx(64 - true.mean())
        common = has & other_has
        assert row.other_spread == pytest.approx(other[common].std() / target[common].std())
        assert row.other_level_error == pytest.approx(other[common].mean() - target[common].mean())
        assert row.other_mae == pytest.approx(np.abs(other[common] - target[common].astype(float)).mean())
        # one other performer: their mean is that performer
        for m in ("mse", "mae", "r", "spread", "level_error", "abs_level_error"):
            assert getattr(row, f"others_mean_{m}") == pytest.approx(getattr(row, f"other_{m}")), m
    # each performer against the other: reciprocal spreads, opposite levels
    assert rows[0].other_spread * rows[1].other_spread == pytest.approx(1.0)
    assert rows[0].other_level_error == pytest.approx(-rows[1].other_level_error)
    s = summarize(rows, SCORE_METRICS)
    assert s["other_spread"] == pytest.approx((rows[0].other_spread + rows[1].other_spread) / 2)
    assert s["other_level_error"] == pytest.approx(0.0)
    assert s["other_abs_level_error"] == pytest.approx(abs(rows[0].other_level_error))

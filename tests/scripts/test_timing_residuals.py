"""scripts/timing_residuals.py: performance cues and the fitted correction, on notes built in code."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
from helpers import load_script, off, on, to_bytes, track

timing_residuals = load_script("timing_residuals")


def test_a_spread_chord_is_one_cluster():
    # a chord spread over 30 ms (two roll steps), then a single note half a second later
    onset = np.array([0.00, 0.012, 0.030, 0.5])
    pitch = np.array([60, 64, 67, 72])
    c = timing_residuals.cues(onset, onset + 0.3, pitch, np.zeros(4))
    size = c["cluster"][:, :7]  # one-hot of sizes 2..8 (size 1: all zero)
    assert size[:3, 1].tolist() == [1, 1, 1]  # size 3
    assert size[3].sum() == 0  # size 1
    rank_top = c["cluster"][:, 7:12]
    assert rank_top[2].sum() == 0 and rank_top[0, 1] == 1  # the G is the top, the C third
    lead = c["lead"].argmax(axis=1) + 1  # bucket index (0: over 25 ms early)
    assert lead[0] < lead[2]  # the early C leads, the late G lags


def test_pedal_is_read_at_each_onset(tmp_path: Path):
    msgs = [
        mido.Message("control_change", control=64, value=127, time=0),
        on(60),
        off(60, time=480),
        mido.Message("control_change", control=64, value=0, time=0),
        on(62),
        off(62, time=480),
    ]
    path = tmp_path / "pedal.mid"
    path.write_bytes(to_bytes(mido.MidiFile(type=0, ticks_per_beat=480, tracks=[track(*msgs)])))
    assert timing_residuals.pedal_at(path, np.array([0.0, 0.5])).tolist() == [127, 0]


def test_a_cue_that_explains_the_residual_is_found():
    rng = np.random.default_rng(0)

    def rows(n_perf: int):
        out = []
        for k in range(n_perf):
            n = 200
            pedal = rng.choice([0.0, 127.0], n)
            c = {"pedal": (pedal > 0).astype(float)[:, None], "noise": rng.normal(size=(n, 1))}
            pred = rng.normal(64, 8, n)
            played = pred + np.where(pedal > 0, 10.0, -10.0) + rng.normal(0, 2, n)
            out.append((f"piece{k % 3}", c, pred, played))
        return out

    train, valid = rows(12), rows(6)
    base_mse, base_r = timing_residuals.model_scores(valid)
    mse, r = timing_residuals.corrected_scores(train, valid, ["pedal"])
    assert mse < base_mse / 5 and r > base_r
    noise_mse, _ = timing_residuals.corrected_scores(train, valid, ["noise"])
    assert noise_mse == pytest.approx(base_mse, rel=0.1)

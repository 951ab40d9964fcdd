"""Batches built in worker processes equal the ones built in order by one process."""

from __future__ import annotations

import numpy as np

from autodynamics_cli.training.datasets import Piece
from autodynamics_cli.training.prefetch import BatchStream
from autodynamics_cli.training.sampler import Augment, WindowSampler, collate


def pieces() -> list[Piece]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(3):
        n = 60 + 20 * k
        onset = np.sort(rng.uniform(0, 30, n))
        out.append(
            Piece(
                onset,
                onset + rng.uniform(0.05, 1.0, n),
                rng.integers(40, 90, n),
                rng.integers(20, 110, n),
                np.ones(n, dtype=bool),
                name=f"p{k}",
                in_velocity=rng.integers(30, 100, n) if k == 1 else None,
                staff=rng.integers(1, 3, n),
            )
        )
    return out


def sampler() -> WindowSampler:
    return WindowSampler(pieces(), 7, 64, 40, Augment(), 0.2, 0.5, drop_dynamics=0.5, drop_staff=0.3)


def test_draw_then_build_is_sample():
    a, b = sampler(), sampler()
    for _ in range(6):
        x, y = a.sample(), b.build(b.draw())
        for key in ("roll", "tokens", "onsets", "roles", "targets", "weights", "features"):
            assert np.array_equal(getattr(x, key), getattr(y, key)), key


def test_workers_give_the_batches_and_states_of_one_process():
    one = sampler()
    stream = BatchStream(sampler(), 3, workers=2)
    try:
        for _ in range(5):
            want = collate([one.sample() for _ in range(3)])
            got = stream.next()
            assert want.keys() == got.keys()
            for key in want:
                assert np.array_equal(want[key], got[key]), key
            # later batches are being built, yet the state is the one to resume from
            assert len(stream.pending) > 0
            assert stream.state() == one.state()
    finally:
        stream.close()

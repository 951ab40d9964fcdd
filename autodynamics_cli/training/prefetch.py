"""Training batches built in worker processes, in the order one process would build them.

On a GPU the small model steps faster than one CPU core can cut windows, so
``autodyn train --workers N`` builds batches in N forked processes. The main
process still makes every random choice (``WindowSampler.draw``, cheap) in the
same order as without workers; the workers only build the windows those choices
describe (``WindowSampler.build``, deterministic). So the batches, and a run's
result, do not depend on the number of workers, and a checkpoint saves the
sampler state from before the first batch not yet trained on: ``--resume``
continues exactly, even though later batches were already being built.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from autodynamics_cli.training.sampler import WindowDraw, WindowSampler, collate

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

_worker_sampler: WindowSampler | None = None


def _init_worker(sampler: WindowSampler) -> None:
    global _worker_sampler
    _worker_sampler = sampler


def _build_batch(draws: list[WindowDraw]) -> dict[str, np.ndarray]:
    assert _worker_sampler is not None
    return collate([_worker_sampler.build(d) for d in draws])


class BatchStream:
    """``next()`` gives the batches ``collate([sampler.sample() ...])`` would, in order."""

    def __init__(
        self, sampler: WindowSampler, batch_size: int, workers: int = 0, depth: int | None = None
    ) -> None:
        self.sampler, self.batch_size = sampler, batch_size
        self.depth = depth or 2 * workers
        self.pool = None
        if workers > 0:
            # fork shares the loaded pieces with the workers instead of pickling them
            self.pool = mp.get_context("fork").Pool(workers, _init_worker, (sampler,))
        self.pending: deque = deque()  # (sampler state before the batch, its result)

    def _submit(self) -> None:
        state = self.sampler.state()
        draws = [self.sampler.draw() for _ in range(self.batch_size)]
        assert self.pool is not None
        self.pending.append((state, self.pool.apply_async(_build_batch, (draws,))))

    def next(self) -> dict[str, np.ndarray]:
        if self.pool is None:
            return collate([self.sampler.sample() for _ in range(self.batch_size)])
        while len(self.pending) < self.depth:
            self._submit()
        _, result = self.pending.popleft()
        return result.get()

    def state(self) -> Mapping[str, Any]:
        """The sampler state a resumed run starts from: before the next batch to train on."""
        return self.pending[0][0] if self.pending else self.sampler.state()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None
            self.pending.clear()

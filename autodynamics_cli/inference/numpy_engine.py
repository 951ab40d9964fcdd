"""The numpy adapter: run ``model.numpy_net.NumpyTagger`` on windows, in threads.

With ``workers`` above 1, batches run in that many threads at once (numpy
releases the GIL in its kernels); batches are capped at ``PARALLEL_BATCH``
windows so that there are enough of them to share. The cap does not depend on
``workers``, so neither do the velocities. Velocities are read by
``readout.close_readout``, and close calls settled by ``referee.Referee``, as in
the torch engine.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from autodynamics_cli.encoding.windows import BATCH_OVERHEAD_TOKENS, WindowInput, batch_windows
from autodynamics_cli.inference.engine import Engine
from autodynamics_cli.inference.readout import close_readout
from autodynamics_cli.inference.referee import Referee, decoder_inputs
from autodynamics_cli.model.numpy_net import NumpyTagger

PARALLEL_BATCH = 8  # windows per batch: small enough for threads to share a file's batches


class NumpyEngine(Engine):
    """A tagger on the CPU without torch; greedy only (sampling is torch's)."""

    name = "numpy"

    def __init__(self, net: NumpyTagger, workers: int = 1) -> None:
        self.net, self.cfg, self.workers = net, net.cfg, workers
        self.referee = Referee(net.cfg, lambda: net)

    def velocities(
        self,
        windows: list[WindowInput],
        batch_size: int = 32,
        temperature: float = 0.0,
        on_batch: Callable[[list[int]], None] | None = None,
    ) -> list[np.ndarray]:
        if temperature > 0:
            raise ValueError("the numpy engine does not sample; use the torch model for a temperature")
        out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(windows)
        close: list[int] = []  # windows with a close call, for the referee
        batches = batch_windows(
            windows, self.cfg.max_decoder_len, min(batch_size, PARALLEL_BATCH), BATCH_OVERHEAD_TOKENS["cpu"]
        )

        def run(idx: list[int]) -> None:
            batch = [windows[i] for i in idx]
            tokens, onsets, roles, keys, features = decoder_inputs(batch)
            roll = np.stack([w.roll for w in batch])
            logits = self.net.velocity_logits(tokens, onsets, roles, keys, features, self.net.encode(roll))
            vel, near = close_readout(logits, self.cfg.readout)
            for row, i in enumerate(idx):
                out[i] = vel[row, : len(windows[i])]
                if near[row, : len(windows[i])].any():
                    close.append(i)
            if on_batch is not None:
                on_batch(idx)

        def settle(i: int) -> None:
            out[i] = self.referee.velocities(windows[i])

        if self.workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                list(pool.map(run, batches))
                list(pool.map(settle, sorted(close)))
        else:
            for idx in batches:
                run(idx)
            for i in close:
                settle(i)
        return out

    def num_parameters(self) -> int:
        return self.net.num_parameters()

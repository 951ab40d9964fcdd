"""What a long ``autodyn humanize`` run shows and how it stops: a progress bar, SIGTERM as Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

from autodynamics_cli.cli.common import err

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import Any


class NotesBar:
    """A progress bar that moves with the notes decoded: elapsed time, time left, the current file.

    Note counts are known only once a file is read, so each file weighs its size in
    bytes and fills its share as its notes are decoded. Quiet when not shown.
    """

    def __init__(self, sizes: dict[str, int], show: bool) -> None:
        import threading

        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.size = {name: max(size, 1) for name, size in sizes.items()}
        self.filled = dict.fromkeys(self.size, 0.0)
        self.lock = threading.Lock()
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[file]}"),
            console=err,
            disable=not show,
            transient=True,
        )
        self.task = self.bar.add_task("humanizing", total=sum(self.size.values()), file="")

    def __enter__(self) -> NotesBar:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def _fill(self, name: str, share: float) -> None:
        """Fill ``share`` (0..1) more of a file's part of the bar; threads may call it at once."""
        with self.lock:
            step = min(self.filled[name] + self.size[name] * share, self.size[name]) - self.filled[name]
            self.filled[name] += step
        self.bar.update(self.task, advance=step, file=Path(name).name)

    def notes(self, name: str, n: int, total: int) -> None:
        self._fill(name, n / max(total, 1))

    def finished(self, name: str) -> None:
        self._fill(name, 1.0)


class SigtermAsInterrupt:
    """Treat SIGTERM (``kill``, ``timeout``) like Ctrl-C inside the block, so the same cleanup runs.

    ``signum`` tells which one stopped the block (None: neither); the exit code is 128 + it.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: Callable[[int, FrameType | None], Any] | int | None = None

    def _on_sigterm(self, signum: int, _frame) -> None:
        self.signum = signum
        raise KeyboardInterrupt

    def __enter__(self) -> SigtermAsInterrupt:
        try:
            self._old = signal.signal(signal.SIGTERM, self._on_sigterm)
        except ValueError:  # not the main thread: leave SIGTERM alone
            self._old = None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        if exc_type is KeyboardInterrupt and self.signum is None:
            self.signum = signal.SIGINT

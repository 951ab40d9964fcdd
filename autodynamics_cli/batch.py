"""Humanize many files: plan output paths safely, then read, predict and write each.

A bad file never stops the others: each file's outcome is a ``FileResult``
with either an output path or a one-line error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autodynamics_cli.errors import AutodynError, OutputError
from autodynamics_cli.midi_io import MidiScore, read_midi, with_velocities, write_atomic
from autodynamics_cli.model import AutoDynamics

FILES_PER_GROUP = 8  # files whose windows share decoder batches
READ_AHEAD = True  # parse the next group of files while the model runs on this one


@dataclass
class FileResult:
    input: Path
    output: Path | None
    notes: int = 0
    drum_notes: int = 0
    out_of_range_notes: int = 0
    error: str | None = None
    warning: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Plan:
    input: Path
    output: Path | None
    error: str | None = None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def plan_outputs(inputs: list[Path], out: Path | None, overwrite: bool) -> list[Plan]:
    """Decide each input's output path, refusing anything that could lose data.

    One input and ``out`` not an existing directory: ``out`` is the file.
    Several inputs: ``out`` is a directory (created), names ``{stem}.mid``.
    No ``out``: ``{stem}_humanized.mid`` beside the input.
    """
    to_dir = out is not None and (len(inputs) > 1 or out.is_dir())
    if to_dir:
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out}: exists and is not a directory (several inputs need one)")
        out.mkdir(parents=True, exist_ok=True)
    plans: list[Plan] = []
    taken: dict[Path, Path] = {}
    for src in inputs:
        if out is None:
            dst = src.with_name(f"{src.stem}_humanized.mid")
        elif to_dir:
            dst = out / f"{src.stem}.mid"
        else:
            dst = out
        key = dst.resolve()
        if any(_same_file(i, dst) for i in inputs):
            plans.append(Plan(src, None, f"{dst}: refusing to write over an input file"))
        elif key in taken:
            plans.append(Plan(src, None, f"{dst}: output name also used by {taken[key]}"))
        elif dst.exists() and not overwrite:
            plans.append(Plan(src, None, f"{dst}: already exists (use --overwrite to replace it)"))
        else:
            taken[key] = src
            plans.append(Plan(src, dst))
    return plans


def _groups(plans: list[Plan], size: int) -> Iterator[list[Plan]]:
    """The first file alone (its output appears soonest), then ``size`` files at a time."""
    if not plans:
        return
    yield plans[:1]
    for i in range(1, len(plans), size):
        yield plans[i : i + size]


def _read_group(group: list[Plan], debug: bool) -> list[tuple[Plan, MidiScore | str]]:
    """Each plan with its parsed file, or with the one-line error that stops it."""
    out: list[tuple[Plan, MidiScore | str]] = []
    for p in group:
        if p.error:
            out.append((p, p.error))
            continue
        try:
            out.append((p, read_midi(p.input)))
        except AutodynError as e:
            if debug:
                raise
            out.append((p, str(e)))
    return out


def _read_ahead(plans: list[Plan], debug: bool) -> Iterator[list[tuple[Plan, MidiScore | str]]]:
    """Groups of read files; the next group is parsed in a thread while the model runs.

    The model spends its time in torch kernels, which release the GIL, so
    mido's pure-Python parsing of the next files mostly overlaps with it.
    """
    groups = list(_groups(plans, FILES_PER_GROUP))
    if not READ_AHEAD or len(groups) < 2:
        yield from (_read_group(g, debug) for g in groups)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="autodyn-read") as pool:
        pending = pool.submit(_read_group, groups[0], debug)
        for nxt in [*groups[1:], None]:
            ready = pending.result()
            if nxt is not None:
                pending = pool.submit(_read_group, nxt, debug)
            yield ready


def humanize_files(model: AutoDynamics, plans: list[Plan], device: torch.device,
                   batch_size: int = 32, debug: bool = False,
                   on_done: Callable[[FileResult], None] | None = None,
                   hop: int | None = None) -> list[FileResult]:
    """Humanize every planned file; windows of a group of files share decoder batches.

    ``hop``: window hop in roll steps (``humanize.predict_velocities``).
    """
    from autodynamics_cli.humanize import predict_velocities

    results: list[FileResult] = []

    def done(r: FileResult) -> None:
        results.append(r)
        if on_done:
            on_done(r)

    for group in _read_ahead(plans, debug):
        t0 = time.perf_counter()
        parsed: list[tuple[Plan, MidiScore]] = []
        for p, score in group:
            if isinstance(score, str):
                done(FileResult(p.input, None, error=score))
            else:
                parsed.append((p, score))
        with_notes = [(p, s) for p, s in parsed if len(s.notes) > 0]
        velocities = predict_velocities(model, [s.notes for _, s in with_notes], device, batch_size,
                                        hop)
        vel_of = {id(s): v for (_, s), v in zip(with_notes, velocities, strict=True)}
        per_file = (time.perf_counter() - t0) / max(len(parsed), 1)
        for p, s in parsed:
            r = FileResult(p.input, p.output, notes=len(s.notes), drum_notes=s.n_drum_notes,
                           out_of_range_notes=s.n_out_of_range_notes, seconds=per_file)
            try:
                if len(s.notes) == 0:
                    r.warning = f"{p.input}: no notes in the piano range to humanize; copied unchanged"
                    write_atomic(p.output, s.data)
                else:
                    write_atomic(p.output, with_velocities(s, vel_of[id(s)]))
            except (AutodynError, OSError) as e:
                if debug:
                    raise
                r.output, r.error = None, str(e) if isinstance(e, AutodynError) else \
                    f"{p.output}: cannot write ({e.strerror or e})"
            done(r)
    return results


@dataclass
class Summary:
    files: int = 0
    failed: list[FileResult] = field(default_factory=list)
    notes: int = 0
    untouched: int = 0

    @classmethod
    def of(cls, results: list[FileResult]) -> Summary:
        s = cls(files=len(results))
        s.failed = [r for r in results if not r.ok]
        s.notes = sum(r.notes for r in results if r.ok)
        s.untouched = sum(r.drum_notes + r.out_of_range_notes for r in results if r.ok)
        return s

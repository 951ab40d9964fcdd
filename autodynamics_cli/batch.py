"""Humanize many files: plan output paths safely, then read, predict and write each.

A bad file never stops the others: each file's outcome is a ``FileResult``
with either an output path or a one-line error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from autodynamics_cli.controls import HumanizeOptions, finalize, has_dynamics, select_notes, subset
from autodynamics_cli.errors import AutodynError, OutputError
from autodynamics_cli.midi_io import MidiScore, read_midi, with_velocities, write_atomic
from autodynamics_cli.model import AutoDynamics

FILES_PER_GROUP = 8  # files whose windows share decoder batches


@dataclass
class FileResult:
    input: Path
    output: Path | None
    notes: int = 0
    drum_notes: int = 0
    out_of_range_notes: int = 0
    unselected_notes: int = 0  # outside --tracks/--channels, left as they were
    kept_dynamics: bool = False  # the output follows the input's loudness envelope
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
    for i in range(0, len(plans), size):
        yield plans[i : i + size]


def humanize_files(model: AutoDynamics, plans: list[Plan], device: torch.device,
                   batch_size: int = 32, debug: bool = False,
                   on_done: Callable[[FileResult], None] | None = None,
                   options: HumanizeOptions | None = None) -> list[FileResult]:
    """Humanize every planned file; windows of a group of files share decoder batches."""
    from autodynamics_cli.humanize import predict_velocities

    opts = options or HumanizeOptions()
    # A model that reads the input's velocities keeps the dynamics itself; others get the envelope.
    model_keeps = bool(getattr(model.cfg, "reads_input_velocities", False))
    results: list[FileResult] = []

    def done(r: FileResult) -> None:
        results.append(r)
        if on_done:
            on_done(r)

    for group in _groups(plans, FILES_PER_GROUP):
        t0 = time.perf_counter()
        parsed: list[tuple[Plan, MidiScore, np.ndarray]] = []
        for p in group:
            if p.error:
                done(FileResult(p.input, None, error=p.error))
                continue
            try:
                s = read_midi(p.input)
                parsed.append((p, s, select_notes(s.notes, s.data, opts.tracks, opts.channels,
                                                  str(p.input))))
            except AutodynError as e:
                if debug:
                    raise
                done(FileResult(p.input, None, error=str(e)))
        with_notes = [(s, subset(s.notes, m)) for _, s, m in parsed if m.any()]
        velocities = predict_velocities(model, [n for _, n in with_notes], device, batch_size,
                                        temperature=opts.temperature, seed=opts.seed)
        vel_of = {id(s): v for (s, _), v in zip(with_notes, velocities, strict=True)}
        per_file = (time.perf_counter() - t0) / max(len(parsed), 1)
        for p, s, mask in parsed:
            r = FileResult(p.input, p.output, notes=int(mask.sum()), drum_notes=s.n_drum_notes,
                           out_of_range_notes=s.n_out_of_range_notes,
                           unselected_notes=int((~mask).sum()), seconds=per_file)
            try:
                if not mask.any():
                    what = "in the chosen tracks/channels" if len(s.notes) else "in the piano range"
                    r.warning = f"{p.input}: no notes {what} to humanize; copied unchanged"
                    write_atomic(p.output, s.data)
                else:
                    sel = subset(s.notes, mask)
                    keep = opts.keep_dynamics if opts.keep_dynamics is not None else \
                        has_dynamics(sel.velocity, sel.onset)
                    r.kept_dynamics = keep
                    out = s.notes.velocity.copy()
                    out[mask] = finalize(sel.velocity, vel_of[id(s)], sel.onset, opts,
                                         keep and not model_keeps)
                    write_atomic(p.output, with_velocities(s, out))
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
    kept_dynamics: int = 0  # files whose output follows their input's dynamics

    @classmethod
    def of(cls, results: list[FileResult]) -> Summary:
        s = cls(files=len(results))
        s.failed = [r for r in results if not r.ok]
        s.notes = sum(r.notes for r in results if r.ok)
        s.untouched = sum(r.drum_notes + r.out_of_range_notes + r.unselected_notes
                          for r in results if r.ok)
        s.kept_dynamics = sum(r.kept_dynamics for r in results if r.ok)
        return s

"""Humanize many files: find the inputs, plan output paths safely, then read, predict and write.

Everything that could lose data or waste a long run is decided in
``plan_outputs`` before any file is read: outputs never replace an input (by
any path to it), two inputs never share an output, and an existing output is
only replaced with ``overwrite``. After that a bad file never stops the
others: each file's outcome is a ``FileResult`` with a status and, on failure,
a one-line error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from autodynamics_cli.controls import HumanizeOptions, finalize, has_dynamics, select_notes, subset
from autodynamics_cli.errors import AutodynError, OutputError, UsageError
from autodynamics_cli.midi_io import MidiScore, Notes, read_midi, require_notes, with_velocities, write_atomic

if TYPE_CHECKING:
    import torch

    from autodynamics_cli.model import AutoDynamics
    from autodynamics_cli.numpy_tagger import NumpyTagger

FILES_PER_GROUP = 8  # files whose windows share decoder batches
READ_AHEAD = True  # parse the next group of files while the model runs on this one
MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")  # what a directory input picks up
STDIO = "-"  # as an input: standard input; as ``-o``: standard output
STDIN_NAME = "<stdin>"


@dataclass
class Source:
    """One input: a file, standard input (``path`` None), or a directory that yielded nothing."""

    path: Path | None
    rel: Path | None = None  # its path below the folder input it came from
    root: Path | None = None  # that folder input
    error: str | None = None

    @property
    def name(self) -> str:
        return STDIN_NAME if self.path is None else str(self.path)


@dataclass
class Plan:
    source: Source
    output: Path | None  # None: standard output (``to_stdout``) or nothing to write
    to_stdout: bool = False
    skip: bool = False  # the output exists and --skip-existing was given
    error: str | None = None
    in_folder: bool = False  # the output goes into -o's folder tree, made as needed

    @property
    def runs(self) -> bool:
        return self.error is None and not self.skip


@dataclass
class FileResult:
    input: str
    output: str | None
    status: str  # written | copied | skipped | failed
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

    def to_dict(self) -> dict:
        return {**asdict(self), "seconds": round(self.seconds, 4)}


def _is_midi_name(p: Path) -> bool:
    return p.suffix.lower() in MIDI_SUFFIXES and not p.name.startswith(".")


def _walk(folder: Path, recursive: bool, exclude: Path | None) -> list[Path]:
    """MIDI files in ``folder`` in a stable order; hidden entries and ``exclude`` are skipped."""
    if not recursive:
        return sorted(p for p in folder.iterdir() if _is_midi_name(p) and p.is_file())
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):  # does not follow directory symlinks: no loops
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not (exclude is not None and _same_file(here / d, exclude)))
        found += [here / f for f in sorted(files) if _is_midi_name(here / f) and (here / f).is_file()]
    return found


def expand_inputs(args: list[str], recursive: bool = False, exclude: Path | None = None) -> list[Source]:
    """Files, folders (their MIDI files, with ``recursive`` those of subfolders too) and ``-``.

    An input named twice (or by two paths, or a file inside a folder also given)
    is kept once. ``exclude`` (the output folder) is never searched, so a rerun
    does not pick up its own outputs.
    """
    sources: list[Source] = []
    for arg in args:
        if arg == STDIO:
            if any(s.path is None for s in sources) or len(args) > 1:
                raise UsageError("'-' (standard input) must be the only input")
            sources.append(Source(None))
            continue
        p = Path(arg)
        if p.is_dir():
            files = _walk(p, recursive, exclude)
            if not files:
                hint = "" if recursive else "; use -r to include subfolders"
                sources.append(Source(p, root=p, error=f"{p}: no MIDI files "
                                      f"({', '.join(MIDI_SUFFIXES)}) in this folder{hint}"))
            sources += [Source(f, rel=f.relative_to(p), root=p) for f in files]
        else:
            sources.append(Source(p))
    seen: set = set()
    unique: list[Source] = []
    for s in sources:
        key = None if s.path is None or s.error else _file_key(s.path)
        if key is not None and key in seen:
            continue
        seen.add(key)
        unique.append(s)
    return unique


def _file_key(p: Path) -> tuple | str:
    """Identity of a file: device and inode where it exists (catches links), else its resolved path."""
    try:
        st = p.stat()
        return (st.st_dev, st.st_ino)
    except OSError:
        return str(p.resolve())


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _names_a_directory(output: str) -> bool:
    seps = {os.sep, os.altsep} - {None}
    return output[-1:] in seps


def plan_outputs(sources: list[Source], output: str | None, overwrite: bool = False,
                 skip_existing: bool = False) -> list[Plan]:
    """Decide each input's output, refusing anything that could lose data.

    - no ``output``: ``{stem}_humanized.mid`` beside each input file; standard
      input goes to standard output. Folder inputs need ``output``.
    - ``output`` is ``-``: standard output (one input only).
    - one input file, ``output`` not a folder (no trailing slash, not an existing
      directory): ``output`` is the file.
    - otherwise ``output`` is a folder (made when the first file is written):
      each input keeps its file name there, and files found in a folder input
      keep their path below it, so the folder's layout is mirrored.

    Raises ``UsageError`` before any work when arguments cannot work together
    or two inputs would get the same output; per-file problems (the output is
    an input, or exists) become that file's ``Plan.error``.
    """
    if not sources:
        raise UsageError("no input files")
    roots = list(dict.fromkeys(s.root for s in sources if s.root is not None))
    from_dir = bool(roots)
    stdin = any(s.path is None for s in sources)
    if output == STDIO:
        if len(sources) > 1 or from_dir:
            raise UsageError("-o - (standard output) takes exactly one input file")
    elif output is None and from_dir:
        raise UsageError("a folder input needs -o OUTPUT_FOLDER (its layout is mirrored there)")
    out = Path(output) if output not in (None, STDIO) else None
    to_dir = out is not None and (len(sources) > 1 or from_dir or _names_a_directory(output)
                                  or out.is_dir())
    if to_dir:
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out}: exists and is not a folder (several inputs need an output folder)")
        if stdin:
            raise UsageError("standard input has no file name: give -o FILE, or -o - for standard output")
        for root in roots:
            if out.exists() and _same_file(root, out):
                raise UsageError(f"{out}: the output folder is the input folder {root}; outputs "
                                 f"would replace the inputs")

    input_keys = {_file_key(s.path) for s in sources if s.path is not None and s.path.exists()}
    plans: list[Plan] = []
    taken: dict[str, Source] = {}
    for s in sources:
        if s.error:
            plans.append(Plan(s, None, error=s.error))
            continue
        if output == STDIO or (output is None and s.path is None):
            plans.append(Plan(s, None, to_stdout=True))
            continue
        if out is None:
            dst = s.path.with_name(f"{s.path.stem}_humanized.mid")
        elif to_dir:
            dst = out / (s.rel if s.rel is not None else s.path.name)
        else:
            dst = out
        key = os.path.normcase(os.path.abspath(dst))
        if key in taken:
            raise UsageError(f"{dst}: both {taken[key].name} and {s.name} would be written here; "
                             f"rename one, or pass their folders with -r to mirror the layout")
        taken[key] = s
        if dst.exists() and _file_key(dst) in input_keys:
            plans.append(Plan(s, None, error=f"{s.name}: refusing to write over an input file "
                                             f"(output {dst})"))
        elif dst.exists() or dst.is_symlink():
            if skip_existing:
                plans.append(Plan(s, dst, skip=True))
            elif overwrite:
                plans.append(Plan(s, dst, in_folder=to_dir))
            else:
                plans.append(Plan(s, None, error=f"{s.name}: output {dst} already exists (use "
                                                 f"--overwrite to replace it, or --skip-existing)"))
        else:
            plans.append(Plan(s, dst, in_folder=to_dir))
    return plans


def _groups(plans: list[Plan], size: int) -> Iterator[list[Plan]]:
    """The first file alone (its output appears soonest), then ``size`` files at a time."""
    if not plans:
        return
    yield plans[:1]
    for i in range(1, len(plans), size):
        yield plans[i : i + size]


def _internal(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"internal error ({type(e).__name__}{': ' + text if text else ''}); " \
           f"rerun with AUTODYN_DEBUG=1 for a traceback and please report it"


SKIP = object()  # a plan whose output exists (--skip-existing)


def _read_one(p: Plan, stdin_data: bytes | None, opts: HumanizeOptions, debug: bool
              ) -> object:
    """A plan's parsed file and chosen notes, SKIP, or the one-line error that stops it."""
    if p.error:
        return p.error
    if p.skip:
        return SKIP
    name = p.source.name
    try:
        score = read_midi(name, stdin_data if p.source.path is None else None)
        require_notes(name, score)
        return score, select_notes(score.notes, score.data, opts.tracks, opts.channels, name)
    except AutodynError as e:
        if debug:
            raise
        return str(e)
    except Exception as e:  # a bug must not take the rest of the batch down
        if debug:
            raise
        return f"{name}: {_internal(e)}"


def _read_ahead(plans: list[Plan], stdin_data: bytes | None, opts: HumanizeOptions, debug: bool
                ) -> Iterator[list[tuple[Plan, object]]]:
    """Groups of read files; the next group is parsed in a thread while the model runs.

    The model spends its time in torch or numpy kernels, which release the GIL, so
    mido's pure-Python parsing of the next files mostly overlaps with it.
    """
    groups = list(_groups(plans, FILES_PER_GROUP))

    def read(g: list[Plan]) -> list[tuple[Plan, object]]:
        return [(p, _read_one(p, stdin_data, opts, debug)) for p in g]

    if not READ_AHEAD or len(groups) < 2:
        yield from (read(g) for g in groups)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="autodyn-read") as pool:
        pending = pool.submit(read, groups[0])
        for nxt in [*groups[1:], None]:
            ready = pending.result()
            if nxt is not None:
                pending = pool.submit(read, nxt)
            yield ready


def humanize_files(model: AutoDynamics | NumpyTagger | None, plans: list[Plan],
                   device: torch.device | None,
                   batch_size: int = 32, debug: bool = False,
                   on_done: Callable[[FileResult], None] | None = None,
                   overwrite: bool = False, stdin_data: bytes | None = None,
                   stdout: BinaryIO | None = None,
                   options: HumanizeOptions | None = None, hop: int | None = None) -> list[FileResult]:
    """Humanize every planned file; windows of a group of files share decoder batches.

    ``stdin_data`` is the content of a standard-input source, ``stdout`` where a
    standard-output plan is written (only once the file is complete). ``model``
    may be None when no plan has anything to run. A file that trips an
    unexpected error fails alone, with a message, unless ``debug``. ``options``
    are the musician controls (``controls.py``); ``hop``: window hop in roll
    steps (``humanize.predict_velocities``).
    """
    from autodynamics_cli.humanize import predict_velocities

    opts = options or HumanizeOptions()
    # A model that reads the input's notated velocities keeps the dynamics itself;
    # for others, --keep-dynamics applies the input's loudness envelope.
    model_keeps = model is not None and model.cfg.input_velocity
    results: list[FileResult] = []

    def done(r: FileResult) -> None:
        results.append(r)
        if on_done:
            on_done(r)

    def failed(p: Plan, message: str) -> None:
        done(FileResult(p.source.name, None, "failed", error=message))

    for group in _read_ahead(plans, stdin_data, opts, debug):
        t0 = time.perf_counter()
        parsed: list[tuple[Plan, MidiScore, np.ndarray]] = []
        for p, got in group:
            if got is SKIP:
                done(FileResult(p.source.name, str(p.output), "skipped"))
            elif isinstance(got, str):
                failed(p, got)
            else:
                parsed.append((p, *got))
        selected = [(id(s), subset(s.notes, m)) for _, s, m in parsed if m.any()]
        velocities = _predict_group(model, selected, device, batch_size, debug,
                                    partial(predict_velocities, temperature=opts.temperature,
                                            seed=opts.seed, hop=hop,
                                            # --no-keep-dynamics: the model's dynamics only
                                            read_dynamics=opts.keep_dynamics is not False,
                                            read_staves=opts.read_staves))
        per_file = (time.perf_counter() - t0) / max(len(parsed), 1)
        for p, s, mask in parsed:
            vel = velocities.get(id(s))
            if isinstance(vel, str):
                failed(p, f"{p.source.name}: {vel}")
                continue
            r = FileResult(p.source.name, STDIO if p.to_stdout else str(p.output), "written",
                           notes=int(mask.sum()), drum_notes=s.n_drum_notes,
                           out_of_range_notes=s.n_out_of_range_notes,
                           unselected_notes=int((~mask).sum()), seconds=per_file)
            if not mask.any():
                what = "in the chosen tracks/channels" if len(s.notes) else "in the piano range"
                r.status = "copied"
                r.warning = f"{p.source.name}: no notes {what} to humanize; copied unchanged"
                data = s.data
            else:
                sel = subset(s.notes, mask)
                keep = opts.keep_dynamics if opts.keep_dynamics is not None else \
                    has_dynamics(sel.velocity, sel.onset)
                r.kept_dynamics = keep
                out = s.notes.velocity.copy()
                # a model that reads notated dynamics follows them by itself; an explicit
                # --keep-dynamics also lays the input's envelope over it, so loud stays louder
                envelope = keep and (not model_keeps or opts.keep_dynamics is True)
                out[mask] = finalize(sel.velocity, vel, sel.onset, opts, envelope)
                data = with_velocities(s, out)
            try:
                if p.to_stdout:
                    stdout.write(data)
                    stdout.flush()
                else:
                    if p.in_folder:
                        _make_parent(p.output)
                    write_atomic(p.output, data, overwrite=overwrite)
            except (AutodynError, OSError) as e:
                if debug:
                    raise
                r.output, r.status = None, "failed"
                r.error = f"{p.source.name}: " + (str(e) if isinstance(e, AutodynError) else
                                                  f"cannot write to standard output ({e.strerror or e})")
            done(r)
    return results


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create folder {path.parent} ({e.strerror or e})") from None


def _predict_group(model, items: list[tuple[int, Notes]], device: torch.device | None, batch_size: int,
                   debug: bool, predict) -> dict[int, object]:
    """Velocities per key; if the shared batch fails, each file alone, so only the culprit fails."""
    if not items:
        return {}
    try:
        out = predict(model, [n for _, n in items], device, batch_size)
        return {k: v for (k, _), v in zip(items, out, strict=True)}
    except Exception as e:
        if debug:
            raise
        if len(items) == 1:
            return {items[0][0]: _internal(e)}
    result: dict[int, object] = {}
    for k, n in items:
        try:
            (result[k],) = predict(model, [n], device, batch_size)
        except Exception as e:
            result[k] = _internal(e)
    return result


@dataclass
class Summary:
    files: int = 0
    written: int = 0  # humanized, or copied unchanged
    skipped: int = 0
    failed: list[FileResult] = field(default_factory=list)
    notes: int = 0
    untouched: int = 0
    kept_dynamics: int = 0  # files whose output follows their input's dynamics

    @classmethod
    def of(cls, results: list[FileResult]) -> Summary:
        s = cls(files=len(results))
        s.written = sum(r.status in ("written", "copied") for r in results)
        s.skipped = sum(r.status == "skipped" for r in results)
        s.failed = [r for r in results if not r.ok]
        s.notes = sum(r.notes for r in results if r.ok)
        s.untouched = sum(r.drum_notes + r.out_of_range_notes + r.unselected_notes
                          for r in results if r.ok)
        s.kept_dynamics = sum(r.kept_dynamics for r in results if r.ok)
        return s


def json_report(results: list[FileResult], planned: int, interrupted: bool, exit_code: int) -> dict:
    """The ``--json`` document: one entry per finished file, then totals."""
    from autodynamics_cli import __version__

    s = Summary.of(results)
    return {
        "autodyn_version": __version__,
        "files": [r.to_dict() for r in results],
        "summary": {"planned": planned, "finished": s.files, "written": s.written,
                    "skipped": s.skipped, "failed": len(s.failed), "notes": s.notes,
                    "untouched_notes": s.untouched, "interrupted": interrupted},
        "exit_code": exit_code,
    }

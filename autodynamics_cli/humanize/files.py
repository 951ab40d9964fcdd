"""The ``humanize`` file loop: read, predict and write each planned file; a bad file fails alone.

Files go in groups whose windows share engine batches; the next group is
parsed in a thread while the engine runs on this one. Each file's outcome is a
``FileResult`` with a status and, on failure, a one-line error; a failure at any
stage (reading, choosing notes, the shared prediction, finishing, writing), a bug
included, fails that file alone and never stops the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np

from autodynamics_cli.errors import AutodynError, MidiReadError, OutputError
from autodynamics_cli.formats.kinds import Kind, is_compressed_name
from autodynamics_cli.formats.readers import InputFile, read_input
from autodynamics_cli.humanize.controls import HumanizeOptions, choose_notes, humanized_velocities
from autodynamics_cli.humanize.inputs import STDIO, Plan
from autodynamics_cli.humanize.report import FileResult
from autodynamics_cli.inference.model import Model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.midi.notes import MidiScore, Notes, subset
from autodynamics_cli.midi.write import with_velocities, write_atomic

FILES_PER_GROUP = 8  # files whose windows share engine batches
SKIP = object()  # a plan whose output exists (--skip-existing)


def _groups(plans: list[Plan], size: int) -> Iterator[list[Plan]]:
    """The first file alone (its output appears soonest), then ``size`` files at a time."""
    if not plans:
        return
    yield plans[:1]
    for i in range(1, len(plans), size):
        yield plans[i : i + size]


def _internal(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return (
        f"internal error ({type(e).__name__}{': ' + text if text else ''}); "
        f"rerun with AUTODYN_DEBUG=1 for a traceback and please report it"
    )


def _why(e: Exception) -> str:
    """An ``AutodynError``'s own message, anything else an internal error (a bug)."""
    return str(e) if isinstance(e, AutodynError) else _internal(e)


def _named(name: str, text: str) -> str:
    """``text`` as a file's one-line error: ``name: reason`` (messages that name the file already kept)."""
    return text if text.startswith(f"{name}: ") else f"{name}: {text}"


def _no_notes(s: MidiScore) -> bool:
    """No note events at all: empty tracks, or only tempo, meter, meta or controller events."""
    return len(s.notes) == 0 and not s.n_drum_notes and not s.n_out_of_range_notes


@dataclass
class _Read:
    """A read file (``read``: the reader's ``InputFile``), its notes to humanize, those left alone
    as not piano, and its reading time."""

    read: InputFile
    mask: np.ndarray
    not_piano: np.ndarray
    seconds: float

    @property
    def score(self) -> MidiScore:
        return self.read.midi

    @property
    def markings(self) -> np.ndarray | None:
        """A MusicXML score's ``marking_buckets`` per note of ``score`` (None for a MIDI file)."""
        return self.read.markings


def _read_one(p: Plan, stdin_data: bytes | None, opts: HumanizeOptions, debug: bool) -> object:
    """A plan's ``_Read``, SKIP, or the one-line error that stops it."""
    if p.error:
        return p.error
    if p.skip:
        return SKIP
    name = p.source.name
    t0 = time.perf_counter()
    try:
        got = read_input(
            p.source.path,
            stdin_data if p.source.path is None else None,
            name=name,
            score=p.score,
            writeback=p.kind is Kind.MUSICXML,
        )
        score = got.midi
        if got.score is not None and _no_notes(score):  # a MIDI file without notes is copied instead
            raise MidiReadError(name, "no pitched notes in this score; nothing to humanize")
        if got.markings is not None and len(got.markings) != len(score.notes):
            raise RuntimeError(f"{len(got.markings)} rows of markings for {len(score.notes)} notes")
        mask, not_piano = choose_notes(score.notes, score.programs, score.data, opts, name)
        return _Read(got, mask, not_piano, time.perf_counter() - t0)
    except Exception as e:  # a bug must not take the rest of the batch down
        if debug:
            raise
        return _named(name, _why(e))


def _read_ahead(
    plans: list[Plan],
    stdin_data: bytes | None,
    opts: HumanizeOptions,
    debug: bool,
    read_ahead: bool,
    group_size: int,
) -> Iterator[list[tuple[Plan, object]]]:
    """Groups of read files; with ``read_ahead`` the next group is parsed in a thread meanwhile.

    The engine spends its time in torch or numpy kernels, which release the GIL, so
    mido's pure-Python parsing of the next files mostly overlaps with it.
    """
    groups = list(_groups(plans, group_size))

    def read(g: list[Plan]) -> list[tuple[Plan, object]]:
        return [(p, _read_one(p, stdin_data, opts, debug)) for p in g]

    if not read_ahead or len(groups) < 2:
        yield from (read(g) for g in groups)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="autodyn-read") as pool:
        pending = pool.submit(read, groups[0])
        for nxt in [*groups[1:], None]:
            ready = pending.result()
            if nxt is not None:
                pending = pool.submit(read, nxt)
            yield ready


def humanize_files(
    model: Model | None,
    plans: list[Plan],
    batch_size: int = 32,
    debug: bool = False,
    on_done: Callable[[FileResult], None] | None = None,
    overwrite: bool = False,
    stdin_data: bytes | None = None,
    stdout: BinaryIO | None = None,
    options: HumanizeOptions | None = None,
    hop: int | None = None,
    read_ahead: bool = True,
    group_size: int = FILES_PER_GROUP,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[FileResult]:
    """Humanize every planned file; windows of a group of files share engine batches.

    ``stdin_data`` is the content of a standard-input source, ``stdout`` where a
    standard-output plan is written (only once the file is complete). ``model``
    (``inference.model.load_model``) may be None when no plan has anything to run. A file that trips an
    unexpected error fails alone, with a message, unless ``debug``. ``options``
    are the musician controls (``controls.py``); ``hop``: window hop in roll
    steps (``inference.predict.predict_velocities``); ``read_ahead`` parses the
    next ``group_size`` files while the engine runs. ``on_progress(name, n, total)``:
    ``n`` more of the ``total`` notes to humanize in file ``name`` are decoded (from
    the engine's threads too); ``on_done`` follows when the file is finished.
    """
    opts = options or HumanizeOptions()
    results: list[FileResult] = []
    finished: set[int] = set()  # the plans with a result

    def done(p: Plan, r: FileResult) -> None:
        finished.add(id(p))
        results.append(r)
        if on_done:
            on_done(r)

    predict = partial(
        predict_velocities,
        batch_size=batch_size,
        temperature=opts.temperature,
        seed=opts.seed,
        hop=hop,
        read_dynamics=opts.keep_dynamics is not False,  # --no-keep-dynamics: the model's own
        read_staves=opts.read_staves,
    )
    for group in _read_ahead(plans, stdin_data, opts, debug, read_ahead, group_size):
        try:
            _humanize_group(model, group, opts, predict, done, debug, on_progress, overwrite, stdout)
        except Exception as e:  # a bug outside any one file's stages: the group's unfinished files fail
            if debug:
                raise
            for p, _ in group:
                if id(p) not in finished:
                    done(p, FileResult(p.source.name, None, "failed", error=_named(p.source.name, _why(e))))
    return results


def _humanize_group(
    model: Model | None,
    group: list[tuple[Plan, object]],
    opts: HumanizeOptions,
    predict: Callable[..., list[np.ndarray]],
    done: Callable[[Plan, FileResult], None],
    debug: bool,
    on_progress: Callable[[str, int, int], None] | None,
    overwrite: bool,
    stdout: BinaryIO | None,
) -> None:
    """One group of read files: their windows share the engine's batches, then each is finished alone."""
    parsed = _parsed(group, done)
    t0 = time.perf_counter()
    running = [(p, f) for p, f in parsed if f.mask.any()]
    # the sequences the model reads, each with the index of its file in ``running``
    parts = [(k, part) for k, (_, f) in enumerate(running) for part in _sequences(f)]

    def on_notes(i: int, n: int) -> None:
        p, f = running[parts[i][0]]
        assert on_progress is not None  # passed on only when given
        on_progress(p.source.name, n, int(f.mask.sum()))

    predicted = _predict_group(
        model,
        [(i, notes, markings) for i, (_, (_, notes, markings)) in enumerate(parts)],
        debug,
        predict,
        None if on_progress is None else on_notes,
    )
    joined = _join_sequences(parts, [predicted[i] for i in range(len(parts))])
    velocities = {id(f): joined[k] for k, (_, f) in enumerate(running)}
    # the group's files share the engine's batches: each takes its share by notes
    per_note = (time.perf_counter() - t0) / max(sum(int(f.mask.sum()) for _, f in parsed), 1)
    for p, f in parsed:
        t1 = time.perf_counter()
        r = _finish_one(p, f, velocities.get(id(f)), opts, model, overwrite, stdout, debug)
        r.seconds = f.seconds + per_note * int(f.mask.sum()) + time.perf_counter() - t1
        done(p, r)


def _sequences(f: _Read) -> list[tuple[np.ndarray, Notes, np.ndarray | None]]:
    """A file's chosen notes as the sequences the model reads: the whole file, or for a type 2 file
    (independent one-track sequences) each track alone. Each with its place among the chosen notes."""
    notes = subset(f.score.notes, f.mask)
    markings = None if f.markings is None else f.markings[f.mask]
    if not f.score.independent_tracks:
        return [(np.arange(len(notes)), notes, markings)]
    out = []
    for track in np.unique(notes.track):
        idx = np.flatnonzero(notes.track == track)
        out.append((idx, subset(notes, notes.track == track), None if markings is None else markings[idx]))
    return out


def _join_sequences(
    parts: list[tuple[int, tuple[np.ndarray, Notes, np.ndarray | None]]], results: list[np.ndarray | str]
) -> dict[int, np.ndarray | str]:
    """Each file's velocities from its sequences' (a sequence's error is the file's)."""
    size: dict[int, int] = {}
    for key, (idx, _, _) in parts:
        size[key] = size.get(key, 0) + len(idx)
    joined: dict[int, np.ndarray | str] = {key: np.zeros(n, dtype=np.int64) for key, n in size.items()}
    for (key, (idx, _, _)), got in zip(parts, results, strict=True):
        vel = joined[key]
        if isinstance(got, str):
            joined[key] = got
        elif isinstance(vel, np.ndarray):
            vel[idx] = got
    return joined


def _finish_one(
    p: Plan,
    f: _Read,
    vel: np.ndarray | str | None,
    opts: HumanizeOptions,
    model: Model | None,
    overwrite: bool,
    stdout: BinaryIO | None,
    debug: bool,
) -> FileResult:
    """A read file's velocities finalized and written; an error at either stage fails it alone."""
    name = p.source.name
    if isinstance(vel, str):  # its prediction failed
        return FileResult(name, None, "failed", error=_named(name, vel), warnings=f.read.warnings)
    try:
        r, data = _result(p, f, vel, opts, model)
    except Exception as e:
        if debug:
            raise
        return FileResult(name, None, "failed", error=_named(name, _why(e)), warnings=f.read.warnings)
    return _deliver(p, r, data, overwrite, stdout, debug)


def _parsed(
    group: list[tuple[Plan, object]], done: Callable[[Plan, FileResult], None]
) -> list[tuple[Plan, _Read]]:
    """The group's readable files with their chosen notes; skipped and unreadable ones go to ``done``."""
    parsed: list[tuple[Plan, _Read]] = []
    for p, got in group:
        if got is SKIP:
            done(p, FileResult(p.source.name, str(p.output), "skipped"))
        elif isinstance(got, str):
            done(p, FileResult(p.source.name, None, "failed", error=got))
        else:
            assert isinstance(got, _Read)  # _read_one's third outcome
            parsed.append((p, got))
    return parsed


def _nothing_to_humanize(s: MidiScore, not_piano_parts: int) -> str:
    """Why a file has no note to humanize (it is then copied unchanged)."""
    if _no_notes(s):
        return "no notes"
    if len(s.notes) == 0:
        return (
            "only drum notes (channel 10)"
            if not s.n_out_of_range_notes
            else "no notes in the piano range"
            if not s.n_drum_notes
            else "only drum notes and notes outside the 88 keys"
        )
    if not_piano_parts:
        return f"no piano part ({not_piano_parts} other part(s); --all-parts humanizes them)"
    return "no notes in the chosen tracks/channels"


def _result(
    p: Plan, f: _Read, vel: np.ndarray | None, opts: HumanizeOptions, model: Model | None
) -> tuple[FileResult, bytes]:
    """A file's result and the bytes to write: velocities patched, or the input when nothing is chosen."""
    s, mask = f.score, f.mask
    other = s.notes.track[f.not_piano] * 16 + s.notes.channel[f.not_piano]
    r = FileResult(
        p.source.name,
        STDIO if p.to_stdout else str(p.output),
        "written",
        notes=int(mask.sum()),
        drum_notes=s.n_drum_notes,
        out_of_range_notes=s.n_out_of_range_notes,
        unselected_notes=int((~mask & ~f.not_piano).sum()),
        not_piano_notes=int(f.not_piano.sum()),
        not_piano_parts=len(np.unique(other)),
        warnings=f.read.warnings,
    )
    if not mask.any():
        reason = f"{_nothing_to_humanize(s, r.not_piano_parts)}; copied unchanged"
        r.status, r.warning = "copied", f"{p.source.name}: {reason}"
        r.warnings.append(reason)
        return r, s.data if p.kind is Kind.MIDI else _score_bytes(p, f, {})
    assert vel is not None  # a file with notes to humanize had them predicted
    out = s.notes.velocity.copy()
    reads = model is not None and model.cfg.input_velocity
    out[mask], r.dynamics = humanized_velocities(subset(s.notes, mask), vel, opts, reads)
    if p.kind is Kind.MUSICXML:
        from autodynamics_cli.musicxml.writeback import element_velocities

        assert f.read.elements is not None  # read for writing back
        chosen = np.flatnonzero(mask)
        return r, _score_bytes(p, f, element_velocities([f.read.elements[i] for i in chosen], out[chosen]))
    return r, with_velocities(s, out)


def _score_bytes(p: Plan, f: _Read, element_velocity: dict[int, int]) -> bytes:
    """A MusicXML input written back: its notes' ``dynamics`` set, compressed (``.mxl``) or not as
    the output's name says (standard output: as the input is)."""
    from autodynamics_cli.musicxml.writeback import as_container, is_compressed, write_score_with_velocities

    assert f.read.source is not None  # read for writing back
    source = f.read.source
    data = (
        write_score_with_velocities(source, element_velocity, p.source.name) if element_velocity else source
    )
    compressed = is_compressed(data) if p.output is None else is_compressed_name(p.output)
    return as_container(data, compressed, p.source.name)


def _deliver(
    p: Plan, r: FileResult, data: bytes, overwrite: bool, stdout: BinaryIO | None, debug: bool
) -> FileResult:
    """Write a finished file (atomically, or to standard output); a failure fails only this file."""
    try:
        if p.to_stdout:
            assert stdout is not None  # the caller passes one with a standard-output plan
            stdout.write(data)
            stdout.flush()
        else:
            assert p.output is not None  # a plan with a file to write
            if p.in_folder:
                _make_parent(p.output)
            write_atomic(p.output, data, overwrite=overwrite)
    except Exception as e:  # OutputError, a closed pipe, or a bug: this file fails alone
        if debug:
            raise
        r.output, r.status, r.dynamics = None, "failed", None
        why = (
            f"cannot write to standard output ({e.strerror or e})"
            if isinstance(e, OSError) and p.to_stdout
            else _why(e)
        )
        r.error = _named(p.source.name, why)
    return r


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create folder {path.parent} ({e.strerror or e})") from None


def _predict_group(
    model: Model | None,
    items: list[tuple[int, Notes, np.ndarray | None]],
    debug: bool,
    predict: Callable[..., list[np.ndarray]],
    on_notes: Callable[[int, int], None] | None = None,
) -> dict[int, np.ndarray | str]:
    """Velocities per key; if the shared batch fails, each file alone, so only the culprit fails.

    ``items``: (key, notes, their markings or None); ``on_notes`` (progress,
    ``predict_velocities``) follows the shared batch only.
    """
    if not items:
        return {}
    try:
        out = predict(model, [n for _, n, _ in items], on_notes=on_notes, markings=[m for _, _, m in items])
        return {k: v for (k, _, _), v in zip(items, out, strict=True)}
    except Exception as e:
        if debug:
            raise
        if len(items) == 1:
            return {items[0][0]: _why(e)}
    result: dict[int, np.ndarray | str] = {}
    for k, n, m in items:
        try:
            (result[k],) = predict(model, [n], markings=[m])
        except Exception as e:
            result[k] = _why(e)
    return result

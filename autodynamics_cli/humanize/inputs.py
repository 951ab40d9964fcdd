"""Which files to humanize and where each output goes, decided before any file is read.

Everything that could lose data or waste a long run is decided in
``plan_outputs``: outputs never replace an input (by any path to it), two
inputs never share an output, and an existing output is only replaced with
``overwrite``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from autodynamics_cli.errors import UsageError
from autodynamics_cli.formats.kinds import (
    MIDI_SUFFIXES,
    Kind,
    default_output,
    input_kind,
    is_input_name,
    output_kind,
    output_kind_for,
    output_name,
)
from autodynamics_cli.musicxml.names import MUSICXML_SUFFIXES

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
    score: Path | None = None  # --score: the MusicXML whose markings this MIDI file's notes take
    kind: Kind = Kind.MIDI  # what is written: MIDI, or a MusicXML input's score with its dynamics

    @property
    def runs(self) -> bool:
        return self.error is None and not self.skip


def _walk(folder: Path, recursive: bool, exclude: Path | None) -> list[Path]:
    """MIDI files and MusicXML scores in ``folder``, stably ordered; hidden ones and ``exclude`` skipped."""
    if not recursive:
        return sorted(p for p in folder.iterdir() if is_input_name(p) and p.is_file())
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):  # does not follow directory symlinks: no loops
        here = Path(root)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and not (exclude is not None and _same_file(here / d, exclude))
        )
        found += [here / f for f in sorted(files) if is_input_name(here / f) and (here / f).is_file()]
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
                sources.append(
                    Source(
                        p,
                        root=p,
                        error=f"{p}: no MIDI files ({', '.join(MIDI_SUFFIXES)}) "
                        f"or MusicXML scores ({', '.join(MUSICXML_SUFFIXES)}) in this "
                        f"folder{hint}",
                    )
                )
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


def _check_output_folder(out: Path, stdin: bool, roots: list[Path]) -> None:
    """Refuse an output folder that cannot work, before any work."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder (several inputs need an output folder)")
    if stdin:
        raise UsageError("standard input has no file name: give -o FILE, or -o - for standard output")
    for root in roots:
        if out.exists() and _same_file(root, out):
            raise UsageError(
                f"{out}: the output folder is the input folder {root}; outputs would replace the inputs"
            )


def _destination(
    s: Source, path: Path, out: Path | None, to_dir: bool, source: Kind, kind: Kind, fmt: Kind | None
) -> tuple[Path, Kind]:
    """An input file's output path and the kind written there (``plan_outputs``)."""
    if out is None:
        return default_output(path, kind), kind
    if to_dir:
        return out / output_name(s.rel if s.rel is not None else Path(path.name), kind), kind
    named = output_kind(out, source)  # an unwritable suffix is a usage error, before any work
    if fmt is not None and named is not fmt:
        raise UsageError(f"{out}: --format {fmt.value} contradicts the output's suffix")
    return out, named


def plan_outputs(
    sources: list[Source],
    output: str | None,
    overwrite: bool = False,
    skip_existing: bool = False,
    fmt: Kind | None = None,
) -> list[Plan]:
    """Decide each input's output, refusing anything that could lose data.

    - no ``output``: ``{stem}_humanized.mid`` beside each MIDI file,
      ``{stem}_humanized.mxl`` (its own suffix) beside each MusicXML score; standard
      input goes to standard output. Folder inputs need ``output``.
    - each input is written as its own kind unless ``fmt`` (``--format``) says
      otherwise or ``output`` names a file whose suffix does: a MusicXML score is
      written back with its dynamics, or as MIDI; a MIDI file only as MIDI.
    - ``output`` is ``-``: standard output (one input only).
    - one input file, ``output`` not a folder (no trailing slash, not an existing
      directory): ``output`` is the file.
    - otherwise ``output`` is a folder (made when the first file is written):
      each input keeps its file name there, and files found in a folder input
      keep their path below it, so the folder's layout is mirrored.

    Raises ``UsageError`` before any work when arguments cannot work together,
    an output would replace an input (by any path to it), or two inputs would
    get the same output; an output that exists is that file's ``Plan.error``
    (or ``Plan.skip``).
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
    # ``out`` is not None exactly when ``output`` names a path (not None, not ``-``)
    to_dir = (
        output is not None
        and out is not None
        and (len(sources) > 1 or from_dir or _names_a_directory(output) or out.is_dir())
    )
    if out is not None and to_dir:
        _check_output_folder(out, stdin, roots)

    input_keys = {_file_key(s.path) for s in sources if s.path is not None and s.path.exists()}
    plans: list[Plan] = []
    taken: dict[str, Source] = {}
    for s in sources:
        if s.error:
            plans.append(Plan(s, None, error=s.error))
            continue
        source = input_kind(s.path)
        try:
            kind = output_kind_for(source, fmt)
        except UsageError as e:  # --format musicxml over a folder: its MIDI files fail alone
            if not to_dir:
                raise
            plans.append(Plan(s, None, error=f"{s.name}: {e}"))
            continue
        if output == STDIO or (output is None and s.path is None):
            plans.append(Plan(s, None, to_stdout=True, kind=kind))
            continue
        # standard input went to standard output above, or was refused with an output folder
        assert s.path is not None
        dst, kind = _destination(s, s.path, out, to_dir, source, kind, fmt)
        key = os.path.normcase(os.path.abspath(dst))
        if key in taken:
            raise UsageError(
                f"{dst}: both {taken[key].name} and {s.name} would be written here; "
                f"rename one, or pass their folders with -r to mirror the layout"
            )
        taken[key] = s
        if dst.exists() and _file_key(dst) in input_keys:
            raise UsageError(
                f"{s.name}: refusing to write over an input file (its output {dst} is an input); "
                f"give -o another file or folder"
            )
        if dst.exists() or dst.is_symlink():
            if skip_existing:
                plans.append(Plan(s, dst, skip=True, kind=kind))
            elif overwrite:
                plans.append(Plan(s, dst, in_folder=to_dir, kind=kind))
            else:
                plans.append(
                    Plan(
                        s,
                        None,
                        error=f"{s.name}: output {dst} already exists (use "
                        f"--overwrite to replace it, or --skip-existing)",
                    )
                )
        else:
            plans.append(Plan(s, dst, in_folder=to_dir, kind=kind))
    return plans

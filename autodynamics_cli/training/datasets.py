"""Training data: find pieces in a data folder and load their notes and targets.

``--data`` may be a MAESTRO v3 folder (``maestro-v3.0.0.csv``), a folder with a
MAESTRO-style ``metadata.csv`` (``split`` and ``midi_filename`` columns), or a
plain folder of MIDI files, split deterministically by a hash of each file's
relative path (one in ten goes to validation).

A ``Piece`` is what a training window is cut from: the notes the encoder and
decoder see (their timing) and, per note, the velocity to learn and whether
there is one. A performance is a piece whose targets are its own velocities;
a score aligned to a performance (a later source) is a piece whose timing comes
from the score and whose targets come from the performer, with unmatched notes
carrying no target. The sampler (``sampler.py``) does not care which.
"""

from __future__ import annotations

import csv
import hashlib
import multiprocessing as mp
import os
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import partial
from pathlib import Path

import numpy as np

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding.marking_features import marking_buckets
from autodynamics_cli.errors import AutodynError, MidiReadError, UsageError
from autodynamics_cli.formats.kinds import is_midi_name
from autodynamics_cli.midi.notes import Notes
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.midi.smf import note_on_velocity_offsets


@dataclass
class Entry:
    """One file of a dataset listing."""

    path: Path
    split: str
    group: str  # the piece it plays, for averaging metrics per piece
    same_as: tuple[str, ...] = ()  # other folders' files of this recording (MAESTRO's asap_performances)
    pieces: tuple[str, ...] = ()  # piece folders it plays in the ASAP layout (MAESTRO's asap_pieces)


@dataclass
class Piece:
    onset: np.ndarray  # seconds
    offset: np.ndarray
    pitch: np.ndarray
    target: np.ndarray  # velocity to learn, 1..127
    has_target: np.ndarray  # bool
    name: str = ""
    in_velocity: np.ndarray | None = None  # notated velocities the model may read (None: none)
    source: str = "performance"  # or "score"
    staff: np.ndarray | None = None  # note_features.part_staff of the file (None: one part)
    markings: np.ndarray | None = None  # marking_buckets from the score's MusicXML (None: unknown)

    def __len__(self) -> int:
        return len(self.pitch)


def hash_split(rel: str, validation_every: int = 10) -> str:
    h = int(hashlib.sha1(rel.encode()).hexdigest(), 16)
    return "validation" if h % validation_every == 0 else "train"


def list_dataset(root: str | Path) -> list[Entry]:
    """Every file of a dataset folder with its split, in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise AutodynError(f"{root}: data folder not found")
    for name in ("maestro-v3.0.0.csv", "metadata.csv"):
        meta = root / name
        if meta.is_file():
            with meta.open(newline="") as f:
                rows = list(csv.DictReader(f))
            if not rows or "midi_filename" not in rows[0] or "split" not in rows[0]:
                raise AutodynError(f"{meta}: needs 'midi_filename' and 'split' columns")
            return [
                Entry(
                    root / r["midi_filename"],
                    r["split"],
                    f"{r.get('canonical_composer', '')} | {r.get('canonical_title', '')}",
                    _joined(r.get("asap_performances")),
                    _joined(r.get("asap_pieces")),
                )
                for r in rows
            ]
    files = sorted(p for p in root.rglob("*") if is_midi_name(p))
    if not files:
        raise AutodynError(f"{root}: no metadata csv and no MIDI files")
    return [Entry(p, hash_split(p.relative_to(root).as_posix()), p.stem) for p in files]


def _joined(cell: str | None) -> tuple[str, ...]:
    return tuple(x for x in (cell or "").split(";") if x)


def list_sources(roots: str | Path | list[str] | list[Path]) -> list[Entry]:
    """Every recording of one or more data folders, each once, in a stable order.

    MAESTRO's ``asap_performances`` column names the files of an ASAP folder that are
    the same recording. When such a folder is listed too, the recording is read from
    it (the file its score and alignment belong to) and the MAESTRO row is dropped; a
    MAESTRO row that plays a piece of that folder joins that piece's group, so metrics
    averaged per piece count the piece once.
    """
    folders = [Path(r) for r in ([roots] if isinstance(roots, (str, Path)) else roots)]
    listings = [(root, list_dataset(root)) for root in folders]
    if len(listings) == 1:
        return listings[0][1]
    files: set[str] = set()
    group_of: dict[str, str] = {}
    for root, entries in listings:
        if any(e.pieces or e.same_as for e in entries):
            continue  # a MAESTRO listing: its own names are not ASAP's
        for e in entries:
            rel = e.path.relative_to(root)
            files.add(rel.as_posix())
            group_of.setdefault(rel.parent.as_posix(), e.group)
    out = []
    for _root, entries in listings:
        for e in entries:
            if e.same_as and all(f in files for f in e.same_as):
                continue  # read from the other folder
            if len(e.pieces) == 1 and e.pieces[0] in group_of:
                e = replace(e, group=group_of[e.pieces[0]])
            out.append(e)
    return out


def load_performance(path: str | Path, cache: bool = False) -> Piece:
    """A performance teaches its own velocities from its own timing.

    Its velocities are the targets, so the model never reads them as input.
    """
    notes = read_notes_cached(path, cache)
    return Piece(
        notes.onset,
        notes.offset,
        notes.pitch,
        notes.velocity,
        np.ones(len(notes), dtype=bool),
        name=str(path),
        staff=NF.part_staff(notes.track, notes.channel, notes.pitch),
    )


@dataclass
class AlignedEntry:
    """A performance's score and the alignment of the two (a score-input training piece)."""

    score: Path
    alignment: Path
    split: str
    group: str
    performance: Path


def alignment_file_name(performance_rel: str) -> str:
    """``Bach/Fugue/bwv_846/Shi05M.mid`` -> ``Bach__Fugue__bwv_846__Shi05M.csv``."""
    return str(Path(performance_rel).with_suffix("")).replace("/", "__") + ".csv"


def list_aligned(
    performances: str | Path | list[str] | list[Path], scores: str | Path, alignments: str | Path
) -> list[AlignedEntry]:
    """Score/alignment pairs for the performances of metadata-csv folders (the ASAP layout).

    The score of ``A/B/perf.mid`` is ``SCORES/A/B/midi_score.mid``; its alignment
    is ``ALIGNMENTS/A__B__perf.csv``. Performances without either are skipped (all of
    a MAESTRO folder's: its recordings have no alignments).
    """
    roots = [Path(r) for r in ([performances] if isinstance(performances, (str, Path)) else performances)]
    score_root, align_root = Path(scores), Path(alignments)
    if not align_root.is_dir():
        raise AutodynError(f"{align_root}: alignments folder not found")
    out = []
    for perf_root in roots:
        for e in list_dataset(perf_root):
            rel = e.path.relative_to(perf_root)
            score = score_root / rel.parent / "midi_score.mid"
            csv_path = align_root / alignment_file_name(rel.as_posix())
            if score.is_file() and csv_path.is_file():
                out.append(AlignedEntry(score, csv_path, e.split, e.group, e.path))
    return out


def score_order(notes: Notes, data: bytes) -> np.ndarray:
    """For the k-th note_on (velocity > 0) of a score, its index in ``notes`` (-1: not modelled).

    An alignment's ``score_note_index`` counts note_on events track by track, in
    event order, including drum-channel and out-of-range notes that ``notes``
    leaves out; the velocity byte offsets tie the two together.
    """
    where = {int(b): i for i, b in enumerate(notes.byte_offset)}
    offsets = [o for track in note_on_velocity_offsets(data) for o in track if data[o] > 0]
    return np.asarray([where.get(o, -1) for o in offsets], dtype=np.int64)


def read_alignment(path: str | Path) -> np.ndarray:
    """``(n, 4)`` int64: score_note_index, pitch, score onset in ms, performer velocity."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    need = ("score_note_index", "pitch", "score_onset_s", "perf_velocity")
    if rows and any(k not in rows[0] for k in need):
        raise AutodynError(f"{path}: needs columns {', '.join(need)}")
    return np.asarray(
        [
            [
                int(r["score_note_index"]),
                int(r["pitch"]),
                round(float(r["score_onset_s"]) * 1000),
                int(r["perf_velocity"]),
            ]
            for r in rows
        ],
        dtype=np.int64,
    ).reshape(-1, 4)


def aligned_targets(
    notes: Notes, data: bytes, alignment: np.ndarray, name: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Per score note: the performer's velocity and whether it was matched."""
    order = score_order(notes, data)
    idx, pitch, vel = alignment[:, 0], alignment[:, 1], alignment[:, 3]
    ok = (idx >= 0) & (idx < len(order))
    ok[ok] &= order[idx[ok]] >= 0
    unmodelled = (idx >= 0) & (idx < len(order))
    unmodelled[unmodelled] &= order[idx[unmodelled]] < 0  # a drum or out-of-range note: no target
    ok[ok] &= notes.pitch[order[idx[ok]]] == pitch[ok]
    ok_or_skipped = ok | unmodelled
    if len(idx) and ok_or_skipped.mean() < 0.99:
        raise AutodynError(
            f"{name}: alignment does not fit the score "
            f"({(~ok).sum()} of {len(idx)} rows name another pitch or no note)"
        )
    target = np.zeros(len(notes), dtype=np.int64)
    has = np.zeros(len(notes), dtype=bool)
    target[order[idx[ok]]] = vel[ok]
    has[order[idx[ok]]] = True
    return target, has


def load_aligned(
    entry: AlignedEntry, score_notes: Notes | None = None, markings: bool = False, cache: bool = False
) -> Piece:
    """A score whose targets are a performer's velocities (unmatched notes: no target).

    The score's own velocities are notated dynamics the model may read, unless
    they are all equal (then it carries none). ``markings``: also read its
    MusicXML score's markings (``score_markings``), when it has one.
    """
    notes = score_notes if score_notes is not None else read_midi(entry.score).notes
    data = entry.score.read_bytes()
    target, has = aligned_targets(notes, data, read_alignment(entry.alignment), str(entry.alignment))
    in_vel = notes.velocity if NF.velocities_vary(notes.velocity) else None
    return Piece(
        notes.onset,
        notes.offset,
        notes.pitch,
        target,
        has,
        name=str(entry.alignment),
        in_velocity=in_vel,
        source="score",
        staff=NF.part_staff(notes.track, notes.channel, notes.pitch),
        markings=score_markings(entry.score, notes, data, cache) if markings else None,
    )


def score_markings(score: Path, notes: Notes, data: bytes, cache: bool = True) -> np.ndarray | None:
    """``marking_buckets`` per note of a MIDI score, from the MusicXML it was exported from.

    None when the piece has no MusicXML and note map (``musicxml_of``) or its
    MusicXML cannot be read; notes the note map does not name are "unknown".
    Reading a score takes seconds, so the result is cached under a key made of
    the two files' contents (a cache built on one machine serves another).
    Without the ``[musicxml]`` extra and no cached result this raises ``UsageError``.
    """
    found = musicxml_of(score)
    if found is None:
        return None
    xml, note_map = found
    key = hashlib.sha1(xml.read_bytes() + b"|" + note_map.read_bytes() + b"|" + data + b"|m1").hexdigest()
    file = cache_dir() / "markings" / f"{key}.npy"
    if cache and file.is_file():
        try:
            return np.load(file).astype(np.int64)
        except (OSError, ValueError):
            pass  # a damaged entry is read again below
    from autodynamics_cli.musicxml import read_musicxml
    from autodynamics_cli.musicxml.read import EXTRA_HINT, MusicXmlError

    try:
        s = read_musicxml(xml)
    except MusicXmlError as e:
        if EXTRA_HINT in str(e):
            raise UsageError(f"training with markings: {EXTRA_HINT}") from None
        return None
    values, mapped = map_to_score_notes(s.note_id, s.markings, notes, data, note_map)
    buckets = marking_buckets(values, s.marking_names)
    buckets[~mapped] = 0
    if cache:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f"{file.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, buckets.astype(np.uint8))  # every bucket is below 16
        os.replace(tmp, file)
    return buckets


def cache_dir() -> Path:
    """Where training data is cached: ``$AUTODYN_CACHE_DIR`` or ``~/.cache/autodyn``."""
    env = os.environ.get("AUTODYN_CACHE_DIR")
    return Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autodyn"


def notes_cache_dir() -> Path:
    """Where parsed notes are cached: ``cache_dir()/notes``."""
    return cache_dir() / "notes"


def read_notes_cached(path: str | Path, cache: bool = True) -> Notes:
    """``read_midi(path).notes``, from a cache keyed by path, size and mtime when allowed.

    Parsing hundreds of performances with mido takes minutes; a training run that
    resumes several times should pay that once.
    """
    path = Path(path)
    if not cache:
        return read_midi(path).notes
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|v1".encode()).hexdigest()
    file = notes_cache_dir() / f"{key}.npz"
    if file.is_file():
        try:
            with np.load(file) as z:
                return Notes(**{f.name: z[f.name] for f in fields(Notes)})
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is re-read below
    notes = read_midi(path).notes
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f"{file.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **{f.name: getattr(notes, f.name) for f in fields(Notes)})
    os.replace(tmp, file)
    return notes


def performance_piece(e: Entry, cache: bool) -> Piece | str | None:
    """A training piece, the reason it was skipped, or None when it has no notes."""
    try:
        p = load_performance(e.path, cache)
    except MidiReadError as err:
        return str(err)
    return p if len(p) else None


def aligned_piece(e: AlignedEntry, cache: bool, markings: bool = False) -> Piece | str | None:
    """A score-input training piece (with its markings when asked), why it was skipped, or None."""
    try:
        p = load_aligned(e, read_notes_cached(e.score, cache), markings, cache)
    except UsageError:
        raise  # a missing extra stops the run, not one piece
    except AutodynError as err:
        return str(err)
    return p if p.has_target.any() else None


def load_split(
    load: Callable[..., Piece | str | None], entries: list, split: str, cache: bool, workers: int = 0
) -> tuple[list[Piece], list[str]]:
    """The split's pieces and skip reasons, in listing order; parsed in ``workers`` processes
    when asked (minutes of mido parsing on one core, seconds on a GPU machine's many)."""
    chosen = [e for e in entries if e.split == split]
    job = partial(load, cache=cache)
    if workers > 1 and len(chosen) > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.map(job, chosen, chunksize=4)
    else:
        results = [job(e) for e in chosen]
    return ([r for r in results if isinstance(r, Piece)], [r for r in results if isinstance(r, str)])


def musicxml_of(score: str | Path) -> tuple[Path, Path] | None:
    """The MusicXML score a ``midi_score.mid`` was exported from, and its note map (the ASAP layout)."""
    folder = Path(score).parent
    xml, note_map = folder / "xml_score.mxl", folder / "xml_note_map.csv"
    return (xml, note_map) if xml.is_file() and note_map.is_file() else None


def map_to_score_notes(
    note_id: np.ndarray, values: np.ndarray, notes: Notes, data: bytes, note_map: str | Path
) -> tuple[np.ndarray, np.ndarray]:
    """Per-note ``values`` of a MusicXML score moved onto the MIDI score's notes, and which got one.

    ``note_map``: ``xml_note_map.csv`` (``score_note_index,xml_note_id``; the index counts
    as in the alignments, ``score_order``); ``note_id``: each MusicXML note's id with its
    repeat pass (``n12-2``), as ``musicxml.read_musicxml`` gives it.
    """
    by_id = {str(i): k for k, i in enumerate(note_id)}
    order = score_order(notes, data)
    out = np.zeros((len(notes), *values.shape[1:]), dtype=values.dtype)  # values: one row per note
    has = np.zeros(len(notes), dtype=bool)
    with open(note_map, newline="") as f:
        for row in csv.DictReader(f):
            i, k = int(row["score_note_index"]), by_id.get(row["xml_note_id"])
            if k is not None and 0 <= i < len(order) and order[i] >= 0:
                out[order[i]], has[order[i]] = values[k], True
    return out, has

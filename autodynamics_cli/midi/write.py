"""Write velocities back: patch the input's bytes, then replace the output atomically.

Writing never re-serialises: it patches the velocity byte of each modelled
note_on in a copy of the input's bytes (``smf.patch_velocities``), so every
other byte of the file survives unchanged.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from autodynamics_cli.errors import OutputError
from autodynamics_cli.midi.notes import MidiScore
from autodynamics_cli.midi.smf import patch_velocities


def with_velocities(score: MidiScore, velocities: np.ndarray) -> bytes:
    """The file's bytes with each modelled note's velocity replaced."""
    return patch_velocities(
        score.data, score.notes.byte_offset.tolist(), np.asarray(velocities).astype(int).tolist()
    )


def write_atomic(path: str | Path, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync and a rename.

    A reader never sees a half-written file, and an interrupted write (an error,
    Ctrl-C) leaves no file behind: not the output, not the temp file. With
    ``overwrite`` false an existing ``path`` is never replaced, even one that
    appeared since the caller looked (hard-linking the temp file into place fails
    if the name is taken; where links are not supported it checks, then renames).
    The file gets the mode a plain ``open`` would give it (or the replaced file's),
    not the temp file's private 0600.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"cannot write {path} ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_no_clobber(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path} ({e.strerror or e})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _rename_no_clobber(tmp: str, path: Path) -> None:
    exists = OutputError(f"output {path} already exists (use --overwrite to replace it)")
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise exists from None
    except OSError:  # no hard links on this file system (FAT, some network shares)
        if path.exists() or path.is_symlink():
            raise exists from None
        os.replace(tmp, path)
    else:
        os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; not possible (nor needed) everywhere."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

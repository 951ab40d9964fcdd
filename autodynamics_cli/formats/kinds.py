"""File kinds by name, decided here and nowhere else: what autodyn reads, and what it writes.

Inputs are MIDI files (``MIDI_SUFFIXES``) and MusicXML scores (``.musicxml``,
``.mxl``, ``.xml``; a folder walk takes an ``.xml`` file only when it is a score,
``musicxml.names.looks_like_musicxml``). Outputs are MIDI files: an output name
with another suffix is a usage error, never a MIDI file under a misleading name.
A name without a suffix (``/dev/null``, a pipe) is written as MIDI.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from autodynamics_cli.errors import UsageError
from autodynamics_cli.musicxml.names import MUSICXML_SUFFIXES, is_musicxml_name, looks_like_musicxml

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")


class Kind(str, Enum):
    """A file kind autodyn knows."""

    MIDI = "midi"
    MUSICXML = "musicxml"


WRITES = {Kind.MIDI: ".mid"}  # the kinds autodyn writes, with their default suffix


def is_midi_name(path: str | Path) -> bool:
    p = Path(path)
    return p.suffix.lower() in MIDI_SUFFIXES and not p.name.startswith(".")


def input_kind(path: str | Path | None) -> Kind:
    """The kind of an input by its name: MusicXML for a score's suffix, else MIDI (also stdin, None)."""
    return Kind.MUSICXML if path is not None and is_musicxml_name(path) else Kind.MIDI


def is_input_name(path: Path) -> bool:
    """What a folder walk takes: MIDI files, and MusicXML scores (an .xml file only if it is one)."""
    return is_midi_name(path) or looks_like_musicxml(path)


def output_kind(path: str | Path) -> Kind:
    """The kind to write under ``path``; a usage error for a suffix autodyn cannot write."""
    p = Path(path)
    suffix = p.suffix.lower()
    if not suffix or suffix in MIDI_SUFFIXES:
        return Kind.MIDI
    if suffix in MUSICXML_SUFFIXES:
        raise UsageError(f"{p}: autodyn writes MIDI files, not MusicXML ({suffix}); name the output .mid")
    raise UsageError(
        f"{p}: cannot write {suffix} files; autodyn writes MIDI files ({', '.join(MIDI_SUFFIXES)})"
    )


def output_name(input_name: Path) -> Path:
    """An input's name for its output in a folder: the same name, with the suffix of the written kind."""
    kind = input_kind(input_name)
    return input_name if kind in WRITES else input_name.with_suffix(WRITES[Kind.MIDI])

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


MIDI_OUTPUT_SUFFIX = ".mid"  # a MusicXML score written as MIDI (--format mid)


def is_midi_name(path: str | Path) -> bool:
    p = Path(path)
    return p.suffix.lower() in MIDI_SUFFIXES and not p.name.startswith(".")


def input_kind(path: str | Path | None) -> Kind:
    """The kind of an input by its name: MusicXML for a score's suffix, else MIDI (also stdin, None)."""
    return Kind.MUSICXML if path is not None and is_musicxml_name(path) else Kind.MIDI


def is_input_name(path: Path) -> bool:
    """What a folder walk takes: MIDI files, and MusicXML scores (an .xml file only if it is one)."""
    return is_midi_name(path) or looks_like_musicxml(path)


def output_kind(path: str | Path, source: Kind = Kind.MIDI) -> Kind:
    """The kind to write under ``path`` for an input of kind ``source``.

    MIDI suffixes (or none) write MIDI; MusicXML suffixes write the score back, which
    only a MusicXML input has. Anything else is a usage error, before any work.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if not suffix or suffix in MIDI_SUFFIXES:
        return Kind.MIDI
    if suffix in MUSICXML_SUFFIXES:
        if source is not Kind.MUSICXML:
            raise UsageError(f"{p}: only a MusicXML score is written back as MusicXML; name the output .mid")
        return Kind.MUSICXML
    raise UsageError(
        f"{p}: cannot write {suffix} files; autodyn writes MIDI files ({', '.join(MIDI_SUFFIXES)}) "
        f"and MusicXML scores ({', '.join(MUSICXML_SUFFIXES)})"
    )


def output_kind_for(source: Kind, wanted: Kind | None) -> Kind:
    """The kind written for an input of kind ``source`` when ``--format`` asks for ``wanted``
    (None: keep the input's kind). Raises ``UsageError`` for MusicXML from a MIDI input."""
    kind = wanted or source
    if kind is Kind.MUSICXML and source is not Kind.MUSICXML:
        raise UsageError("only a MusicXML score is written back as MusicXML; a MIDI file is written as MIDI")
    return kind


def output_name(input_name: Path, kind: Kind) -> Path:
    """An input's output name when ``kind`` is written: its own name when that is the input's kind,
    else with ``.mid`` (a score written as MIDI)."""
    return input_name if kind is input_kind(input_name) else input_name.with_suffix(MIDI_OUTPUT_SUFFIX)


def default_output(path: Path, kind: Kind) -> Path:
    """Where an input's output goes without ``-o``: ``{stem}_humanized`` beside it, with ``.mid`` for
    MIDI and the score's own suffix (``.mxl``, ``.musicxml``, ``.xml``) for a score written back."""
    suffix = path.suffix if kind is Kind.MUSICXML else MIDI_OUTPUT_SUFFIX
    return path.with_name(f"{path.stem}_humanized{suffix}")


def is_compressed_name(path: Path) -> bool:
    """Whether a MusicXML output's name asks for the compressed container (``.mxl``)."""
    return path.suffix.lower() == ".mxl"

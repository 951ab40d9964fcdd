"""One reader per input kind, each returning the same ``InputFile``; ``reader_for`` chooses.

- ``MidiReader``: a MIDI file as it is (markings unknown).
- ``MusicXmlReader``: a score played into MIDI bytes as a notation program plays
  it (``musicxml.read_musicxml``), with its markings.
- ``MidiWithScoreReader``: a MIDI file exported from a MusicXML score (``--score``):
  the file's own bytes, with the markings of the score's matching notes.

The model reads ``InputFile.markings`` (``marking_buckets`` per note, None when
unknown); what is written back is always ``InputFile.midi``'s bytes with new velocities.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autodynamics_cli.encoding.marking_features import marking_buckets
from autodynamics_cli.formats.kinds import Kind, input_kind
from autodynamics_cli.midi.notes import MidiScore
from autodynamics_cli.midi.read import read_midi

if TYPE_CHECKING:
    from autodynamics_cli.musicxml.score import MusicXmlScore


@dataclass
class InputFile:
    """What every reader returns.

    ``midi``: the MIDI file whose notes are humanized (``read_midi``); ``markings``:
    per note of ``midi.notes``, its marking buckets (None: a MIDI file, markings
    unknown); ``score``: the MusicXML score as read, for a MusicXML input; read to be
    written back (``writeback``), also the file's bytes and each note's ``<note>`` elements
    (``musicxml.writeback``).
    """

    midi: MidiScore
    markings: np.ndarray | None = None
    score: MusicXmlScore | None = None
    source: bytes | None = None  # a score read for writing back: its file's bytes
    elements: list[tuple[int, ...]] | None = None  # and per note of ``midi``, its <note> elements

    @property
    def warnings(self) -> list[str]:
        """What the readers tolerated or repaired, a line each (without the file's name)."""
        return [str(w) for w in self.midi.warnings] + list(self.score.warnings if self.score else ())


class Reader(ABC):
    """Reads one kind of input."""

    kind: Kind

    @abstractmethod
    def read(self, name: str, path: Path | None, data: bytes | None = None) -> InputFile:
        """The input ``name`` from ``path``, or from ``data`` when given (standard input)."""


class MidiReader(Reader):
    kind = Kind.MIDI

    def read(self, name: str, path: Path | None, data: bytes | None = None) -> InputFile:
        return InputFile(read_midi(name if data is not None or path is None else str(path), data))


@dataclass
class MusicXmlReader(Reader):
    """``writeback``: also know each played note's ``<note>`` elements, to write the score back."""

    writeback: bool = False
    kind = Kind.MUSICXML

    def read(self, name: str, path: Path | None, data: bytes | None = None) -> InputFile:
        from autodynamics_cli.musicxml import read_musicxml

        where = path if path is not None else name
        if not self.writeback:
            xml = read_musicxml(where, data)
            return InputFile(read_midi(name, xml.midi), marking_buckets(xml.markings, xml.marking_names), xml)
        from autodynamics_cli.midi.read import read_input as read_bytes
        from autodynamics_cli.musicxml.writeback import read_for_writeback

        data = read_bytes(where) if data is None else data
        back = read_for_writeback(where, data)
        xml = back.score
        midi = read_midi(name, xml.midi)
        markings = marking_buckets(xml.markings, xml.marking_names)
        return InputFile(midi, markings, xml, data, back.elements)


@dataclass
class MidiWithScoreReader(Reader):
    """A MIDI file with the markings of the MusicXML score it was exported from.

    ``unfolded``: that score already read with its repeats taken, so it is not read again.
    Raises ``musicxml.align.ScoreMismatchError`` when the two do not match.
    """

    score: Path
    unfolded: MusicXmlScore | None = None
    kind = Kind.MIDI

    def read(self, name: str, path: Path | None, data: bytes | None = None) -> InputFile:
        return self.join(MidiReader().read(name, path, data).midi, name)

    def join(self, midi: MidiScore, name: str) -> InputFile:
        """A MIDI file already read (as ``MidiReader`` reads it), with the score's markings."""
        from autodynamics_cli.musicxml.align import markings_for_midi

        return InputFile(midi, marking_buckets(*markings_for_midi(midi, self.score, name, self.unfolded)))


def reader_for(
    path: str | Path | None,
    score: str | Path | None = None,
    unfolded: MusicXmlScore | None = None,
    writeback: bool = False,
) -> Reader:
    """The reader of an input (None: standard input, a MIDI file); ``score``: its MusicXML (``--score``);
    ``writeback``: a MusicXML score to be written back with its dynamics."""
    if score is not None:
        return MidiWithScoreReader(Path(score), unfolded)
    return MusicXmlReader(writeback) if input_kind(path) is Kind.MUSICXML else MidiReader()


def read_input(
    path: str | Path | None,
    data: bytes | None = None,
    *,
    name: str | None = None,
    score: str | Path | None = None,
    unfolded: MusicXmlScore | None = None,
    writeback: bool = False,
) -> InputFile:
    """Read an input file (or ``data``, standard input's bytes) by its kind; see ``reader_for``."""
    p = None if path is None else Path(path)
    label = name if name is not None else str(p) if p is not None else "<stdin>"
    return reader_for(p, score, unfolded, writeback).read(label, p, data)

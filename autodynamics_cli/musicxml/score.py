"""``read_musicxml``: a MusicXML score as MIDI bytes for the MIDI pipeline, plus its markings.

The rest of autodyn works on MIDI bytes (``midi.read.read_midi``) and only
patches velocity bytes, so a score is played into a MIDI file in memory first;
the markings that file cannot carry come along per note, in the order in which
``read_midi`` lists the file's notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autodynamics_cli.encoding.grid import HIGHEST_KEY, LOWEST_KEY
from autodynamics_cli.musicxml.markings import MARKING_NAMES, markings
from autodynamics_cli.musicxml.parts import ScoreNotes
from autodynamics_cli.musicxml.playback import DRUMS, TICKS_PER_QUARTER, play
from autodynamics_cli.musicxml.read import load_score


@dataclass
class MusicXmlScore:
    """A score played into a MIDI file; per-note arrays follow ``read_midi(midi).notes``."""

    midi: bytes  # a complete type 1 MIDI file
    markings: np.ndarray  # (n_notes, len(marking_names)) float32, see ``markings.py``
    marking_names: tuple[str, ...]
    onset_quarter: np.ndarray  # played onset in quarters from the start, float64
    note_id: np.ndarray  # the score's note id ("n12-2": note n12, second pass of a repeat), str
    warnings: tuple[str, ...] = ()  # what was repaired or played otherwise than written


def read_musicxml(path: str | Path, data: bytes | None = None, unfold: bool = True) -> MusicXmlScore:
    """Read a ``.musicxml``, ``.mxl`` or ``.xml`` score and play it as a notation program would.

    ``data``: the file's bytes when already read. ``unfold`` False plays every
    bar once, in written order, instead of taking the repeats and jumps.
    Raises ``MusicXmlError`` (an ``AutodynError``) with a one-line reason.
    """
    return played_score(load_score(path, data, unfold=unfold))[0]


def played_score(score: ScoreNotes) -> tuple[MusicXmlScore, np.ndarray]:
    """A loaded score played into MIDI, and per played note its index among the score's notes.

    The indices count the notes of ``score.parts`` concatenated, so per-note data
    of the parts (``PartNotes.tied_ids``) can follow ``read_midi``'s order.
    """
    played = play(score)
    pitch = np.concatenate([p.pitch for p in score.parts]) if score.parts else np.zeros(0, np.int64)
    o = played.order  # read_midi keeps the notes on the 88 keys and off the drum channel
    order = o[(pitch[o] >= LOWEST_KEY) & (pitch[o] <= HIGHEST_KEY) & (played.channel[o] != DRUMS)]
    note_id = np.concatenate([p.note_id for p in score.parts]) if score.parts else np.zeros(0, object)
    xml = MusicXmlScore(
        midi=played.midi,
        markings=markings(score)[order],
        marking_names=MARKING_NAMES,
        onset_quarter=played.tick[order] / TICKS_PER_QUARTER,
        note_id=note_id[order],
        warnings=score.warnings,
    )
    return xml, order

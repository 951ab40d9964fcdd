"""The input and output seam: which kind a file is, and one reader per input kind.

Everything that decides by a file's name asks ``kinds``; everything that reads an
input to humanize or evaluate asks ``readers.read_input``, which returns the same
``InputFile`` (a MIDI file's notes, and the markings the model reads) for a MIDI
file, a MusicXML score, or a MIDI file with its MusicXML score (``--score``).
"""

from autodynamics_cli.formats.kinds import Kind, input_kind, is_input_name, output_kind, output_name
from autodynamics_cli.formats.readers import InputFile, read_input, reader_for

__all__ = [
    "InputFile",
    "Kind",
    "input_kind",
    "is_input_name",
    "output_kind",
    "output_name",
    "read_input",
    "reader_for",
]

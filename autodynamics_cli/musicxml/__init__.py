"""MusicXML scores (``.musicxml``, ``.mxl``, ``.xml``) played into MIDI bytes, with their markings.

Needs the ``[musicxml]`` extra (lxml and lark), imported only when a score is read.
"""

from autodynamics_cli.musicxml.markings import MARKING_NAMES
from autodynamics_cli.musicxml.names import MUSICXML_SUFFIXES, is_musicxml_name, looks_like_musicxml
from autodynamics_cli.musicxml.read import MusicXmlError
from autodynamics_cli.musicxml.score import MusicXmlScore, read_musicxml

__all__ = [
    "MARKING_NAMES",
    "MUSICXML_SUFFIXES",
    "MusicXmlError",
    "MusicXmlScore",
    "is_musicxml_name",
    "looks_like_musicxml",
    "read_musicxml",
]

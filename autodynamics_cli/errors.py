"""Exceptions that carry a one-line message for the user.

Library code raises these; the CLI (``cli.py``) is the one place that turns
them into a message on stderr and an exit code (``exit_code``).
"""

from __future__ import annotations

from pathlib import Path


class AutodynError(Exception):
    """An error whose message is fit to show a user as it is."""

    exit_code = 1


class UsageError(AutodynError):
    """Arguments that cannot work together, found before any file is touched."""

    exit_code = 2


class MidiReadError(AutodynError):
    """The input is not a MIDI file autodyn can read (or has nothing to humanize)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ModelError(AutodynError):
    """A weights file or model name that cannot be used."""


class OutputError(AutodynError):
    """An output path that must not or cannot be written."""

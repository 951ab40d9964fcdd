"""autodyn: give flat MIDI files human piano dynamics."""

__version__ = "0.1.0"

"""MIDI I/O: read a file's piano notes, and write new velocities into its own bytes. Knows no model."""

"""Write examples/minuet_in_g.mid: the first eight bars of the Minuet in G major
(BWV Anh. 114, Christian Petzold, public domain) as a notation program exports it:
two tracks, metronomic timing, one constant velocity.

    python examples/make_example.py
"""

from __future__ import annotations

from pathlib import Path

import mido

TPB = 480
Q, E, H, DH = TPB, TPB // 2, 2 * TPB, 3 * TPB
VELOCITY = 80

# (pitch name, ticks) per bar, 3/4 time
RIGHT = [
    [("D5", Q), ("G4", E), ("A4", E), ("B4", E), ("C5", E)],
    [("D5", Q), ("G4", Q), ("G4", Q)],
    [("E5", Q), ("C5", E), ("D5", E), ("E5", E), ("F#5", E)],
    [("G5", Q), ("G4", Q), ("G4", Q)],
    [("C5", Q), ("D5", E), ("C5", E), ("B4", E), ("A4", E)],
    [("B4", Q), ("C5", E), ("B4", E), ("A4", E), ("G4", E)],
    [("F#4", Q), ("G4", E), ("A4", E), ("B4", E), ("G4", E)],
    [("A4", DH)],
]
LEFT = [
    [(("G3", "B3", "D4"), H), (("A3",), Q)],
    [(("B3",), DH)],
    [(("C4",), DH)],
    [(("B3",), DH)],
    [(("A3",), DH)],
    [(("G3",), DH)],
    [(("D4",), Q), (("B3",), Q), (("G3",), Q)],
    [(("D4",), Q), (("D3",), Q), (("C4",), Q)],
]

NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def midi_pitch(name: str) -> int:
    step, rest = name[0], name[1:]
    sharp = rest.startswith("#")
    octave = int(rest[1:] if sharp else rest)
    return 12 * (octave + 1) + NAMES[step] + sharp


def voice(bars, channel: int) -> list[mido.Message]:
    msgs, wait = [], 0
    for bar in bars:
        for pitches, ticks in bar:
            pitches = pitches if isinstance(pitches, tuple) else (pitches,)
            for i, p in enumerate(pitches):
                msgs.append(
                    mido.Message(
                        "note_on",
                        note=midi_pitch(p),
                        velocity=VELOCITY,
                        channel=channel,
                        time=wait if i == 0 else 0,
                    )
                )
                wait = 0
            for i, p in enumerate(pitches):
                msgs.append(
                    mido.Message(
                        "note_off",
                        note=midi_pitch(p),
                        velocity=0,
                        channel=channel,
                        time=ticks if i == 0 else 0,
                    )
                )
    return msgs


def build() -> mido.MidiFile:
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name="Minuet in G (BWV Anh. 114)", time=0),
            mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
            mido.MetaMessage("key_signature", key="G", time=0),
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(112), time=0),
            mido.MetaMessage("end_of_track", time=0),
        ]
    )
    tracks = [conductor]
    for name, bars, ch in (("Right hand", RIGHT, 0), ("Left hand", LEFT, 1)):
        t = mido.MidiTrack(
            [
                mido.MetaMessage("track_name", name=name, time=0),
                mido.Message("program_change", program=0, channel=ch, time=0),
            ]
        )
        t.extend(voice(bars, ch))
        t.append(mido.MetaMessage("end_of_track", time=0))
        tracks.append(t)
    return mido.MidiFile(type=1, ticks_per_beat=TPB, tracks=tracks)


if __name__ == "__main__":
    out = Path(__file__).with_name("minuet_in_g.mid")
    build().save(out)

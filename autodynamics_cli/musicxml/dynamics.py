"""Written dynamics as a notation program plays them: one velocity per note.

MuseScore's velocities: a dynamic mark sets the level of the whole part (both
staves) until the next one, 80 (mf) before any; a hairpin with an extent ramps
from the level at its start to the next mark at its end, or one step on when
none follows (that level then holds); sf, sfz, fz... give the chord they stand
at 112 and leave the level alone; fp plays f and then p. A ``<sound
dynamics>`` value in the file (a percentage of 90) overrides its mark's
velocity, as MuseScore's importer does. A "cresc." word with no extent changes
nothing in playback (only the markings see it).
"""

from __future__ import annotations

from bisect import bisect_right, insort

import numpy as np

from autodynamics_cli.musicxml.parts import PartNotes

DEFAULT_VELOCITY = 80  # mf: MuseScore's velocity for notes under no dynamic mark
VELOCITY = {
    "pppppp": 1,
    "ppppp": 5,
    "pppp": 10,
    "ppp": 16,
    "pp": 33,
    "p": 49,
    "mp": 64,
    "mf": 80,
    "f": 96,
    "ff": 112,
    "fff": 126,
    "ffff": 127,
    "fffff": 127,
    "ffffff": 127,
}
# impulsive marks: the velocity of their chord, and the level after it (None: unchanged)
IMPULSE = {
    "sf": (112, None),
    "sfz": (112, None),
    "sffz": (126, None),
    "sff": (126, None),
    "fz": (112, None),
    "rf": (112, None),
    "rfz": (112, None),
    "sfzp": (112, 49),
    "sfp": (112, 49),
    "sfpp": (112, 33),
    "fp": (96, 49),
    "pf": (49, 96),
}
STEPS = (16, 33, 49, 64, 80, 96, 112, 126, 127)  # a hairpin without a closing mark moves one step
CHORD_REACH = 0.5  # quarters: an impulsive mark just before a chord belongs to that chord
TARGET_SLACK = 1.0  # quarters: a mark this soon after a hairpin's end is the hairpin's goal
EPS = 1e-6


def level_events(part: PartNotes) -> tuple[np.ndarray, np.ndarray]:
    """Times (quarters, ascending) and velocities where the written level changes.

    Constant marks, the level after fp-like marks, and ``<sound dynamics>``: one
    at a mark's time sets that mark's velocity; one on an impulsive mark's chord
    is that chord's accent, not a level; one alone (``other-dynamics`` such as
    "sempre ff") is a level of its own.
    """
    level: dict[float, int] = {}
    constant_at, impulse_at = set(), set()
    for m in part.marks:
        t = round(m.start, 6)
        if m.kind == "dynamic" and m.text in VELOCITY:
            level[t] = VELOCITY[m.text]
            constant_at.add(t)
        elif m.kind == "impulsive" and m.text in IMPULSE:
            impulse_at.add(t)
            after = IMPULSE[m.text][1]
            if after is not None and t not in constant_at:
                level[t] = after
    for t, v in part.sound_dynamics:
        t = round(t, 6)
        if t in constant_at or t not in impulse_at:
            level[t] = v
    times = np.asarray(sorted(level), dtype=np.float64)
    return times, np.asarray([level[t] for t in times], dtype=np.int64)


def impulses(part: PartNotes) -> list[tuple[float, int, str]]:
    """(time, chord velocity, mark) of each impulsive mark autodyn knows (sf, fz, fp...)."""
    sound = {round(t, 6): v for t, v in part.sound_dynamics}
    out = []
    for m in part.marks:
        if m.kind == "impulsive" and m.text in IMPULSE:
            out.append((m.start, sound.get(round(m.start, 6), IMPULSE[m.text][0]), m.text))
    return out


def chord_mask(onset: np.ndarray, t: float, reach: float = CHORD_REACH) -> np.ndarray:
    """The notes of the first chord at or just after time ``t`` (within ``reach`` quarters)."""
    later = onset[onset >= t - EPS]
    if not len(later) or later.min() > t + reach:
        return np.zeros(len(onset), dtype=bool)
    return np.abs(onset - later.min()) < EPS


def _step(v: float, up: bool) -> int:
    """The next table velocity above (``up``) or below ``v``."""
    if up:
        return next((s for s in STEPS if s > v + EPS), 127)
    return next((s for s in reversed(STEPS) if s < v - EPS), 1)


def playback_velocities(part: PartNotes) -> np.ndarray:
    """Each note's velocity (1..127) as a notation program plays the part's marks."""
    times, values = level_events(part)
    t_list, v_list = list(times), [int(v) for v in values]

    def level_at(t: float) -> int:
        i = bisect_right(t_list, t + EPS) - 1
        return v_list[i] if i >= 0 else DEFAULT_VELOCITY

    ramps = []
    for m in part.marks:
        if m.kind not in ("cresc", "dim") or m.end is None:
            continue
        v0 = level_at(m.start)
        i = bisect_right(t_list, m.start + EPS)
        after = (t_list[i], v_list[i]) if i < len(t_list) and t_list[i] <= m.end + TARGET_SLACK else None
        if after is not None and (after[1] > v0) == (m.kind == "cresc") and after[1] != v0:
            v1 = after[1]
        else:
            v1 = _step(v0, m.kind == "cresc")
            if after is None:  # nothing closes it: the hairpin's last level holds
                j = bisect_right(t_list, m.end)
                insort(t_list, m.end)
                v_list.insert(j, v1)
        ramps.append((m.start, m.end, v0, v1))
    vel = np.asarray([level_at(t) for t in part.onset], dtype=np.float64)
    for s, e, v0, v1 in ramps:
        inside = (part.onset >= s - EPS) & (part.onset < e - EPS)
        vel[inside] = v0 + (v1 - v0) * (part.onset[inside] - s) / (e - s)
    for t, v, _ in impulses(part):
        vel[chord_mask(part.onset, t)] = v
    return np.clip(np.round(vel), 1, 127).astype(np.int64)

"""A score's markings as note-feature columns: what a MIDI export loses and a pianist follows.

A MusicXML score gives each note its markings as float columns
(``musicxml/markings.py``); the model reads them as nine small integers, one
embedding row each, appended to the context features (``note_features.py``).
Bucket 0 of every column means "unknown": a MIDI file, a note the score
reader could not place, or a training window whose markings are hidden, so one
model serves both kinds of input.

====  ===============  ============================================================
col   name             buckets (0: unknown)
====  ===============  ============================================================
0     dynamic          1 no mark yet; 2..12 the written level (velocity // 12 + 2)
1     since dynamic    1..6 quarters since the level changed: < 1, < 2, < 4, < 8,
                       < 16, more
2     hairpin          1 none; 2..5 crescendo by quarter of its extent; 6..9
                       diminuendo likewise
3     accent           1 none, 2 accent, 3 strong accent, 4 sforzando, 5 fp
4     articulation     1 none, 2 staccato, 3 tenuto, 4 both
5     slur             1 none, 2 first note, 3 inside, 4 last note
6     fermata, grace   1 neither, 2 fermata, 3 grace note, 4 both
7     tempo word       1..5 the word in force, grave to presto (3: none or unknown)
8     tempo change     1 none, 2 first chord of a tempo mark, 3 rit., 4 accel.
====  ===============  ============================================================
"""

from __future__ import annotations

import numpy as np

MARKING_SIZES = (13, 7, 10, 6, 5, 5, 5, 6, 5)
N_MARKINGS = len(MARKING_SIZES)


def marking_buckets(values: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """``(n, N_MARKINGS)`` int64 buckets of ``musicxml.read_musicxml``'s float markings.

    ``names``: the float columns' names (``MARKING_NAMES``); rows of NaN (a note
    without a MusicXML note) come out "unknown".
    """
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.zeros((0, N_MARKINGS), dtype=np.int64)
    known = ~np.isnan(x).any(axis=1)
    x = np.nan_to_num(x)
    c = {name: x[:, i] for i, name in enumerate(names)}

    def on(name: str) -> np.ndarray:
        return c[name] > 0.5

    velocity = np.round(c["dynamic"] * 127)
    dynamic = np.where(on("dynamic_unknown"), 1, np.clip(velocity // 12, 0, 10) + 2)
    since = 1 + np.clip(np.floor(np.log2(np.maximum(c["since_dynamic"], 0.5))) + 1, 0, 5)
    quarter = np.clip(np.floor(c["hairpin_position"] * 4), 0, 3)
    hairpin = np.where(on("crescendo"), 2 + quarter, np.where(on("diminuendo"), 6 + quarter, 1))
    accent = np.select([on("fp"), on("sforzando"), on("marcato"), on("accent")], [5, 4, 3, 2], 1)
    articulation = 1 + on("staccato") + 2 * on("tenuto")
    slur = np.select([on("slur_start"), on("slur_end"), on("slur_inside")], [2, 4, 3], 1)
    held = 1 + on("fermata") + 2 * on("grace")
    tempo = 1 + np.clip(np.round(c["tempo_class"] * 4), 0, 4)
    change = np.select([on("tempo_start"), on("ritardando"), on("accelerando")], [2, 3, 4], 1)
    out = np.stack([dynamic, since, hairpin, accent, articulation, slur, held, tempo, change], axis=1).astype(
        np.int64
    )
    out[~known] = 0
    return out

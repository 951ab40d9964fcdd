"""A score's markings as note-feature columns (encoding/marking_features.py)."""

from __future__ import annotations

import numpy as np

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.encoding.marking_features import MARKING_SIZES, N_MARKINGS, marking_buckets
from autodynamics_cli.musicxml.markings import MARKING_NAMES


def rows(*notes: dict[str, float]) -> np.ndarray:
    """Float markings, one row per note: tempo word "none" (0.5) unless given."""
    out = np.zeros((len(notes), len(MARKING_NAMES)), dtype=np.float32)
    col = {n: i for i, n in enumerate(MARKING_NAMES)}
    for r, values in enumerate(notes):
        out[r, col["tempo_class"]] = 0.5
        for name, v in values.items():
            out[r, col[name]] = v
    return out


def test_buckets_of_each_marking():
    b = marking_buckets(
        rows(
            {"dynamic_unknown": 1, "dynamic": 80 / 127},  # before any mark
            {"dynamic": 49 / 127, "since_dynamic": 0.5, "crescendo": 1, "hairpin_position": 0.6},  # p, cresc.
            {"dynamic": 96 / 127, "since_dynamic": 20, "diminuendo": 1, "accent": 1, "sforzando": 1},
            {"staccato": 1, "tenuto": 1, "slur_start": 1, "slur_end": 1, "fermata": 1, "grace": 1},
            {"tempo_class": 1.0, "tempo_start": 1, "ritardando": 1},
            {"tempo_class": 0.0, "accelerando": 1, "slur_inside": 1, "marcato": 1},
        ),
        MARKING_NAMES,
    )
    assert b.shape == (6, N_MARKINGS)
    assert b[:, 0].tolist() == [1, 6, 10, 2, 2, 2]  # 49 // 12 + 2, 96 // 12 + 2; level 0 (never marked) -> 2
    assert b[:3, 1].tolist() == [1, 1, 6]  # quarters since the level changed
    assert b[:3, 2].tolist() == [1, 4, 6]  # none, crescendo's third quarter, diminuendo's first
    assert b[:, 3].tolist() == [1, 1, 4, 1, 1, 3]  # sforzando outranks a plain accent
    assert b[3, 4:7].tolist() == [4, 2, 4]  # staccato+tenuto, slur start wins, fermata+grace
    assert b[4:, 7].tolist() == [5, 1] and b[0, 7] == 3  # presto, grave, no word
    assert b[4:, 8].tolist() == [2, 4] and b[5, 5] == 3
    assert (b >= 0).all() and (b < np.array(MARKING_SIZES)).all()


def test_unplaced_notes_are_unknown_and_note_features_carry_the_columns():
    m = rows({"accent": 1}, {})
    m[1] = np.nan  # a MIDI-score note the note map does not name
    b = marking_buckets(m, MARKING_NAMES)
    assert b[1].tolist() == [0] * N_MARKINGS and b[0, 3] == 2
    f = NF.note_features(np.array([0, 4]), np.array([60, 62]), markings=b)
    assert f[:, list(NF.MARKING_COLUMNS)].tolist() == b.tolist()
    assert (NF.note_features(np.array([0, 4]), np.array([60, 62]))[:, list(NF.MARKING_COLUMNS)] == 0).all()
    assert marking_buckets(np.zeros((0, len(MARKING_NAMES))), MARKING_NAMES).shape == (0, N_MARKINGS)

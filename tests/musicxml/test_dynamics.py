"""Written dynamics to velocities and marking columns, on plain part data (no partitura needed)."""

from __future__ import annotations

import numpy as np

from autodynamics_cli.musicxml.dynamics import playback_velocities
from autodynamics_cli.musicxml.markings import MARKING_NAMES, part_markings, tempo_class
from autodynamics_cli.musicxml.parts import Mark, PartNotes


def part(n: int = 8, marks: list[Mark] = (), sound: list[tuple[float, int]] = ()) -> PartNotes:
    """``n`` quarter notes, one per beat, with ``marks``."""
    z = np.zeros(n, dtype=bool)
    return PartNotes(
        name="P",
        n_staves=1,
        onset=np.arange(n, dtype=np.float64),
        duration=np.ones(n),
        pitch=np.full(n, 60),
        staff=np.ones(n, dtype=np.int64),
        grace=np.zeros(n, dtype=np.int64),
        articulations=[frozenset()] * n,
        fermata=z,
        slur_start=z,
        slur_end=z,
        note_id=np.asarray([f"n{i}" for i in range(n)], dtype=object),
        marks=list(marks),
        sound_dynamics=list(sound),
    )


def test_no_marks_is_mezzo_forte():
    assert playback_velocities(part(4)).tolist() == [80] * 4


def test_hairpin_ramps_to_the_next_mark():
    p = part(6, [Mark("dynamic", "p", 0), Mark("cresc", "crescendo", 0, 4), Mark("dynamic", "f", 4)])
    assert playback_velocities(p).tolist() == [49, 61, 72, 84, 96, 96]


def test_hairpin_without_a_closing_mark_moves_one_step_and_holds():
    p = part(6, [Mark("dynamic", "f", 0), Mark("dim", "diminuendo", 1, 3)])
    assert playback_velocities(p).tolist() == [96, 96, 88, 80, 80, 80]


def test_cresc_word_without_extent_changes_no_velocity_but_is_marked():
    p = part(6, [Mark("dynamic", "p", 0), Mark("cresc", "cresc.", 1), Mark("dynamic", "f", 4)])
    assert playback_velocities(p).tolist() == [49, 49, 49, 49, 96, 96]
    cresc = part_markings(p, [])[:, MARKING_NAMES.index("crescendo")]
    assert cresc.tolist() == [0, 1, 1, 1, 0, 0]  # until the next dynamic mark


def test_sforzando_is_one_chord_and_fp_changes_the_level():
    p = part(
        5,
        [
            Mark("dynamic", "p", 0),
            Mark("impulsive", "sf", 1),
            Mark("dynamic", "f", 2),
            Mark("impulsive", "fp", 3),
        ],
    )
    assert playback_velocities(p).tolist() == [49, 112, 96, 96, 49]
    m = part_markings(p, [])
    assert m[:, MARKING_NAMES.index("sforzando")].tolist() == [0, 1, 0, 0, 0]
    assert m[:, MARKING_NAMES.index("fp")].tolist() == [0, 0, 0, 1, 0]


def test_sound_dynamics_override_the_mark():
    p = part(2, [Mark("dynamic", "mf", 0)], sound=[(0.0, 90)])  # e.g. Finale's mf = 100% of 90
    assert playback_velocities(p).tolist() == [90, 90]


def test_unknown_dynamic_and_time_since_it():
    m = part_markings(part(3, [Mark("dynamic", "pp", 1)]), [])
    assert m[:, MARKING_NAMES.index("dynamic_unknown")].tolist() == [1, 0, 0]
    assert m[:, MARKING_NAMES.index("since_dynamic")].tolist() == [0, 0, 1]


def test_tempo_words():
    words = ["allegro molto", "andante", "adagio", "grave"]
    assert [tempo_class(w) for w in words] == sorted((tempo_class(w) for w in words), reverse=True)
    assert tempo_class("allegretto") < tempo_class("allegro") and tempo_class("tempo di valse") == 0.5
    m = part_markings(part(4, [Mark("tempo", "adagio", 0), Mark("tempo", "presto", 2)]), [])
    assert m[:, MARKING_NAMES.index("tempo_start")].tolist() == [1, 0, 1, 0]
    np.testing.assert_allclose(m[:, MARKING_NAMES.index("tempo_class")], [0.2, 0.2, 1, 1])

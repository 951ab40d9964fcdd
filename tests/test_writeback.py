from __future__ import annotations

import io

import mido
import numpy as np
import torch
from conftest import tiny_model
from midi_factory import rich_file, running_status_file

from autodynamics_cli.humanize import predict_velocities
from autodynamics_cli.midi_io import read_midi, with_velocities


def assert_only_velocities_changed(before: bytes, after: bytes, n_modelled: int) -> None:
    """Same length, same bytes except note_on velocities; every message equal but those."""
    assert len(before) == len(after)
    a = mido.MidiFile(file=io.BytesIO(before))
    b = mido.MidiFile(file=io.BytesIO(after))
    assert len(a.tracks) == len(b.tracks)
    changed_bytes = sum(x != y for x, y in zip(before, after, strict=True))
    assert changed_bytes <= n_modelled
    for ta, tb in zip(a.tracks, b.tracks, strict=True):
        assert len(ta) == len(tb)
        for ma, mb in zip(ta, tb, strict=True):
            if ma.type == "note_on" and ma.velocity > 0:
                assert mb.type == "note_on" and mb.velocity > 0
                assert (ma.note, ma.channel, ma.time) == (mb.note, mb.channel, mb.time)
            else:
                assert ma == mb


def test_rich_file_only_modelled_velocities_change():
    data = rich_file()
    score = read_midi("rich.mid", data)
    out = with_velocities(score, np.arange(1, len(score.notes) + 1) + 10)
    assert_only_velocities_changed(data, out, len(score.notes))
    msgs = [m for t in mido.MidiFile(file=io.BytesIO(out)).tracks for m in t]
    drums = [m for m in msgs if m.type == "note_on" and m.channel == 9]
    high = [m for m in msgs if m.type == "note_on" and m.note == 110]
    assert drums[0].velocity == 100 and high[0].velocity == 50  # left untouched
    zero = [m for m in msgs if m.type == "note_on" and m.note == 50 and m.velocity == 0]
    assert len(zero) == 1  # velocity-0 note-off stays a note-off
    new = sorted(m.velocity for m in msgs if m.type == "note_on" and m.velocity > 0
                 and m.channel != 9 and m.note != 110)
    assert new == list(range(11, 11 + len(score.notes)))


def test_model_writeback_keeps_running_status_bytes():
    data = running_status_file()
    score = read_midi("rs.mid", data)
    (vel,) = predict_velocities(tiny_model(), [score.notes], torch.device("cpu"))
    out = with_velocities(score, vel)
    assert_only_velocities_changed(data, out, 3)
    assert out[:14] == data[:14] and out[-4:] == data[-4:]

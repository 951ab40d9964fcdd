"""Writing velocities back patches only the velocity bytes of the file's modelled notes."""

from __future__ import annotations

import io

import mido
import numpy as np
from helpers import assert_only_velocities_changed, rich_file, running_status_file, tiny_model

from autodynamics_cli.inference.model import Model
from autodynamics_cli.inference.predict import predict_velocities
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.midi.write import with_velocities


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
    new = sorted(
        m.velocity
        for m in msgs
        if m.type == "note_on" and m.velocity > 0 and m.channel != 9 and m.note != 110
    )
    assert new == list(range(11, 11 + len(score.notes)))


def test_model_writeback_keeps_running_status_bytes():
    data = running_status_file()
    score = read_midi("rs.mid", data)
    (vel,) = predict_velocities(Model.from_network(tiny_model()), [score.notes])
    out = with_velocities(score, vel)
    assert_only_velocities_changed(data, out, 3)
    assert out[:14] == data[:14] and out[-4:] == data[-4:]

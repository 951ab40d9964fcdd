"""The model's config without torch (model/config.py): presets, layouts, weight shapes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import NOTE_TAGGER, STAFF_COLUMNS, STAFF_TAGGER, tiny_model

from autodynamics_cli.encoding import note_features as NF
from autodynamics_cli.model.config import PRESETS, ModelConfig, feature_layout, state_shapes
from autodynamics_cli.model.torch_net import AutoDynamics


def test_preset_parameter_counts():
    counts = {k: AutoDynamics(c).num_parameters() for k, c in PRESETS.items() if k != "paper-base"}
    assert 5e6 <= counts["default"] <= 10e6
    assert counts["small"] < counts["default"] < counts["paper-small"]


def test_note_tokens_need_a_tagger():
    with pytest.raises(ValueError, match="tagger"):
        ModelConfig(note_tokens=True, causal_decoder=True, velocity_feedback=False)
    assert (
        ModelConfig(causal_decoder=False, velocity_feedback=False, note_tokens=True).positions_per_note == 1
    )


@pytest.mark.parametrize("preset", PRESETS)
def test_state_shapes_describe_the_torch_model(preset):
    for cfg in (
        PRESETS[preset],
        replace(PRESETS[preset], note_pitch_embedding=False, note_features=False, input_velocity=True),
    ):
        model = AutoDynamics(cfg)
        assert state_shapes(cfg) == {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_layout_appends_the_lead_rows():
    cfg = tiny_model(**NOTE_TAGGER).cfg
    used, offset, rows = feature_layout(cfg)
    used2, offset2, rows2 = feature_layout(replace(cfg, onset_lead=True))
    assert not used[NF.LEAD_COLUMN] and used2[NF.LEAD_COLUMN]
    assert rows2 == rows + NF.FEATURE_SIZES[NF.LEAD_COLUMN] and offset2[NF.LEAD_COLUMN] == rows
    assert (offset2[used] == offset[used]).all()


def test_layout_appends_the_staff_rows():
    cfg = tiny_model(**STAFF_TAGGER).cfg
    used, offset, rows = feature_layout(cfg)
    used2, offset2, rows2 = feature_layout(replace(cfg, staff=True))
    cols = list(STAFF_COLUMNS)
    assert not used[cols].any() and used2[cols].all()
    assert rows2 == rows + sum(NF.FEATURE_SIZES[c] for c in cols)
    assert offset2[NF.STAFF_COLUMN] == rows and (offset2[used] == offset[used]).all()

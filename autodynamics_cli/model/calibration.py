"""The model's second stage: each piece's level and range, from a summary of the whole file.

The network reads 12.8 s windows and is trained for least squared error, so it
predicts about the average of pianists: per piece its velocities span about 0.55
of a pianist's range. A window cannot see the whole piece either. This stage
maps a file's velocities (its selected notes) as

    v' = level + s * (v - mean(v)),   level = mean(v) + dL,   s = factor * exp(dS),

with dL and dS two linear functions of a whole-piece summary (``summary_features``:
tempo and density, chord size, note lengths, register, notated dynamics, and the
network's own mean and spread on the file). They were fitted by
``training/calibrate.py`` (``autodyn calibrate``) on the train split's MIDI scores (ridge
regressions, features chosen by grouped cross-validation), a second pair on its recorded
performances for input whose chords were played rather than notated (``played``), and a
third on its MusicXML scores for input read with MusicXML markings (``musicxml``: the
network reads them, and a notation program's playback differs from a MIDI export's).
They are stored in the weights file's metadata under ``piece_calibration``. ``factor``
sets the default range (0.9 of the pianists' spread the regression predicts). Linear
and increasing in v, so the order of loudness within a piece is kept. Numpy only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from autodynamics_cli.encoding.note_features import velocities_vary

METADATA_KEY = "piece_calibration"
CHORD_S = 0.035  # onsets closer than this are one chord (a played chord spreads over some 30 ms)
FEATURES = (
    "log_notes_per_s",
    "log_onsets_per_s",
    "chord_size",
    "log_mean_dur",
    "log_median_dur",
    "pitch_mean",
    "pitch_std",
    "log_length_s",
    "has_dynamics",
    "notated_mean",
    "notated_std",
    "model_mean",
    "model_std",
    "played_chords",
)
PLAYED_S = 0.001  # a chord whose onsets differ by more than this was played, not notated
PLAYED_SHARE = 0.5  # a file with more of its chords played is a recorded performance


def summary_features(
    onset: np.ndarray,
    offset: np.ndarray,
    pitch: np.ndarray,
    velocity: np.ndarray,
    pred: np.ndarray,
    read_dynamics: bool = True,
) -> dict[str, float]:
    """The whole-piece summary (``FEATURES``) from the input notes and the network's velocities.

    ``velocity``: the notated velocities the network read; a file whose velocities
    are all equal (or ``read_dynamics`` off) has no notated dynamics.
    """
    on = np.asarray(onset, dtype=np.float64)
    off = np.asarray(offset, dtype=np.float64)
    p = np.asarray(pitch, dtype=np.float64)
    span = max(float(off.max() - on.min()), 1.0)
    dur = np.maximum(off - on, 1e-3)
    gaps = np.diff(np.sort(on))
    chords = 1 + int((gaps > CHORD_S).sum())
    within = gaps[gaps <= CHORD_S]  # steps inside a chord: 0 in a score, a few ms when played
    dyn = read_dynamics and velocities_vary(velocity)
    vel, v = np.asarray(velocity, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    values = (
        math.log(len(on) / span),
        math.log(chords / span),
        len(on) / chords,
        math.log(dur.mean()),
        math.log(float(np.median(dur))),
        p.mean(),
        p.std(),
        math.log(span),
        float(dyn),
        vel.mean() - 64 if dyn else 0.0,
        vel.std() if dyn else 0.0,
        v.mean(),
        v.std(),
        float((within > PLAYED_S).mean()) if len(within) else 0.0,
    )
    return {k: float(x) for k, x in zip(FEATURES, values, strict=True)}


@dataclass(frozen=True)
class Linear:
    """intercept + sum(slope * feature), over the named summary features."""

    intercept: float
    slopes: dict[str, float] = field(default_factory=dict)

    def __call__(self, x: dict[str, float]) -> float:
        return self.intercept + sum(s * x[k] for k, s in self.slopes.items())


@dataclass(frozen=True)
class PieceCalibration:
    """Level shift ``dL`` and log spread factor ``dS`` of a piece, and the default share of it."""

    level: Linear
    spread: Linear
    factor: float = 0.9
    fitted_on: str = ""
    played: PieceCalibration | None = None  # for recorded performances (``PLAYED_SHARE``), if fitted
    musicxml: PieceCalibration | None = None  # for input read with MusicXML markings, if fitted

    def to_dict(self) -> dict:
        d = {
            "version": 1,
            "level": vars(self.level),
            "spread": vars(self.spread),
            "factor": self.factor,
            "fitted_on": self.fitted_on,
        }
        for name, kind in (("played", self.played), ("musicxml", self.musicxml)):
            if kind is not None:
                d[name] = kind.to_dict()
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> PieceCalibration:
        lin = {
            k: Linear(float(d[k]["intercept"]), {str(f): float(s) for f, s in d[k]["slopes"].items()})
            for k in ("level", "spread")
        }
        unknown = (set(lin["level"].slopes) | set(lin["spread"].slopes)) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown summary features {sorted(unknown)}")
        played, musicxml = (cls.from_dict(d[k]) if d.get(k) else None for k in ("played", "musicxml"))
        return cls(
            lin["level"],
            lin["spread"],
            float(d.get("factor", 1.0)),
            str(d.get("fitted_on", "")),
            played,
            musicxml,
        )

    @classmethod
    def from_json(cls, text: str) -> PieceCalibration:
        return cls.from_dict(json.loads(text))

    def kind(self, x: dict[str, float], musicxml: bool = False) -> PieceCalibration:
        """The calibration for this input: ``played``, ``musicxml`` or this one (MIDI scores).

        A recorded performance (most chords' notes a few ms apart, ``played_chords``)
        takes the ``played`` calibration where there is one: it has no notated dynamics
        and the network plays it narrower than a score, so it is fitted on its own.
        Input read with MusicXML markings (``musicxml``) takes the ``musicxml`` one where
        there is one; a model without it treats such input as a MIDI score, as before.
        """
        if self.played is not None and x["played_chords"] >= PLAYED_SHARE:
            return self.played
        if musicxml and self.musicxml is not None:
            return self.musicxml
        return self

    def level_and_scale(self, x: dict[str, float], musicxml: bool = False) -> tuple[float, float]:
        """The piece's target mean velocity, and the factor on the network's deviations from its mean
        (from the calibration ``kind`` picks)."""
        cal = self.kind(x, musicxml)
        if cal is not self:
            return cal.level_and_scale(x)
        return x["model_mean"] + self.level(x), self.factor * math.exp(self.spread(x))

    def apply(
        self,
        pred: np.ndarray,
        onset: np.ndarray,
        offset: np.ndarray,
        pitch: np.ndarray,
        velocity: np.ndarray,
        read_dynamics: bool = True,
        musicxml: bool = False,
    ) -> np.ndarray:
        """The calibrated velocities of one file (1..127, rounded); ``musicxml``: its notes were read
        with MusicXML markings."""
        v = np.asarray(pred, dtype=np.float64)
        if len(v) == 0:
            return np.asarray(pred, dtype=np.int64)
        x = summary_features(onset, offset, pitch, velocity, v, read_dynamics)
        level, s = self.level_and_scale(x, musicxml)
        return np.clip(np.rint(level + s * (v - v.mean())), 1, 127).astype(np.int64)


def read_calibration(metadata: dict[str, str]) -> PieceCalibration | None:
    """The calibration stored in a weights file's metadata, or None (a model without one)."""
    text = metadata.get(METADATA_KEY)
    return None if not text else PieceCalibration.from_json(text)

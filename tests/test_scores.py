"""Learning from and judging on score input, on tiny hand-built score/performance pairs."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
from midi_factory import off, on, to_bytes, track
from typer.testing import CliRunner

from autodynamics_cli import note_features as NF
from autodynamics_cli.cli import app
from autodynamics_cli.data import (
    Augment,
    WindowSampler,
    aligned_targets,
    list_aligned,
    load_aligned,
    read_alignment,
)
from autodynamics_cli.errors import AutodynError
from autodynamics_cli.midi_io import read_midi
from autodynamics_cli.train import TrainConfig, train

runner = CliRunner()
N = 24  # notes per hand


def score_bytes(stepped: bool = True) -> bytes:
    """Right hand (track 1) and left hand (track 2), quantized; f then p when ``stepped``."""
    def hand(base: int, vel_f: int, vel_p: int) -> mido.MidiTrack:
        msgs = []
        for i in range(N):
            v = (vel_f if i < N // 2 else vel_p) if stepped else 80
            msgs += [on(base + i % 7, v), off(base + i % 7, time=240)]
        return track(*msgs)
    return to_bytes(mido.MidiFile(type=1, ticks_per_beat=480,
                                  tracks=[track(), hand(72, 96, 48), hand(48, 90, 40)]))


def performance_bytes(seed: int) -> bytes:
    """Both hands merged, slower and uneven, melody loud: a pianist's take on the score."""
    rng = np.random.default_rng(seed)
    events = []
    for i in range(N):
        t = int(i * 264 + rng.integers(0, 30))
        events += [(t, on(72 + i % 7, int(rng.integers(70, 100)))), (t + 250, off(72 + i % 7)),
                   (t, on(48 + i % 7, int(rng.integers(30, 50)))), (t + 250, off(48 + i % 7))]
    events.sort(key=lambda e: e[0])
    msgs, now = [], 0
    for t, m in events:
        msgs.append(m.copy(time=t - now))
        now = t
    return to_bytes(mido.MidiFile(type=0, ticks_per_beat=480, tracks=[track(*msgs)]))


def alignment_csv(perf: bytes, skip: set[int] = frozenset()) -> str:
    """score_note_index counts note_ons track by track: right hand 0..N-1, left hand N..2N-1."""
    notes = read_midi("perf.mid", perf).notes
    order = np.argsort(notes.onset, kind="stable")
    rh = [i for i in order if notes.pitch[i] >= 60]
    lh = [i for i in order if notes.pitch[i] < 60]
    rows = ["score_note_index,pitch,score_onset_s,perf_velocity"]
    for k, i in enumerate(rh + lh):
        if k not in skip:
            rows.append(f"{k},{notes.pitch[i]},{(k % N) * 0.25:.6f},{notes.velocity[i]}")
    return "\n".join(rows) + "\n"


@pytest.fixture
def aligned(tmp_path: Path) -> tuple[Path, Path, Path]:
    perf_root, score_root, align_root = tmp_path / "perf", tmp_path / "scores", tmp_path / "align"
    rows = ["canonical_composer,canonical_title,split,year,midi_filename,duration"]
    for piece in range(3):
        split = "validation" if piece == 2 else "train"
        folder = f"Anon/Piece{piece}"
        (score_root / folder).mkdir(parents=True)
        (score_root / folder / "midi_score.mid").write_bytes(score_bytes(stepped=piece != 1))
        (perf_root / folder).mkdir(parents=True)
        align_root.mkdir(exist_ok=True)
        for who in ("Ann", "Bob"):
            perf = performance_bytes(piece * 10 + len(who) + ord(who[0]))
            (perf_root / folder / f"{who}.mid").write_bytes(perf)
            (align_root / f"Anon__Piece{piece}__{who}.csv").write_text(alignment_csv(perf, {3}))
            rows.append(f"Anon,Piece {piece},{split},2020,{folder}/{who}.mid,7.0")
    (perf_root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return perf_root, score_root, align_root


def test_alignment_targets_follow_score_note_order(aligned):
    perf_root, score_root, align_root = aligned
    entries = list_aligned(perf_root, score_root, align_root)
    assert len(entries) == 6 and {e.split for e in entries} == {"train", "validation"}
    e = entries[0]
    notes = read_midi(e.score).notes
    target, has = aligned_targets(notes, e.score.read_bytes(), read_alignment(e.alignment))
    assert has.sum() == 2 * N - 1  # row 3 was left out: that note keeps its place, no target
    rh = notes.pitch >= 60
    assert target[rh & has].min() >= 70 and target[~rh].max() < 50  # melody loud, bass soft
    piece = load_aligned(e)
    assert piece.source == "score" and piece.in_velocity is not None  # stepped: notated dynamics
    flat = load_aligned(next(x for x in entries if "Piece1" in str(x.score)))
    assert flat.in_velocity is None  # constant velocities carry no dynamics


def test_alignment_that_does_not_fit_is_refused(aligned, tmp_path):
    perf_root, score_root, align_root = aligned
    e = list_aligned(perf_root, score_root, align_root)[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("score_note_index,pitch,score_onset_s,perf_velocity\n0,21,0.0,50\n1,22,0.0,50\n")
    with pytest.raises(AutodynError, match="does not fit"):
        aligned_targets(read_midi(e.score).notes, e.score.read_bytes(), read_alignment(bad), str(bad))


def test_score_windows_carry_targets_and_notated_velocity(aligned):
    perf_root, score_root, align_root = aligned
    pieces = [load_aligned(e) for e in list_aligned(perf_root, score_root, align_root)]
    sampler = WindowSampler(pieces, 0, 256, 100, Augment(), 0.0, 1.0, drop_dynamics=0.0)
    w = sampler.sample()
    n = (len(w.tokens) - 1) // 3
    vel_pos = 2 + 3 * np.arange(n)
    assert w.weights[vel_pos].sum() >= n - 1  # all matched notes carry loss
    assert w.features.shape == (len(w.tokens), NF.N_FEATURES)
    stepped = [p for p in pieces if p.in_velocity is not None]
    assert stepped and len(stepped) < len(pieces)


def test_sources_mix_by_share(aligned):
    perf_root, score_root, align_root = aligned
    from autodynamics_cli.data import load_performance, source_probabilities

    scores = [load_aligned(e) for e in list_aligned(perf_root, score_root, align_root)]
    perfs = [load_performance(perf_root / "Anon/Piece0/Ann.mid")]
    p = source_probabilities(scores + perfs, {"score": 0.25, "performance": 0.75})
    assert p[: len(scores)].sum() == pytest.approx(0.25) and p[-1] == pytest.approx(0.75)


def test_train_on_scores_and_eval_scores_cli(aligned, tmp_path):
    perf_root, score_root, align_root = aligned
    out = tmp_path / "run"
    cfg = TrainConfig(data=str(perf_root), out=str(out), preset="tiny", batch_size=2, max_steps=2,
                      eval_minutes=0.0, checkpoint_minutes=1000.0, eval_seconds=None, log_every=1,
                      threads=1, device="cpu", scores=str(score_root), alignments=str(align_root),
                      overrides={"causal_decoder": False, "note_features": True, "input_velocity": True})
    train(cfg)
    log = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert log[0]["train_score_pieces"] == 4
    val = [m for m in log if m["event"] == "validation"][-1]
    assert "score_mse" in val and "mse" in val
    report = tmp_path / "scores.json"
    r = runner.invoke(app, ["eval", "--data", str(perf_root), "--scores", str(score_root),
                            "--alignments", str(align_root), "--model", str(out / "best.safetensors"),
                            "--json", str(report), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "another performer" in r.output
    res = json.loads(report.read_text())
    assert res["summary"]["performances"] == 2 and res["summary"]["pieces"] == 1
    row = res["performances"][0]
    assert row["notes"] == 2 * N - 1
    assert row["other_mse"] > 0 and row["others_mean_mse"] == pytest.approx(row["other_mse"])
    assert row["notated_mse"] != row["baseline_mse"]


def test_note_features_on_a_chord_and_around_a_window():
    on_step = np.array([0, 0, 0, 10, 30])
    pitch = np.array([60, 64, 67, 72, 50])
    f = NF.note_features(on_step, pitch)
    assert f[:3, 0].tolist() == [3, 3, 3]  # chord size
    assert f[:3, 1].tolist() == [2, 1, 0] and f[:3, 2].tolist() == [0, 1, 2]  # rank from top/bottom
    assert f[0, 4] == 9 and f[4, 5] == 9  # no note before / after: the top bucket
    rng = np.random.default_rng(0)
    on_step = np.sort(rng.integers(0, 2000, 800))
    pitch = rng.integers(21, 109, 800)
    vel = rng.integers(1, 128, 800)
    whole = NF.note_features(on_step, pitch, vel)
    lo, hi = 700, 956  # a training window computes on the notes near it: the same features
    near = (on_step >= lo - NF.CONTEXT_STEPS) & (on_step < hi + NF.CONTEXT_STEPS)
    part = NF.note_features(on_step[near], pitch[near], vel[near])
    inside = (on_step[near] >= lo) & (on_step[near] < hi)
    assert np.array_equal(part[inside], whole[(on_step >= lo) & (on_step < hi)])
    assert not NF.has_dynamics(np.full(5, 80)) and NF.has_dynamics(np.array([80, 81]))


def test_model_reads_notated_dynamics_but_not_constant_velocities():
    import torch
    from conftest import tiny_model

    from autodynamics_cli.humanize import predict_velocities
    from autodynamics_cli.midi_io import Notes

    model = tiny_model(seed=2, feedback=False, causal_decoder=False, input_velocity=True)
    with torch.no_grad():
        model.head.weight.mul_(50)
        model.feat_emb.weight.normal_(std=3.0)  # make the notated velocity matter
    n = 40
    onset = np.arange(n) * 0.25

    def notes(vel):
        return Notes(onset=onset, offset=onset + 0.2, pitch=60 + np.arange(n) % 12,
                     velocity=np.asarray(vel), channel=np.zeros(n, int), track=np.zeros(n, int),
                     byte_offset=np.arange(n))

    cpu = torch.device("cpu")
    stepped = np.where(np.arange(n) < n // 2, 100, 40)
    (a,), (b,) = predict_velocities(model, [notes(stepped)], cpu), predict_velocities(
        model, [notes(np.full(n, 80))], cpu)
    (c,) = predict_velocities(model, [notes(np.full(n, 64))], cpu)
    (d,) = predict_velocities(model, [notes(stepped)], cpu, read_dynamics=False)
    assert a.tolist() != b.tolist()  # stepped dynamics are read
    assert b.tolist() == c.tolist() == d.tolist()  # constant input (any level) = no dynamics


def test_performance_eval_never_shows_the_answers(monkeypatch, tmp_path):
    """eval hands the model flattened velocities, so a model that reads input
    velocities cannot read the pianist's."""
    import torch
    from conftest import tiny_model

    import autodynamics_cli.evaluate as ev
    from autodynamics_cli.data import Entry

    seen = []

    def spy(model, notes_list, device, **kw):
        seen.extend(n.velocity.copy() for n in notes_list)
        return [np.full(len(n), 64) for n in notes_list]

    monkeypatch.setattr(ev, "predict_velocities", spy)
    path = tmp_path / "p.mid"
    path.write_bytes(performance_bytes(1))
    (row,) = ev.evaluate(tiny_model(input_velocity=True), [Entry(path, "validation", "g")],
                         torch.device("cpu"))
    assert seen and all((v == 64).all() for v in seen)
    assert row.mse == row.baseline_mse > 0  # the real velocities are still the targets

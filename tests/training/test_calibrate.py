"""Fitting the piece calibration (``training/calibrate.py``): the ridge, the folds, the selection,
the weights file it writes, and the fit on a tiny ASAP-layout dataset applied by ``load_model``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import SCORE_NOTES, TAGGER, alignment_csv, performance_bytes, score_bytes, tiny_model

from autodynamics_cli.errors import AutodynError, ModelError
from autodynamics_cli.inference.model import load_model
from autodynamics_cli.midi.read import read_midi
from autodynamics_cli.model.calibration import FEATURES, Linear, PieceCalibration, summary_features
from autodynamics_cli.model.weights_file import read_checked_calibration, read_metadata, save_model
from autodynamics_cli.training import calibrate as C


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> Path:
    """A random tiny tagger's weights (the numpy engine runs it)."""
    path = tmp_path_factory.mktemp("cal-weights") / "tagger.safetensors"
    save_model(path, tiny_model(**TAGGER), {"license": "test"})
    return path


STEPS = [("C", 0), ("C", 1), ("D", 0), ("D", 1), ("E", 0), ("F", 0), ("F", 1)]  # i % 7 semitones up


def score_mxl() -> tuple[bytes, str]:
    """``score_bytes`` as a MusicXML score (eighths, three 4/4 bars, two staves) and its note map:
    the right hand's notes are ``r0``..``r23``, score note indices 0..23; the left's ``l0``.., 24..47."""
    import xml_scores as X

    def hand(hand: str, octave: int, staff: int, bar: int) -> str:
        out = []
        for i in range(bar * 8, bar * 8 + 8):
            step, alter = STEPS[i % 7]
            xml = X.note(step, octave, 0.5, alter=alter, staff=staff)
            out.append(xml.replace("<note>", f'<note id="{hand}{i}">', 1))
        return "".join(out)

    bars = [
        X.measure(b + 1, hand("r", 5, 1, b), X.backup(4), hand("l", 3, 2, b), staves=2, first=b == 0)
        for b in range(SCORE_NOTES // 8)
    ]
    rows = [f"{i},r{i}-1" for i in range(SCORE_NOTES)] + [
        f"{SCORE_NOTES + i},l{i}-1" for i in range(SCORE_NOTES)
    ]
    return X.mxl(X.score(*bars)), "score_note_index,xml_note_id\n" + "\n".join(rows) + "\n"


def make_asap(
    root: Path, pieces: int = 5, performers: tuple[str, ...] = ("Ann", "Bob"), xml: bool = False
) -> tuple[Path, ...]:
    """Performances, scores and alignments of ``pieces`` train pieces and one validation piece;
    ``xml``: each score with its MusicXML and note map too."""
    perf_root, score_root, align_root = root / "perf", root / "scores", root / "align"
    align_root.mkdir(parents=True)
    rows = ["canonical_composer,canonical_title,split,year,midi_filename,duration"]
    for piece in range(pieces + 1):
        split = "validation" if piece == pieces else "train"
        folder = f"Anon/Piece{piece}"
        (score_root / folder).mkdir(parents=True)
        (score_root / folder / "midi_score.mid").write_bytes(score_bytes(stepped=piece % 2 == 0))
        if xml:
            data, note_map = score_mxl()
            (score_root / folder / "xml_score.mxl").write_bytes(data)
            (score_root / folder / "xml_note_map.csv").write_text(note_map)
        (perf_root / folder).mkdir(parents=True)
        for k, who in enumerate(performers):
            perf = performance_bytes(piece * 10 + k)
            (perf_root / folder / f"{who}.mid").write_bytes(perf)
            (align_root / f"Anon__Piece{piece}__{who}.csv").write_text(alignment_csv(perf))
            rows.append(f"Anon,Piece {piece},{split},2020,{folder}/{who}.mid,7.0")
    (perf_root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return perf_root, score_root, align_root


# ---------------------------------------------------------------- the fit on synthetic tables


def test_ridge_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, len(FEATURES))) * np.arange(1, len(FEATURES) + 1) + 10
    y = 3.0 + 2.0 * X[:, 0] - 0.5 * X[:, 3]
    w = rng.uniform(0.5, 2.0, len(y))
    r = C.ridge_fit(X, y, w, [0, 3], 1e-9)
    icpt, slopes = r.coefficients()
    assert icpt == pytest.approx(3.0, abs=1e-5)
    assert slopes == pytest.approx({FEATURES[0]: 2.0, FEATURES[3]: -0.5}, abs=1e-6)
    assert r.predict(X) == pytest.approx(y, abs=1e-5)
    # intercept only: the weighted mean; a penalty shrinks the slopes towards 0
    assert C.ridge_fit(X, y, w, [], 0.1).predict(X[:2]) == pytest.approx([w @ y / w.sum()] * 2)
    assert abs(C.ridge_fit(X, y, w, [0], 1.0).coefficients()[1][FEATURES[0]]) < 2.0


def test_folds_keep_each_piece_in_one_fold():
    groups = np.array([f"piece{i % 23}" for i in range(100)])
    folds = C.fold_of(groups, k=10, seed=0)
    for g in set(groups):
        assert len(set(folds[groups == g])) == 1
    per_fold = np.bincount([folds[groups == g][0] for g in sorted(set(groups))])
    assert len(per_fold) == 10 and per_fold.max() - per_fold.min() <= 1  # pieces, not files, share out
    assert (C.fold_of(groups[::-1], k=10, seed=0) == folds[::-1]).all()  # by name, not by order
    assert (C.fold_of(groups, k=10, seed=1) != folds).any()


def test_selection_picks_the_informative_feature_over_noise():
    rng = np.random.default_rng(1)
    n = 300
    X = rng.normal(size=(n, len(FEATURES)))
    groups = np.array([f"p{i // 2}" for i in range(n)])
    folds = C.fold_of(groups)
    w = np.ones(n)
    j = FEATURES.index("log_notes_per_s")
    ridge, path = C.select(X, 1.5 * X[:, j] + rng.normal(0, 0.3, n), w, folds)
    assert ridge.cols[0] == j and path[1][0] == "log_notes_per_s"
    assert path[1][2] < 0.2 * path[0][2]  # the CV error of the target falls
    assert all(b[2] < 0.99 * a[2] for a, b in zip(path, path[1:], strict=False))  # each by 1% or more
    assert ridge.coefficients()[1]["log_notes_per_s"] == pytest.approx(1.5, abs=0.05)
    big = rng.normal(size=(2000, len(FEATURES)))  # enough files that noise cannot gain 1% by chance
    noise, path = C.select(big, rng.normal(size=2000), np.ones(2000), C.fold_of(np.arange(2000) // 2))
    assert noise.cols == [] and [p[0] for p in path] == ["(intercept only)"]


def unit(group: str, pred: np.ndarray, truths: list[np.ndarray], notated: int | None = None) -> C.Unit:
    n = len(pred)
    on = np.arange(n) * 0.25
    vel = np.full(n, 64) if notated is None else np.r_[np.full(n // 2, notated), np.full(n - n // 2, 40)]
    return C.Unit(
        "score",
        group,
        "train",
        group,
        on,
        on + 0.2,
        60 + np.arange(n) % 12,
        vel,
        pred,
        [(f"perf{k}", t, np.ones(n, dtype=bool)) for k, t in enumerate(truths)],
    )


def test_table_targets_and_piece_weights():
    rng = np.random.default_rng(2)
    pred = rng.integers(50, 70, 40)
    a = unit("A", pred, [pred + 10, pred * 2 - 60])
    b = unit("B", pred, [pred + 4])
    c = unit("B", pred, [pred - 4, pred, pred + 1])
    short = unit("C", pred[:1], [pred[:1]])  # one note: left out
    t = C.make_table([a, b, c, short])
    assert [u.group for u in t.units] == ["A", "B", "B"]
    assert t.weight == pytest.approx([1.0, 0.25, 0.75])  # each piece weighs 1, split by performers
    dl, ds = C.regression_targets(t)
    assert dl[0] == pytest.approx(((pred + 10).mean() + (pred * 2 - 60).mean()) / 2 - pred.mean())
    assert ds[0] == pytest.approx(np.log((pred.std() + 2 * pred.std()) / 2 / pred.std()))
    assert t.model_mean == pytest.approx([pred.mean()] * 3)


def test_fit_calibrator_learns_a_level_that_depends_on_the_notated_dynamics():
    """Pianists play pieces with notated dynamics 8 louder than the network; the others as it does."""
    rng = np.random.default_rng(3)
    units = []
    for p in range(30):
        pred = rng.integers(50, 75, 60)
        loud = p % 2 == 0
        truth = [pred + (8 if loud else 0) + rng.integers(-1, 2, 60) for _ in range(2)]
        units.append(unit(f"piece{p}", pred, truth, notated=90 if loud else None))
    t = C.make_table(units)
    cal = C.fit_calibrator(t)
    assert cal.level.cols and FEATURES[cal.level.cols[0]] in ("has_dynamics", "notated_mean", "notated_std")
    assert cal.level_hat(t) - t.model_mean == pytest.approx(np.where(t.X[:, 8] > 0, 8.0, 0.0), abs=0.6)
    product = C.to_product(cal, 0.9, "synthetic")
    assert product.factor == 0.9 and product.fitted_on == "synthetic"
    x = summary_features(units[0].onset, units[0].offset, units[0].pitch, units[0].velocity, units[0].pred)
    level, scale = product.level_and_scale(x)
    assert level == pytest.approx(cal.level_hat(t)[0])
    assert scale == pytest.approx(0.9 * cal.spread_factor(t)[0])


# ---------------------------------------------------------------- the weights file


def test_write_calibration_keeps_the_tensors_and_the_metadata(tagger: Path, tmp_path: Path):
    from safetensors.numpy import load_file

    cal = PieceCalibration(
        Linear(2.0, {"model_mean": 0.1}),
        Linear(0.3, {"chord_size": -0.01}),
        0.9,
        "test",
        played=PieceCalibration(Linear(-1.0), Linear(0.2), 0.9, "played"),
    )
    out = tmp_path / "cal.safetensors"
    before = tagger.read_bytes()
    C.write_calibration(tagger, out, cal)
    assert tagger.read_bytes() == before  # the input is left alone
    assert read_checked_calibration(out) == cal
    assert {k: v for k, v in read_metadata(out).items() if k != "piece_calibration"} == read_metadata(tagger)
    a, b = load_file(str(tagger)), load_file(str(out))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    assert C.tensors_digest(out) == C.tensors_digest(tagger)  # the cache key ignores the metadata
    assert before[8 + int.from_bytes(before[:8], "little") :] in out.read_bytes()  # tensor bytes as they were
    again = PieceCalibration(Linear(-3.0), Linear(0.0), 1.0, "again")
    C.write_calibration(out, out, again)  # in place, atomically
    assert read_checked_calibration(out) == again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal.safetensors"]  # no temporary left


def test_write_calibration_refuses_a_truncated_file(tagger: Path, tmp_path: Path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(tagger.read_bytes()[:-100])
    with pytest.raises(ModelError, match="truncated"):
        C.write_calibration(bad, tmp_path / "out.safetensors", PieceCalibration(Linear(0.0), Linear(0.0)))
    assert not (tmp_path / "out.safetensors").exists()


def test_resolve_weights_takes_a_run_folders_best(tagger: Path, tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.safetensors").write_bytes(tagger.read_bytes())
    assert C.resolve_weights(run) == run / "best.safetensors"
    assert C.resolve_weights(str(tagger)) == tagger


# ---------------------------------------------------------------- the network on a tiny dataset


def test_sources_follow_the_dataset(tmp_path: Path):
    perf, scores, align = make_asap(tmp_path, pieces=3)
    s = C.score_sources(perf, scores, align)
    assert [x.group for x in s] == ["Anon | Piece 0", "Anon | Piece 1", "Anon | Piece 2"]
    assert all(x.kind == "score" and x.split == "train" and len(x.performers) == 2 for x in s)
    assert len(C.score_sources(perf, scores, align, ("train", "validation"))) == 4
    p = C.performance_sources(perf)
    assert len(p) == 6 and all(x.kind == "performance" and x.performers == () for x in p)


def test_units_carry_the_network_alone_and_the_cache_serves_a_rerun(
    tagger: Path, tmp_path: Path, monkeypatch
):
    perf, scores, align = make_asap(tmp_path / "data", pieces=2)
    sources = C.score_sources(perf, scores, align) + C.performance_sources(perf)
    shifted = tmp_path / "shifted.safetensors"  # a model whose calibration moves everything up 30
    C.write_calibration(tagger, shifted, PieceCalibration(Linear(30.0), Linear(0.0), 1.0))
    seen: list[tuple[str, int, int]] = []
    cache = tmp_path / "cache"
    units = C.run_units(
        load_model(shifted, device="cpu"),
        sources,
        cache,
        on_progress=lambda *a: seen.append(a),
        files_per_batch=3,
    )
    bare = load_model(tagger, device="cpu")
    notes = read_midi(sources[0].path).notes
    assert np.array_equal(units[0].pred, bare.predict(notes))  # fitted on the network's own output
    assert seen[0] == ("scores", 0, 6) and seen[-1] == ("scores", 6, 6) and len(seen) == 3
    assert units[0].targets[0][0] == str(sources[0].performers[0][0])
    assert units[0].targets[0][2].sum() == 48  # every score note matched
    assert (units[-1].velocity == 64).all() and units[-1].kind == "performance"
    assert len(list(cache.glob("*.npz"))) == 6

    def no_network(*_a, **_k):
        raise AssertionError("the cache should have served every file")

    monkeypatch.setattr("autodynamics_cli.inference.predict.predict_velocities", no_network)
    again = C.run_units(bare, sources, cache)  # same tensors: the same cache entries
    for u, v in zip(units, again, strict=True):
        assert (u.name, u.group, u.split) == (v.name, v.group, v.split)
        assert all(
            np.array_equal(getattr(u, k), getattr(v, k))
            for k in ("onset", "offset", "pitch", "velocity", "pred")
        )
        assert [(n, t.tolist(), h.tolist()) for n, t, h in u.targets] == [
            (n, t.tolist(), h.tolist()) for n, t, h in v.targets
        ]


def test_the_fitted_calibration_is_what_load_model_applies(tagger: Path, tmp_path: Path):
    perf, scores, align = make_asap(tmp_path / "data", pieces=5)
    out = tmp_path / "cal.safetensors"
    fit = C.calibrate(tagger, out, perf, scores, align, device="cpu", factor=0.8)
    cal = read_checked_calibration(out)
    assert cal == fit.calibration and cal.factor == 0.8 and cal.played.factor == 0.8
    assert cal.fitted_on == "perf train split: 5 scores, 5 pieces"
    assert cal.played.fitted_on == "perf train split: 10 performances flattened to 64, 5 pieces"
    t = fit.scores.table
    model = load_model(out, device="cpu")
    for i, u in enumerate(t.units):
        notes = read_midi(u.name).notes
        raw = model.predict(notes, calibrate=False)
        assert np.array_equal(raw, u.pred)
        got = model.predict(notes)
        level = fit.scores.calibrator.level_hat(t)[i]
        scale = 0.8 * fit.scores.calibrator.spread_factor(t)[i]
        want = np.clip(np.rint(level + scale * (raw - raw.mean())), 1, 127)
        assert np.array_equal(got, want)  # the level and range as fitted
    assert json.loads(read_metadata(out)["piece_calibration"])["level"]["intercept"] == pytest.approx(
        fit.scores.calibrator.level.coefficients()[0]
    )


def test_too_few_pieces_is_a_clear_error_before_the_network_runs(tagger: Path, tmp_path: Path):
    perf, scores, align = make_asap(tmp_path / "data", pieces=1)
    seen: list = []
    with pytest.raises(AutodynError, match=r"train scores of at least two pieces \(1 found\)"):
        C.calibrate(
            tagger,
            tmp_path / "out.safetensors",
            perf,
            scores,
            align,
            device="cpu",
            on_progress=lambda *a: seen.append(a),
        )
    assert seen == [] and not (tmp_path / "out.safetensors").exists()


# ---------------------------------------------------------------- the MusicXML kind


def test_musicxml_sources_are_the_scores_with_a_musicxml_file(tmp_path: Path):
    perf, scores, align = make_asap(tmp_path, pieces=3, xml=True)
    (scores / "Anon/Piece1/xml_note_map.csv").unlink()  # no note map: left out
    s = C.musicxml_sources(perf, scores, align)
    assert [x.group for x in s] == ["Anon | Piece 0", "Anon | Piece 2"]
    for x in s:
        assert x.kind == "musicxml" and x.path.name == "xml_score.mxl" and len(x.performers) == 2
        assert x.export == x.path.with_name("midi_score.mid") and x.note_map is not None
        assert x.files()[:3] == (x.path, x.export, x.note_map)
    assert C.musicxml_sources(*make_asap(tmp_path / "plain", pieces=2)) == []


def test_a_musicxml_unit_meets_the_performers_on_its_own_notes(tagger: Path, tmp_path: Path):
    """Through the note map each MusicXML note gets the velocity the performer gave its MIDI twin."""
    pytest.importorskip("lxml")
    from autodynamics_cli.formats.readers import read_input

    perf, scores, align = make_asap(tmp_path / "data", pieces=2, xml=True)
    model = load_model(tagger, device="cpu")
    (midi_unit,) = C.run_units(model, C.score_sources(perf, scores, align)[:1])
    source = C.musicxml_sources(perf, scores, align)[0]
    (xml_unit,) = C.run_units(model, [source], tmp_path / "cache")
    played = read_input(source.path)
    assert xml_unit.kind == "musicxml" and len(xml_unit.pred) == 2 * SCORE_NOTES
    assert np.array_equal(
        xml_unit.pred, model.predict(played.midi.notes, calibrate=False, markings=played.markings)
    )
    assert np.array_equal(xml_unit.velocity, played.midi.notes.velocity)  # as the user's file plays
    for (name_m, t_m, h_m), (name_x, t_x, h_x) in zip(midi_unit.targets, xml_unit.targets, strict=True):
        assert name_m == name_x and h_x.sum() == h_m.sum() == 2 * SCORE_NOTES
        by_pitch = sorted(zip(midi_unit.pitch.tolist(), t_m.tolist(), strict=True))
        assert sorted(zip(xml_unit.pitch.tolist(), t_x.tolist(), strict=True)) == by_pitch
    (cached,) = C.run_units(model, [source], tmp_path / "cache")
    assert np.array_equal(cached.pred, xml_unit.pred) and len(cached.targets) == 2


def test_the_musicxml_calibration_is_what_load_model_applies_to_musicxml_input(tagger: Path, tmp_path: Path):
    pytest.importorskip("lxml")
    from autodynamics_cli.formats.readers import read_input

    perf, scores, align = make_asap(tmp_path / "data", pieces=5, xml=True)
    out = tmp_path / "cal.safetensors"
    fit = C.calibrate(tagger, out, perf, scores, align, device="cpu", factor=0.8)
    cal = read_checked_calibration(out)
    assert fit.musicxml is not None and cal == fit.calibration and cal.musicxml.factor == 0.8
    assert cal.musicxml.fitted_on == "perf train split: 5 MusicXML scores, 5 pieces"
    t = fit.musicxml.table
    model = load_model(out, device="cpu")
    for i, u in enumerate(t.units):
        played = read_input(u.name)
        raw = model.predict(played.midi.notes, calibrate=False, markings=played.markings)
        assert np.array_equal(raw, u.pred)
        level = fit.musicxml.calibrator.level_hat(t)[i]
        scale = 0.8 * fit.musicxml.calibrator.spread_factor(t)[i]
        want = np.clip(np.rint(level + scale * (raw - raw.mean())), 1, 127)
        assert np.array_equal(model.predict(played.midi.notes, markings=played.markings), want)
    plain = C.calibrate(
        tagger, tmp_path / "plain.safetensors", perf, scores, align, device="cpu", factor=0.8, musicxml=False
    )
    assert plain.musicxml is None and plain.calibration.musicxml is None
    assert plain.calibration == replace(cal, musicxml=None)  # the other two kinds as before


def test_a_missing_musicxml_extra_is_named_before_the_network_runs(tagger: Path, tmp_path: Path, monkeypatch):
    perf, scores, align = make_asap(tmp_path / "data", pieces=2, xml=True)
    monkeypatch.setattr("autodynamics_cli.musicxml.read.extra_installed", lambda: False)
    seen: list = []
    with pytest.raises(AutodynError, match=r"\[musicxml\] extra.*--no-musicxml"):
        C.calibrate(
            tagger, tmp_path / "out.safetensors", perf, scores, align, on_progress=lambda *a: seen.append(a)
        )
    assert seen == [] and not (tmp_path / "out.safetensors").exists()

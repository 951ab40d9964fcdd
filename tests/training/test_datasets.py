"""Data folders: MAESTRO's published layout, and several folders read as one, each recording once."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import performance
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.training.datasets import list_aligned, list_sources

runner = CliRunner()

MAESTRO_HEADER = (
    "canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration,"
    "maestro_split,asap_pieces,asap_performances"
)


def maestro_folder(root: Path, aligned_perf: Path) -> Path:
    """A MAESTRO v3 folder: ``YEAR/*.midi`` and ``maestro-v3.0.0.csv`` with the two ASAP columns.

    Row 0 is the same recording as ``Anon/Piece0/Ann.mid`` of ``aligned_perf``; row 1 plays
    that piece too but is not in ASAP; rows 2 and 3 play pieces ASAP does not have."""
    rows = [MAESTRO_HEADER]
    (root / "2018").mkdir(parents=True)
    for i in range(4):
        name = f"2018/MIDI-Unprocessed_{i}.midi"
        data = (aligned_perf / "Anon/Piece0/Ann.mid").read_bytes() if i == 0 else performance(40 + i)
        (root / name).write_bytes(data)
        pieces = "Anon/Piece0" if i < 2 else ""
        same = "Anon/Piece0/Ann.mid" if i == 0 else ""
        split = "validation" if i == 3 else "train"
        rows.append(f'Anon,"Piece {i}, Op. 1",{split},2018,{name},x.wav,7.0,test,{pieces},{same}')
    (root / "maestro-v3.0.0.csv").write_text("\n".join(rows) + "\n")
    return root


def test_maestro_alone_is_read_as_published(tmp_path: Path, aligned):
    maestro = maestro_folder(tmp_path / "maestro-v3.0.0", aligned[0])
    entries = list_sources(maestro)
    assert [e.path.suffix for e in entries] == [".midi"] * 4
    assert [e.split for e in entries] == ["train", "train", "train", "validation"]
    assert entries[0].same_as == ("Anon/Piece0/Ann.mid",) and entries[0].pieces == ("Anon/Piece0",)
    assert entries[2].group == "Anon | Piece 2, Op. 1"  # the csv's quoted comma


def test_a_recording_in_two_folders_is_read_once_from_asap(tmp_path: Path, aligned):
    perf, scores, alignments = aligned
    maestro = maestro_folder(tmp_path / "maestro-v3.0.0", perf)
    both = list_sources([maestro, perf])
    names = [e.path.name for e in both]
    assert "MIDI-Unprocessed_0.midi" not in names  # the ASAP copy is kept: its alignment names it
    assert len(both) == 3 + 6
    row1 = next(e for e in both if e.path.name == "MIDI-Unprocessed_1.midi")
    asap_group = next(e.group for e in both if e.path == perf / "Anon/Piece0/Ann.mid")
    assert row1.group == asap_group  # the same piece, averaged as one
    # the order of the folders does not change what is read
    assert sorted(map(str, (e.path for e in list_sources([perf, maestro])))) == sorted(
        map(str, (e.path for e in both))
    )
    # MAESTRO recordings have no alignments: only the ASAP folder gives score pieces
    assert len(list_aligned([maestro, perf], scores, alignments)) == len(
        list_aligned(perf, scores, alignments)
    )


def test_train_and_eval_on_two_folders(tmp_path: Path, aligned):
    perf, scores, alignments = aligned
    maestro = maestro_folder(tmp_path / "maestro-v3.0.0", perf)
    out = tmp_path / "run"
    common = ["--data", str(maestro), "--data", str(perf)]
    r = runner.invoke(
        app,
        ["train", *common, "--scores", str(scores), "--alignments", str(alignments), "--out", str(out),
         "--preset", "tiny", "--batch-size", "2", "--max-steps", "2", "--eval-minutes", "1000",
         "--device", "cpu", "--threads", "1"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    start = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert start["train_pieces"] == 2 + 4 + 4  # MAESTRO rows 1 and 2, four ASAP performances, four scores
    assert start["train_score_pieces"] == 4 and start["data_seconds"] >= 0
    assert "read in" in r.output
    assert 'data = ["' in (out / "recipe.toml").read_text()
    r = runner.invoke(
        app, ["eval", *common, "--model", str(out / "best.safetensors"), "--json", str(tmp_path / "e.json")]
    )
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "e.json").read_text())["performances"]
    assert len(rows) == 2 + 1  # ASAP's two validation performances and MAESTRO's row 3

"""``autodyn humanize score.musicxml -o out.musicxml``: the score written back with its dynamics."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import mido
import pytest
import xml_scores as X
from helpers import cli, simple_file
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.midi.read import read_midi

pytest.importorskip("partitura")
runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def without_dynamics(xml: bytes) -> ET.Element:
    root = ET.fromstring(xml)
    for note in root.iter("note"):
        note.attrib.pop("dynamics", None)
    return root


def same_tree(a: ET.Element, b: ET.Element) -> bool:
    return (
        (a.tag, a.attrib, a.text, a.tail) == (b.tag, b.attrib, b.text, b.tail)
        and len(a) == len(b)
        and all(same_tree(x, y) for x, y in zip(a, b, strict=True))
    )


def dynamics_of(xml: bytes) -> list[float | None]:
    return [
        None if n.get("dynamics") is None else float(n.get("dynamics"))
        for n in ET.fromstring(xml).iter("note")
    ]


def test_a_score_is_written_back_as_a_score_by_default(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "x.musicxml"
    src.write_text(X.two_staves())
    r = run("humanize", src, "--model", tiny_weights)
    assert r.exit_code == 0, r.output
    out = (tmp_path / "x_humanized.musicxml").read_bytes()
    assert same_tree(without_dynamics(out), without_dynamics(src.read_bytes()))
    values = [d for d in dynamics_of(out) if d is not None]
    assert len(values) == 4 and all(0 < d <= 127 / 0.9 for d in values)
    # the velocities are those of the MIDI output of the same score
    assert run("humanize", src, "--model", tiny_weights, "--format", "mid").exit_code == 0
    midi = read_midi("m", (tmp_path / "x_humanized.mid").read_bytes()).notes
    assert sorted(round(d * 0.9) for d in values) == sorted(midi.velocity.tolist())


def test_compressed_and_plain_convert_by_the_output_name(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "x.mxl"
    src.write_bytes(X.mxl(X.marked()))
    assert run("humanize", src, "-o", tmp_path / "a.musicxml", "--model", tiny_weights).exit_code == 0
    assert run("humanize", src, "-o", tmp_path / "b.mxl", "--model", tiny_weights).exit_code == 0
    plain = (tmp_path / "a.musicxml").read_bytes()
    with zipfile.ZipFile(tmp_path / "b.mxl") as z:
        names = z.namelist()
        inner = z.read([n for n in names if not n.startswith("META-INF") and n.endswith(".xml")][0])
    assert plain == inner and dynamics_of(plain).count(None) < len(dynamics_of(plain))
    again = tmp_path / "c.mxl"
    assert run("humanize", tmp_path / "a.musicxml", "-o", again, "--model", tiny_weights).exit_code == 0
    with zipfile.ZipFile(again) as z:
        assert z.namelist() == ["mimetype", "META-INF/container.xml", "score.musicxml"]


def test_a_folder_keeps_each_inputs_kind_unless_told(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.musicxml").write_text(X.scale())
    (src / "b.mid").write_bytes(simple_file())
    assert run("humanize", src, "-o", tmp_path / "kept", "--model", tiny_weights).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["a.musicxml", "b.mid"]
    assert (
        run("humanize", src, "-o", tmp_path / "mid", "--format", "mid", "--model", tiny_weights).exit_code
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "mid").iterdir()) == ["a.mid", "b.mid"]
    r = run("humanize", src, "-o", tmp_path / "xml", "--format", "musicxml", "--model", tiny_weights)
    assert r.exit_code == 1 and "only a MusicXML score is written back" in r.output
    assert sorted(p.name for p in (tmp_path / "xml").iterdir()) == ["a.musicxml"]


@pytest.mark.parametrize(
    ("name", "args", "why"),
    [
        ("x.mid", ("-o", "out.musicxml"), "only a MusicXML score is written back"),
        ("x.mid", ("--format", "musicxml"), "only a MusicXML score is written back"),
        ("x.musicxml", ("-o", "out.mid", "--format", "musicxml"), "contradicts"),
        ("x.musicxml", ("-o", "out.pdf"), "cannot write .pdf"),
    ],
)
def test_outputs_that_cannot_be_written_are_usage_errors(
    tmp_path: Path, tiny_weights: Path, capsys, monkeypatch, name, args, why
):
    src = tmp_path / name
    if name.endswith(".mid"):
        src.write_bytes(simple_file())
    else:
        src.write_text(X.scale())
    paths = (tmp_path / a if a.startswith("out") else a for a in args)
    code, _, err = cli(capsys, monkeypatch, "humanize", src, *paths, "--model", tiny_weights)
    assert code == 2 and why in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_nothing_chosen_copies_the_score_unchanged(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "x.musicxml"
    src.write_text(X.scale())
    r = run("humanize", src, "-o", tmp_path / "o.musicxml", "--channels", "16", "--model", tiny_weights)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o.musicxml").read_bytes() == src.read_bytes()


MSCORE = shutil.which("mscore3") or shutil.which("musescore3") or shutil.which("mscore")


def _velocities_by_pitch(data: bytes) -> dict[int, list[int]]:
    """Each pitch's velocities in time order (MuseScore places grace notes a little differently)."""
    import io

    mid = mido.MidiFile(file=io.BytesIO(data))
    found: list[tuple[int, int, int]] = []
    for track in mid.tracks:
        t = 0
        for msg in track:
            t += msg.time
            if msg.type == "note_on" and msg.velocity:
                found.append((msg.note, t * 960 // mid.ticks_per_beat, msg.velocity))
    by_pitch: dict[int, list[int]] = {}
    for pitch, _, velocity in sorted(found):
        by_pitch.setdefault(pitch, []).append(velocity)
    return by_pitch


@pytest.mark.skipif(
    MSCORE is None, reason="MuseScore 3 is not installed (Debian: apt-get install musescore3)"
)
def test_musescore_plays_the_velocities_autodyn_wrote(tmp_path: Path, tiny_weights: Path):
    """MuseScore 3 imports <note dynamics> as each note's velocity: its MIDI export carries ours."""
    src = tmp_path / "x.musicxml"
    src.write_text(X.two_staves())
    assert run("humanize", src, "-o", tmp_path / "h.musicxml", "--model", tiny_weights).exit_code == 0
    assert run("humanize", src, "-o", tmp_path / "h.mid", "--model", tiny_weights).exit_code == 0
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [MSCORE, "-o", str(tmp_path / "ms.mid"), str(tmp_path / "h.musicxml")],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert (tmp_path / "ms.mid").is_file(), done.stderr.decode(errors="replace")[-500:]
    ours = _velocities_by_pitch((tmp_path / "h.mid").read_bytes())
    theirs = _velocities_by_pitch((tmp_path / "ms.mid").read_bytes())
    assert ours == theirs
    assert len({v for vs in ours.values() for v in vs}) > 1  # not a comparison of constants

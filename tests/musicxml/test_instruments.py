"""Parts keep their MIDI instruments; only keyboard parts are humanized unless --all-parts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import mido
import pytest
import xml_scores as X
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.musicxml.instruments import Instrument, part_instruments

pytest.importorskip("partitura")
runner = CliRunner()


def ensemble(parts: list[tuple[str, int | None, int | None]]) -> str:
    """One bar per part (a different pitch each): (name, MusicXML program 1-128, channel 1-16)."""
    heads, bodies = [], []
    for i, (name, program, channel) in enumerate(parts):
        midi = ""
        if program is not None or channel is not None:
            midi = f'<midi-instrument id="P{i}-I1">'
            midi += f"<midi-channel>{channel}</midi-channel>" if channel is not None else ""
            midi += f"<midi-program>{program}</midi-program>" if program is not None else ""
            midi += "</midi-instrument>"
        heads.append(f'<score-part id="P{i}"><part-name>{name}</part-name>{midi}</score-part>')
        step, octave = "CDEFGAB"[i % 7], 3 + (i // 7) % 3
        bar = X.measure(1, X.note(step, octave, 2), X.note(step, octave, 2), first=True)
        bodies.append(f'<part id="P{i}">{bar}</part>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<score-partwise version="4.0">'
        f"<part-list>{''.join(heads)}</part-list>{''.join(bodies)}</score-partwise>\n"
    )


QUARTET = [("Violin I", 41, 1), ("Violin II", 41, 2), ("Viola", 42, 3), ("Violoncello", 43, 4)]


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def programs(path: Path) -> list[tuple[int, int]]:
    return sorted(
        {(m.channel, m.program) for t in mido.MidiFile(path).tracks for m in t if m.type == "program_change"}
    )


def test_part_list_is_read_zero_based():
    xml = ensemble([("Piano", 1, 1), ("Harp", 47, None), ("Odd", 0, 17), ("Bare", None, None)]).encode()
    assert part_instruments(xml) == {
        "P0": Instrument(0, 0),
        "P1": Instrument(46, None),
        "P2": Instrument(None, None),  # out of range: not given
    }


def test_a_string_quartet_keeps_its_instruments_and_is_left_alone(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "quartet.musicxml"
    src.write_text(ensemble(QUARTET))
    r = run("humanize", src, "-o", tmp_path / "q.mid", "--model", tiny_weights)
    assert r.exit_code == 0, r.output
    assert "no piano part (4 other part(s); --all-parts humanizes them)" in r.output
    assert programs(tmp_path / "q.mid") == [(0, 40), (1, 40), (2, 41), (3, 42)]
    r = run("humanize", src, "-o", tmp_path / "all.mid", "--model", tiny_weights, "--all-parts")
    assert r.exit_code == 0 and "humanized 1 of 1" in r.output, r.output


def test_piano_with_a_violin_gives_dynamics_to_the_piano_only(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "duo.musicxml"
    src.write_text(ensemble([("Violin", 41, 1), ("Piano", 1, 2)]))
    r = run("humanize", src, "-o", tmp_path / "duo_out.musicxml", "--model", tiny_weights)
    assert r.exit_code == 0, r.output
    root = ET.fromstring((tmp_path / "duo_out.musicxml").read_bytes())
    got = {p.get("id"): [n.get("dynamics") for n in p.iter("note")] for p in root.iter("part")}
    assert got["P0"] == [None, None] and all(d is not None for d in got["P1"])


def test_many_parts_never_land_on_the_drum_channel(tmp_path: Path, tiny_weights: Path):
    """41c-StaffGroups of the LilyPond suite: 27 parts without instruments; the 25th wrapped onto
    channel 10, where its note was dropped and the markings no longer matched the notes."""
    src = tmp_path / "orchestra.musicxml"
    src.write_text(ensemble([(f"Part {i}", None, None) for i in range(27)]))
    r = run("humanize", src, "-o", tmp_path / "o.mid", "--model", tiny_weights, "--json")
    assert r.exit_code == 0, r.output
    assert '"notes": 54' in r.output
    assert all(ch != 9 for ch, _ in programs(tmp_path / "o.mid"))


def test_a_channel_taken_by_another_instrument_is_not_shared(tmp_path: Path, tiny_weights: Path):
    src = tmp_path / "clash.musicxml"
    src.write_text(ensemble([("Piano", 1, 1), ("Violin", 41, 1), ("Piano 2", 1, 1)]))
    assert run("humanize", src, "-o", tmp_path / "c.mid", "--model", tiny_weights).exit_code == 0
    assert programs(tmp_path / "c.mid") == [(0, 0), (1, 40)]

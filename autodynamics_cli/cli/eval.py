"""``autodyn eval``: humanize performances (or scores) of a split and compare with the pianists."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from autodynamics_cli.cli.common import Device, ModelOption, calm_threads, err

# the table's columns: header, metric (after the row's key prefix), format
COLUMNS = (
    ("MSE", "mse", ".1f"),
    ("MAE", "mae", ".2f"),
    ("r", "r", ".3f"),
    ("spread", "spread", ".3f"),
    ("level error", "level_error", "+.2f"),
    ("|level|", "abs_level_error", ".2f"),
)
CAPTION = "spread: std / pianist's std; level error: mean - pianist's mean"


def metrics_table(title: str, summary_rows: list[tuple[str, dict, str]]):
    """A table of (label, summary, key prefix) rows; '-' where a row lacks a metric."""
    import math

    from rich.table import Table

    table = Table(title=title, caption=CAPTION)
    table.add_column("")
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="right")
    for label, s, prefix in summary_rows:
        cells = []
        for _, key, fmt in COLUMNS:
            v = s.get(prefix + key)
            if v is None or math.isnan(v):
                cells.append("-")
            else:  # 0.00, not -0.00, for what rounds to zero
                cells.append(format(v if float(format(v, fmt)) else 0.0, fmt))
        table.add_row(label, *cells)
    return table


def eval_cmd(
    data: Annotated[
        list[Path],
        typer.Option(
            metavar="DIR",
            help="Dataset folder (as for train); repeat it to score several, each recording once.",
        ),
    ],
    split: Annotated[str, typer.Option(metavar="NAME", help="Which split to score.")] = "validation",
    model: ModelOption = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", metavar="FILE", help="Write all results here.")
    ] = None,
    max_seconds: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Score only each performance's first N seconds.")
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Score input: humanize each score of this folder once and compare with every "
            "performer (needs --alignments).",
        ),
    ] = None,
    alignments: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Alignment CSV folder (as for train).")
    ] = None,
    read_dynamics: Annotated[
        bool, typer.Option(help="Let the model read the scores' notated velocities (off: measure without).")
    ] = True,
    read_staves: Annotated[
        bool, typer.Option(help="Let a --staff model read the scores' staves (off: as one-track exports).")
    ] = True,
    musicxml: Annotated[
        bool,
        typer.Option(
            help="With --scores: also humanize each score from its MusicXML (xml_score.mxl beside it) "
            "and compare with the MIDI export on the same notes. Needs the [musicxml] extra."
        ),
    ] = True,
    calibration: Annotated[
        bool,
        typer.Option(help="Apply the model's piece calibration, as humanize does (off: the network alone)."),
    ] = True,
    device: Annotated[Device, typer.Option()] = Device.auto,
) -> None:
    """Humanize flat performances (or, with --scores, the scores) and compare with real pianists."""
    calm_threads()
    import json
    from dataclasses import asdict

    from rich.progress import Progress

    from autodynamics_cli.errors import AutodynError
    from autodynamics_cli.inference.choose import require_torch

    require_torch("autodyn eval runs the model on it", "train")
    from autodynamics_cli.inference.model import load_model
    from autodynamics_cli.training.datasets import list_sources
    from autodynamics_cli.training.evaluate import evaluate, summarize

    net = load_model(model, device=device.value, engine="torch")
    if not calibration:
        net = net.uncalibrated()
    if scores or alignments:
        if not (scores and alignments):
            raise AutodynError("score evaluation needs both --scores and --alignments")
        _eval_scores(
            net,
            data,
            scores,
            alignments,
            split,
            max_seconds,
            model,
            json_out,
            read_dynamics,
            read_staves,
            musicxml,
        )
        return
    entries = [e for e in list_sources(data) if e.split == split]
    if not entries:
        raise AutodynError(f"{', '.join(map(str, data))}: no performances in split {split!r}")
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"scoring {split}", total=len(entries))
        results = evaluate(net, entries, max_seconds=max_seconds, on_done=lambda _s: bar.advance(task))
    s = summarize(results)
    table = metrics_table(
        f"{split}: {s['performances']} performances, {s['pieces']} pieces, "
        f"{s['notes']:,} notes (mean over pieces)",
        [("model", s, ""), ("constant 64", s, "baseline_")],
    )
    Console(highlight=False).print(table)
    if json_out:
        json_out.write_text(
            json.dumps(
                {
                    "summary": s,
                    "model": model or "default",
                    "calibration": net.calibration is not None,
                    "performances": [asdict(x) for x in results],
                },
                indent=1,
            )
        )


def _eval_scores(
    net,
    data: list[Path],
    scores: Path,
    alignments: Path,
    split: str,
    max_seconds,
    model: str | None,
    json_out: Path | None,
    read_dynamics: bool,
    read_staves: bool,
    musicxml: bool,
) -> None:
    import json
    from dataclasses import asdict

    from rich.progress import Progress

    from autodynamics_cli.errors import AutodynError
    from autodynamics_cli.training.datasets import list_aligned
    from autodynamics_cli.training.evaluate import SCORE_METRICS, evaluate_scores, summarize

    entries = [e for e in list_aligned(data, scores, alignments) if e.split == split]
    if not entries:
        raise AutodynError(f"{alignments}: no aligned performances in split {split!r}")
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"scoring {split} scores", total=len(entries))
        rows = evaluate_scores(
            net,
            entries,
            max_seconds,
            on_done=lambda _s: bar.advance(task),
            read_dynamics=read_dynamics,
            read_staves=read_staves,
        )
    s = summarize(rows, SCORE_METRICS)
    stepped = summarize([r for r in rows if r.notated_dynamics], SCORE_METRICS)
    table = metrics_table(
        f"{split}, score input: {s['performances']} performances, {s['pieces']} pieces, "
        f"{s['notes']:,} matched notes (mean over pieces)",
        [
            ("model", s, ""),
            ("notated velocities", s, "notated_"),
            ("constant 64", s, "baseline_"),
            ("another performer", s, "other_"),
            ("mean of the other performers", s, "others_mean_"),
            (f"model, {stepped['pieces']} scores with notated dynamics", stepped, ""),
        ],
    )
    Console(highlight=False).print(table)
    from_xml = _eval_musicxml(net, entries, split, read_dynamics, read_staves) if musicxml else None
    if json_out:
        json_out.write_text(
            json.dumps(
                {
                    "summary": s,
                    "summary_notated_dynamics": stepped,
                    "musicxml": from_xml,
                    "read_dynamics": read_dynamics,
                    "read_staves": read_staves,
                    "model": model or "default",
                    "input": "score",
                    "calibration": net.calibration is not None,
                    "performances": [asdict(x) for x in rows],
                },
                indent=1,
            )
        )


def _eval_musicxml(net, entries: list, split: str, read_dynamics: bool, read_staves: bool) -> dict | None:
    """The MusicXML-against-MIDI-export table (``evaluate_musicxml``); its results for --json."""
    from dataclasses import asdict

    from rich.progress import Progress

    from autodynamics_cli.musicxml.read import EXTRA_HINT
    from autodynamics_cli.training.evaluate import MUSICXML_METRICS, evaluate_musicxml, summarize

    try:
        import lark  # noqa: F401
        import lxml  # noqa: F401
    except ImportError:
        err.print(f"MusicXML comparison skipped: {EXTRA_HINT}", markup=False)
        return None
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"reading {split} MusicXML scores", total=len(entries))
        rows = evaluate_musicxml(
            net,
            entries,
            on_done=lambda _s: bar.advance(task),
            read_dynamics=read_dynamics,
            read_staves=read_staves,
        )
    if not rows:
        err.print(
            "MusicXML comparison skipped: no score has an xml_score.mxl and xml_note_map.csv", markup=False
        )
        return None
    s = summarize(rows, MUSICXML_METRICS)
    marked = summarize([r for r in rows if r.markings], MUSICXML_METRICS)
    joined = summarize([r for r in rows if r.with_score_mse == r.with_score_mse], MUSICXML_METRICS)  # not NaN
    Console(highlight=False).print(
        metrics_table(
            f"{split}, MusicXML in against the MIDI export, the same {s['notes']:,} notes: "
            f"{s['performances']} performances, {s['pieces']} pieces (mean over pieces)",
            [
                ("model, MusicXML in", s, ""),
                ("model, MIDI export", s, "midi_"),
                (f"MusicXML in, {marked['pieces']} scores with markings", marked, ""),
                ("MIDI export, the same scores", marked, "midi_"),
                (
                    f"MIDI export --score MusicXML, {joined['pieces']} scores that match",
                    joined,
                    "with_score_",
                ),
                ("MIDI export, the same scores", joined, "midi_"),
            ],
        )
    )
    return {
        "summary": s,
        "summary_markings": marked,
        "summary_with_score": joined,
        "performances": [asdict(r) for r in rows],
    }

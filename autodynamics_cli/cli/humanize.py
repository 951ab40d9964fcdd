"""``autodyn humanize``: options in, the file loop, a summary line (or a JSON report) out."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from autodynamics_cli.cli.common import (
    Device,
    Engine,
    ModelOption,
    OutputFormat,
    calm_threads,
    debug_enabled,
    err,
    parse_channels,
    parse_range,
    split_list,
)
from autodynamics_cli.cli.progress import NotesBar, SigtermAsInterrupt


def humanize(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE",
            help="MIDI files, MusicXML scores (.musicxml, .mxl, .xml: [musicxml] extra) "
            "or folders ('-': a MIDI file on standard input).",
            show_default=False,
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            metavar="PATH",
            help="Output file, or folder (several inputs, a folder input, an existing folder, a "
            "trailing '/'); '-': standard output. Default: {stem}_humanized.mid beside each MIDI "
            "file, {stem}_humanized.mxl (the score's own suffix) beside a MusicXML score.",
        ),
    ] = None,
    recursive: Annotated[
        bool,
        typer.Option("-r", "--recursive", help="Also humanize MIDI files in subfolders of folder inputs."),
    ] = False,
    model: ModelOption = None,
    device: Annotated[Device, typer.Option(help="Where the model runs.")] = Device.auto,
    engine: Annotated[
        Engine,
        typer.Option(
            help="numpy: run a tagger model (the bundled one) on the CPU without torch, which starts "
            "seconds sooner, same velocities; torch; auto: numpy where it can, unless the job "
            "is over 512 KB of MIDI (there torch's faster kernels repay its import)."
        ),
    ] = Engine.auto,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    skip_existing: Annotated[
        bool, typer.Option(help="Leave files whose output exists alone (resume a batch).")
    ] = False,
    batch_size: Annotated[int, typer.Option(metavar="N", min=1, help="Windows per decoder batch.")] = 32,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON report of every file on standard output.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    keep_dynamics: Annotated[
        bool | None,
        typer.Option(
            "--keep-dynamics/--no-keep-dynamics",
            show_default="auto",
            help="Default: the model reads the input's written dynamics and follows them with less "
            "contrast, as pianists do (a flat input gets the model's own). --keep-dynamics also lays "
            "the input's loudness envelope over the result, so every written level is kept; "
            "--no-keep-dynamics: the model's own dynamics only.",
        ),
    ] = None,
    expression: Annotated[
        float,
        typer.Option(
            metavar="0..2",
            min=0.0,
            max=2.0,
            help="How far loud and soft notes lie from the piece's level: 0 flat (every note at the "
            "level), 1 a pianist's range, 2 twice that (exaggerated). Loudness order kept.",
        ),
    ] = 1.0,
    strength: Annotated[
        float,
        typer.Option(
            metavar="0..1", min=0.0, max=1.0, help="0 keeps the input velocities, 1 is the full result."
        ),
    ] = 1.0,
    velocity_range: Annotated[
        tuple[int, int] | None,
        typer.Option(
            "--range", metavar="LO HI", help="Map the result into LO..HI (1-127), loudness order kept."
        ),
    ] = None,
    tracks: Annotated[
        list[str] | None,
        typer.Option(
            "--tracks",
            metavar="LIST",
            help="Humanize only these tracks: numbers from 1 (file order) or names, "
            "comma-separated or repeated.",
        ),
    ] = None,
    channels: Annotated[
        str | None,
        typer.Option(
            metavar="LIST", help="Humanize only these MIDI channels, 1-16: e.g. '1', '1,2' or '1-4'."
        ),
    ] = None,
    temperature: Annotated[
        float,
        typer.Option(
            metavar="T", min=0.0, help="Above 0: sample velocities for a different take (0: greedy)."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed for --temperature; same seed, same file.")] = 0,
    all_parts: Annotated[
        bool,
        typer.Option(
            "--all-parts",
            help="Humanize every pitched part of a General MIDI file. By default only the "
            "keyboards (programs 1-8, or no program change) are, and bass, guitar, "
            "brass or strings keep their velocities; --tracks and --channels choose "
            "explicitly.",
        ),
    ] = False,
    score: Annotated[
        Path | None,
        typer.Option(
            metavar="SCORE",
            help="The MusicXML score the one MIDI input was exported from: its markings "
            "(hairpins, accents, slurs...) are read too, and the velocities still go "
            "into the MIDI file byte for byte.",
        ),
    ] = None,
    fmt: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            help="Write every output as MIDI (mid) or, for MusicXML inputs, as the score with "
            "each note's velocity in its dynamics attribute (musicxml). Default: each input's kind.",
            show_default=False,
        ),
    ] = None,
    read_staves: Annotated[
        bool,
        typer.Option(
            help="Read each track (or channel) as a staff, ranked by mean pitch, as notation "
            "programs export them; off for files whose tracks are not staves (one per voice, "
            "say). Only models trained with staves read them."
        ),
    ] = True,
) -> None:
    """Predict a velocity for every note; only note velocities change."""
    calm_threads()
    from autodynamics_cli.errors import UsageError
    from autodynamics_cli.formats.kinds import Kind
    from autodynamics_cli.humanize.controls import HumanizeOptions
    from autodynamics_cli.humanize.inputs import STDIO, expand_inputs, plan_outputs

    options = HumanizeOptions(
        keep_dynamics=keep_dynamics,
        expression=expression,
        strength=strength,
        velocity_range=parse_range(velocity_range),
        tracks=split_list(tracks),
        channels=parse_channels(channels),
        temperature=temperature,
        seed=seed,
        read_staves=read_staves,
        all_parts=all_parts,
    )
    t0 = time.perf_counter()
    if overwrite and skip_existing:
        raise UsageError("--overwrite and --skip-existing contradict each other; give one")
    exclude = Path(output) if output not in (None, STDIO) else None
    kind = None if fmt is None else Kind.MIDI if fmt is OutputFormat.mid else Kind.MUSICXML
    plans = plan_outputs(expand_inputs(inputs, recursive, exclude), output, overwrite, skip_existing, kind)
    if score is not None:
        _attach_score(plans, score)
    to_stdout = any(p.to_stdout for p in plans)
    if to_stdout and as_json:
        raise UsageError("--json prints on standard output, which carries the MIDI data here; use -o FILE")
    if to_stdout and sys.stdout.isatty():
        raise UsageError("refusing to write MIDI data to a terminal; redirect standard output or use -o FILE")
    stdin_data = _read_stdin() if any(p.source.path is None for p in plans) else None
    results, signum = _run(
        plans,
        model,
        device,
        engine,
        temperature,
        batch_size,
        overwrite,
        stdin_data,
        to_stdout,
        options,
        show_bar=len(plans) > 1 and not quiet and not as_json and err.is_terminal,
        quiet=quiet,
    )
    _finish(results, len(plans), signum, as_json, quiet, time.perf_counter() - t0)


def _attach_score(plans: list, score: Path) -> None:
    """``--score``: one MIDI input takes the markings of its MusicXML score."""
    from autodynamics_cli.errors import UsageError
    from autodynamics_cli.formats import Kind, input_kind

    if input_kind(score) is not Kind.MUSICXML:
        raise UsageError(f"--score {score}: not a MusicXML score (.musicxml, .mxl or .xml)")
    if not score.is_file():
        raise UsageError(f"--score {score}: no such file")
    if len(plans) != 1 or input_kind(plans[0].source.path) is Kind.MUSICXML:
        raise UsageError("--score goes with one MIDI file (a MusicXML input reads its own markings)")
    plans[0].score = score


def _read_stdin() -> bytes:
    from autodynamics_cli.errors import UsageError
    from autodynamics_cli.midi.read import MAX_FILE_BYTES

    if sys.stdin.isatty():
        raise UsageError("'-' reads a MIDI file from standard input, which is a terminal")
    return sys.stdin.buffer.read(MAX_FILE_BYTES + 1)


def _run(
    plans: list,
    model: str | None,
    device: Device,
    engine: Engine,
    temperature: float,
    batch_size: int,
    overwrite: bool,
    stdin_data: bytes | None,
    to_stdout: bool,
    options,
    show_bar: bool,
    quiet: bool,
) -> tuple[list, int | None]:
    """Load the engine, humanize the planned files with a progress bar; results and the signal that
    stopped the run (None: none)."""
    from autodynamics_cli.humanize.files import humanize_files
    from autodynamics_cli.inference.model import load_model

    work = sum(_size(p.source.path) for p in plans if p.runs)
    net = (
        load_model(model, device=device.value, engine=engine.value, sampling=temperature > 0, work_bytes=work)
        if any(p.runs for p in plans)
        else None
    )
    results: list = []
    stop = SigtermAsInterrupt()
    try:
        with stop, NotesBar({p.source.name: _size(p.source.path) for p in plans}, show_bar) as bar:

            def report(r) -> None:
                results.append(r)
                bar.finished(r.input)
                for w in [] if quiet else r.warnings:  # the reader's tolerated faults, why it was copied
                    err.print(f"warning: {r.input}: {w}", markup=False, soft_wrap=True)
                if r.error:
                    err.print(f"error: {r.error}", markup=False, soft_wrap=True)

            humanize_files(
                net,
                plans,
                batch_size,
                debug_enabled(),
                on_done=report,
                overwrite=overwrite,
                stdin_data=stdin_data,
                stdout=sys.stdout.buffer if to_stdout else None,
                options=options,
                on_progress=bar.notes if show_bar else None,
            )
    except KeyboardInterrupt:
        pass
    return results, stop.signum


def _finish(
    results: list, planned: int, signum: int | None, as_json: bool, quiet: bool, seconds: float
) -> None:
    """Print the JSON report and the summary, and exit with the run's code."""
    import json

    from autodynamics_cli.humanize.report import Summary, json_report, summary_line

    s = Summary.of(results)
    code = 128 + signum if signum is not None else (1 if s.failed else 0)
    if as_json:
        sys.stdout.write(json.dumps(json_report(results, planned, signum is not None, code), indent=1) + "\n")
        sys.stdout.flush()
    if signum is not None:
        err.print(
            f"interrupted after {s.files} of {planned} file(s); finished outputs are kept and "
            f"no partial file is left (rerun with --skip-existing to go on)",
            markup=False,
            soft_wrap=True,
        )
    elif not quiet and not (planned == 1 and s.failed):  # one failed file: its error line says all
        err.print(summary_line(results, planned, seconds), markup=False, soft_wrap=True)
        if s.failed:
            err.print(f"failed: {len(s.failed)} file(s):", markup=False)
            for r in s.failed:
                err.print(f"  {r.error}", markup=False, soft_wrap=True)
    if code:
        raise typer.Exit(code)


def _size(path: Path | None) -> int:
    """A file's size, 0 for standard input or a file that cannot be read (it fails later, alone)."""
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0

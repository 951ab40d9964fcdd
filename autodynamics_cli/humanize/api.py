"""The Python API's humanizing calls: a file, bytes, or a note table, through the CLI's own path.

``humanize_file`` and ``humanize_bytes`` run the same file loop as ``autodyn
humanize`` (``files.humanize_files``), so a script gets exactly the bytes the
command writes; ``predict_velocities`` gives a note table's velocities with the
same model, calibration and musician controls. A failure raises ``AutodynError``
with the one-line message the command prints. ``model``: a loaded ``Model``
(load once for many files), or a name for ``load_model``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from autodynamics_cli.errors import AutodynError
from autodynamics_cli.humanize.controls import HumanizeOptions, humanized_velocities
from autodynamics_cli.humanize.files import humanize_files
from autodynamics_cli.humanize.inputs import Plan, Source, expand_inputs, plan_outputs
from autodynamics_cli.humanize.report import FileResult
from autodynamics_cli.inference.model import Model, load_model
from autodynamics_cli.midi.notes import Notes

ModelLike = Model | str | Path | None


def _model(model: ModelLike, options: HumanizeOptions) -> Model:
    return model if isinstance(model, Model) else load_model(model, sampling=options.temperature > 0)


def _one(result: list[FileResult]) -> FileResult:
    (r,) = result
    if r.error:
        raise AutodynError(r.error)
    return r


def humanize_file(
    path: str | Path,
    output: str | Path | None = None,
    *,
    model: ModelLike = None,
    options: HumanizeOptions | None = None,
    overwrite: bool = False,
) -> FileResult:
    """Humanize one MIDI file or MusicXML score into ``output`` (default ``{stem}_humanized.mid``).

    Written atomically; an existing output is replaced only with ``overwrite``.
    Returns the file's result (status ``written``, or ``copied`` when it has no piano notes).
    """
    opts = options or HumanizeOptions()
    plans = plan_outputs(expand_inputs([str(path)]), None if output is None else str(output), overwrite)
    return _one(humanize_files(_model(model, opts), plans, options=opts, overwrite=overwrite))


def humanize_bytes(data: bytes, *, model: ModelLike = None, options: HumanizeOptions | None = None) -> bytes:
    """A MIDI file's bytes with humanized velocities: only velocity bytes differ from ``data``."""
    opts = options or HumanizeOptions()
    out = io.BytesIO()
    _one(
        humanize_files(
            _model(model, opts),
            [Plan(Source(None), None, to_stdout=True)],
            stdin_data=data,
            stdout=out,
            options=opts,
        )
    )
    return out.getvalue()


def predict_velocities(
    notes: Notes,
    *,
    model: ModelLike = None,
    options: HumanizeOptions | None = None,
    markings: np.ndarray | None = None,
) -> np.ndarray:
    """A velocity (1..127) for every note of ``notes`` (``Notes.table`` builds one), as humanize
    writes it: the model with its calibration, then the musician controls of ``options``
    (``tracks``, ``channels`` and ``all_parts`` choose notes in files; here every note is taken).

    ``markings``: a MusicXML score's marking buckets per note (``formats.read_input``), or None.
    """
    opts = options or HumanizeOptions()
    m = _model(model, opts)
    if len(notes) == 0:
        return np.zeros(0, dtype=np.int64)
    vel = m.predict(
        notes,
        markings=markings,
        read_dynamics=opts.keep_dynamics is not False,
        read_staves=opts.read_staves,
        temperature=opts.temperature,
        seed=opts.seed,
    )
    return humanized_velocities(notes, vel, opts, m.cfg.input_velocity)[0]

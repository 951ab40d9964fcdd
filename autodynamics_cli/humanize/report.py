"""What a run of ``autodyn humanize`` reports: each file's result, the summary line, the JSON.

The summary line and the ``--json`` document are built here, side by side,
from the same ``Summary``, so the two cannot count differently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from autodynamics_cli.humanize.controls import DYNAMICS_MODES, ENVELOPE, MODEL_ONLY, MODEL_READS
from autodynamics_cli.humanize.inputs import STDIO

_DYNAMICS_WORDS = {
    MODEL_READS: "read from the input by the model",
    ENVELOPE: "the input's loudness envelope laid over",
    MODEL_ONLY: "the model's own",
}


@dataclass
class FileResult:
    input: str
    output: str | None
    status: str  # written | copied | skipped | failed
    notes: int = 0
    drum_notes: int = 0
    out_of_range_notes: int = 0
    unselected_notes: int = 0  # outside --tracks/--channels, left as they were
    not_piano_notes: int = 0  # in parts that are not keyboards (GM programs 9-128), left as they were
    not_piano_parts: int = 0  # those parts: (track, channel) pairs
    dynamics: str | None = None  # written files: which dynamics ran (``controls.dynamics_mode``)
    error: str | None = None
    warning: str | None = None  # a copied file: why, as printed (``FILE: reason; copied unchanged``)
    warnings: list[str] = field(default_factory=list)  # every warning line, without the file name
    seconds: float = 0.0  # this file's own time: reading, its share of the engine's, writing

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def kept_dynamics(self) -> bool:
        """The output follows the input's dynamics (the model read them, or their envelope was laid over)."""
        return self.dynamics in (MODEL_READS, ENVELOPE)

    def to_dict(self) -> dict:
        return {**asdict(self), "kept_dynamics": self.kept_dynamics, "seconds": round(self.seconds, 4)}


@dataclass
class Summary:
    """Totals of a run, each a count of per-file statuses (``written`` is humanized only)."""

    files: int = 0
    written: int = 0  # humanized
    copied: int = 0  # nothing to humanize: written unchanged
    skipped: int = 0
    failed: list[FileResult] = field(default_factory=list)
    notes: int = 0
    untouched: int = 0
    dynamics: dict[str, int] = field(default_factory=dict)  # written files per dynamics mode
    not_piano_parts: int = 0

    @classmethod
    def of(cls, results: list[FileResult]) -> Summary:
        s = cls(files=len(results))
        s.written = sum(r.status == "written" for r in results)
        s.copied = sum(r.status == "copied" for r in results)
        s.skipped = sum(r.status == "skipped" for r in results)
        s.failed = [r for r in results if not r.ok]
        s.notes = sum(r.notes for r in results if r.ok)
        s.untouched = sum(r.drum_notes + r.out_of_range_notes + r.unselected_notes for r in results if r.ok)
        s.dynamics = {m: sum(r.dynamics == m for r in results if r.ok) for m in DYNAMICS_MODES}
        s.not_piano_parts = sum(r.not_piano_parts for r in results if r.ok)
        return s


def json_report(results: list[FileResult], planned: int, interrupted: bool, exit_code: int) -> dict:
    """The ``--json`` document: one entry per finished file, then totals of their statuses."""
    from autodynamics_cli import __version__

    s = Summary.of(results)
    return {
        "autodyn_version": __version__,
        "files": [r.to_dict() for r in results],
        "summary": {
            "planned": planned,
            "finished": s.files,
            "written": s.written,
            "copied": s.copied,
            "skipped": s.skipped,
            "failed": len(s.failed),
            "notes": s.notes,
            "untouched_notes": s.untouched,
            "not_piano_parts": s.not_piano_parts,
            "dynamics": s.dynamics,
            "interrupted": interrupted,
        },
        "exit_code": exit_code,
    }


def summary_line(results: list[FileResult], planned: int, seconds: float) -> str:
    """The line printed after a run (not after an interrupted one); a copied file is not humanized."""
    s = Summary.of(results)
    line = f"humanized {s.written} of {s.files} file(s), {s.notes:,} notes, in {seconds:.1f} s"
    if s.copied:
        line += f"; {s.copied} copied unchanged (nothing to humanize)"
    if s.skipped:
        line += f"; {s.skipped} skipped (output exists)"
    ran = [f"{_DYNAMICS_WORDS[m]} in {n} file(s)" for m, n in s.dynamics.items() if n]
    if ran:
        line += "; dynamics: " + ", ".join(ran)
    if s.not_piano_parts:
        line += f"; {s.not_piano_parts} part(s) left alone: not piano (--all-parts humanizes them)"
    if s.untouched:
        line += f"; {s.untouched:,} drum, out-of-range or unselected notes left as they were"
    if planned == 1 and results and results[0].ok and results[0].output:
        line += " -> " + ("standard output" if results[0].output == STDIO else results[0].output)
    return line

"""autodyn: give flat MIDI files human piano dynamics.

The Python API (docs/api.md)::

    import autodynamics_cli as ad

    model = ad.load_model()                      # the bundled model, on numpy on a CPU
    ad.humanize_file("song.mid", "song_human.mid", model=model,
                     options=ad.HumanizeOptions(expression=1.2))

Names are imported on first use, so ``import autodynamics_cli`` (and ``autodyn --help``)
stays fast and loads neither numpy's model code nor torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from autodynamics_cli.errors import AutodynError
    from autodynamics_cli.formats.readers import InputFile, read_input
    from autodynamics_cli.humanize.api import humanize_bytes, humanize_file, predict_velocities
    from autodynamics_cli.humanize.controls import HumanizeOptions
    from autodynamics_cli.humanize.report import FileResult
    from autodynamics_cli.inference.model import Model, load_model
    from autodynamics_cli.midi.notes import Notes

_WHERE = {
    "AutodynError": "autodynamics_cli.errors",
    "FileResult": "autodynamics_cli.humanize.report",
    "HumanizeOptions": "autodynamics_cli.humanize.controls",
    "InputFile": "autodynamics_cli.formats.readers",
    "Model": "autodynamics_cli.inference.model",
    "Notes": "autodynamics_cli.midi.notes",
    "humanize_bytes": "autodynamics_cli.humanize.api",
    "humanize_file": "autodynamics_cli.humanize.api",
    "load_model": "autodynamics_cli.inference.model",
    "predict_velocities": "autodynamics_cli.humanize.api",
    "read_input": "autodynamics_cli.formats.readers",
}
__all__ = [
    "AutodynError",
    "FileResult",
    "HumanizeOptions",
    "InputFile",
    "Model",
    "Notes",
    "__version__",
    "humanize_bytes",
    "humanize_file",
    "load_model",
    "predict_velocities",
    "read_input",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'autodynamics_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__

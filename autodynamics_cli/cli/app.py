"""The ``autodyn`` command line: one Typer app, one module per command.

Torch and the model are imported inside the commands that need them, so
``autodyn --help`` and ``--version`` start fast. ``main`` is the one place
that turns ``AutodynError`` into a one-line message and an exit code; set
``AUTODYN_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
import typer.core

from autodynamics_cli import __version__
from autodynamics_cli.cli.calibrate import calibrate
from autodynamics_cli.cli.common import debug_enabled, err
from autodynamics_cli.cli.eval import eval_cmd
from autodynamics_cli.cli.export import export
from autodynamics_cli.cli.humanize import humanize
from autodynamics_cli.cli.models import models
from autodynamics_cli.cli.plot import plot
from autodynamics_cli.cli.train import train
from autodynamics_cli.errors import AutodynError

# Typer prints an argument's Python type beside its metavar ("FILE <list[str]>"); a musician
# reads the metavar alone. (Patching the method on the class is deliberate: hence the ignore.)
typer.core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]

app = typer.Typer(
    name="autodyn",
    help="Give flat MIDI files human piano dynamics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autodyn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Give flat MIDI files human piano dynamics."""


app.command()(humanize)
app.command()(plot)
app.command()(train)
app.command()(export)
app.command()(calibrate)
app.command()(models)
app.command("eval")(eval_cmd)


def main() -> None:
    """Console entry point: run the app, turning known errors into one line and exit 1."""
    try:
        app()
    except AutodynError as e:
        if debug_enabled():
            raise
        err.print(f"error: {e}", markup=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)

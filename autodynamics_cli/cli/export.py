"""``autodyn export``: a run's weights as a file to ship, or a folder to upload to the Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from autodynamics_cli.cli.common import Readout, err


def export(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A training run folder.")],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            metavar="PATH",
            help="A .safetensors file to write, or a folder to fill with "
            "model.safetensors and a README.md model card, ready for `hf upload`.",
        ),
    ],
    readout: Annotated[Readout | None, typer.Option(help="Override the stored readout.")] = None,
    last: Annotated[
        bool,
        typer.Option(
            "--last",
            help="The latest checkpoint's weights (the end of a decay) instead of the best validation's.",
        ),
    ] = False,
    eval_json: Annotated[
        Path | None,
        typer.Option(
            "--eval-json",
            metavar="FILE",
            help="An `autodyn eval --json` result to put in the model card (folder only).",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(metavar="TITLE", help="Model card title (folder only; default: its name).")
    ] = None,
) -> None:
    """Write a run's best (or --last) weights as a small fp16 file, or a folder to upload to the Hub."""
    import json

    from autodynamics_cli.errors import AutodynError
    from autodynamics_cli.inference.choose import require_torch
    from autodynamics_cli.model.registry import HUB_DEFAULT_FILE

    require_torch("autodyn export reads the run with it", "train")
    from autodynamics_cli.training.export import export_run
    from autodynamics_cli.training.modelcard import write_model_folder

    if output.suffix == ".safetensors":
        if eval_json or name:
            raise typer.BadParameter("--eval-json and --name need a folder as --output")
        export_run(run, output, readout.value if readout else None, last=last)
        err.print(f"wrote {output}", markup=False)
        return
    if output.exists() and not output.is_dir():
        raise typer.BadParameter(f"{output} exists and is not a folder", param_hint="--output")
    evaluation = None
    if eval_json:
        try:
            evaluation = json.loads(eval_json.read_text())
        except (OSError, ValueError) as e:
            raise AutodynError(f"{eval_json}: not a readable `autodyn eval --json` file ({e})") from None
    output.mkdir(parents=True, exist_ok=True)
    export_run(run, output / HUB_DEFAULT_FILE, readout.value if readout else None, last=last)
    write_model_folder(output / HUB_DEFAULT_FILE, output, name, evaluation)
    err.print(
        f"wrote {output}/{HUB_DEFAULT_FILE} and {output}/README.md; upload with: "
        f"hf upload OWNER/NAME {output} .",
        markup=False,
        soft_wrap=True,
    )

"""A ready-to-upload model folder: ``model.safetensors`` plus a ``README.md`` model card.

The card is generated from what the weights file says about itself (config,
versions, training data, validation metrics, licence), plus an ``autodyn eval
--json`` result when given, so that what is uploaded cannot disagree with the
weights. The folder is what ``hf upload OWNER/NAME FOLDER .`` pushes, and what
``autodyn humanize -m OWNER/NAME`` then downloads.
"""

from __future__ import annotations

import json
from pathlib import Path

from autodynamics_cli.model.registry import HUB_DEFAULT_FILE, sha256_file
from autodynamics_cli.model.weights_file import inspect_weights

# Licence text as written in weights metadata -> the Hub's licence identifier.
_HUB_LICENSES = {
    "CC BY-NC-SA 4.0": "cc-by-nc-sa-4.0",
    "CC BY-NC 4.0": "cc-by-nc-4.0",
    "CC BY-SA 4.0": "cc-by-sa-4.0",
    "CC BY 4.0": "cc-by-4.0",
    "CC0": "cc0-1.0",
    "MIT": "mit",
    "Apache-2.0": "apache-2.0",
}


def hub_license_id(text: str | None) -> str:
    """The Hub licence id for a metadata licence string; ``other`` when it is not recognised."""
    for prefix, ident in sorted(_HUB_LICENSES.items(), key=lambda kv: -len(kv[0])):
        if (text or "").startswith(prefix):
            return ident
    return "other"


def _json(meta: dict[str, str], key: str) -> dict:
    try:
        value = json.loads(meta.get(key, ""))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def model_card(weights: Path, name: str = "autodyn model", evaluation: dict | None = None) -> str:
    """Markdown with Hub front matter describing ``weights`` (and an eval summary, if any)."""
    info = inspect_weights(weights)
    m = info.metadata
    cfg, train_cfg, val = _json(m, "config"), _json(m, "train_config"), _json(m, "validation")
    licence = m.get("license", "not stated")
    lines = [
        "---",
        f"license: {hub_license_id(m.get('license'))}",
        *([f"license_name: {json.dumps(licence)}"] if hub_license_id(licence) == "other" else []),
        "library_name: autodyn",
        "tags: [autodyn, music, midi, piano, dynamics]",
        "---",
        "",
        f"# {name}",
        "",
        "Note-velocity model for [autodyn](https://pypi.org/project/autodynamics-cli/), which gives "
        "flat MIDI files human piano dynamics (an Auto-Dynamics encoder-decoder transformer).",
        "",
        "```bash",
        "pip install autodynamics-cli",
        "autodyn humanize in.mid -o out.mid --model OWNER/NAME   # this repo; pin with @COMMIT",
        "```",
        "",
        "| | |",
        "| --- | --- |",
        f"| File | `{HUB_DEFAULT_FILE}`, {info.size_bytes:,} bytes, sha256 `{sha256_file(weights)}` |",
        f"| Parameters | {info.parameters:,} |",
        "| Architecture | " + (", ".join(f"{k} {v}" for k, v in cfg.items()) or "unknown") + " |",
        f"| Token layout | version {m.get('layout_version', '?')} |",
        f"| Written by | autodyn {m.get('autodyn_version', '?')} |",
        f"| Training data | {m.get('training_data', 'not stated')} |",
        f"| Licence | **{licence}** |",
        "",
    ]
    if train_cfg or m.get("step"):
        lines += ["## Training", "", f"Best validation checkpoint at step {m.get('step', '?')}."]
        if train_cfg:
            lines += ["", "```json", json.dumps(train_cfg, indent=1), "```"]
        lines.append("")
    rows = []
    if val:
        rows.append(("validation check during training", val))
    if evaluation:
        rows.append(("`autodyn eval`", evaluation.get("summary", evaluation)))
    if rows:
        lines += [
            "## Evaluation",
            "",
            "Predicted against the pianists' velocities; per performance, averaged per piece, then "
            "over pieces. Lower MSE and MAE are better.",
            "",
            "| | notes | MSE | MAE | Pearson r | constant-64 MSE |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for label, s in rows:
            lines.append(
                f"| {label} | {_num(s.get('notes'), ',')} | {_num(s.get('mse'))} | "
                f"{_num(s.get('mae'), '.2f')} | {_num(s.get('r'), '.3f')} | "
                f"{_num(s.get('baseline_mse'))} |"
            )
        lines.append("")
    lines += [
        "## Licence",
        "",
        f"These weights are licensed {licence}. A model trained on performance data inherits that "
        "data's terms; the autodyn code is MIT-licensed.",
        "",
    ]
    return "\n".join(lines)


def _num(x: object, fmt: str = ".1f") -> str:
    return format(x, fmt) if isinstance(x, int | float) else "-"


def write_model_folder(
    weights: Path, folder: Path, name: str | None = None, evaluation: dict | None = None
) -> Path:
    """Put ``weights`` (already written there, or copied) and its card into ``folder``."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / HUB_DEFAULT_FILE
    if weights.resolve() != dest.resolve():
        shutil.copyfile(weights, dest)
    (folder / "README.md").write_text(model_card(dest, name or folder.resolve().name, evaluation))
    return dest

"""Train from a JSON or TOML recipe, printing one JSON line per logged event.

Research settings that ``autodyn train`` does not offer as options (the ``ev``
loss, the per-window correlation term ``corr_weight``, the ``paper-small-tagger``
preset, and every recipe-only key of docs/cli.md) are set in a recipe, and
``autodyn train --config RECIPE.toml`` runs one with a progress bar. This entry
point runs the same training loop for scripts: it reads a TOML recipe
(``autodynamics_cli/training/recipe.py``) or a JSON object of ``TrainConfig``
fields (``autodynamics_cli/training/config.py``; model switches such as
``note_tokens`` go under ``"overrides"``) and prints the run's events as JSON lines.

    python scripts/train_research.py run.toml            # e.g. data = "...", out = "runs/ev",
    python scripts/train_research.py run.json --resume   #      loss = "ev", readout = "mean"
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autodynamics_cli.training.config import TrainConfig  # noqa: E402
from autodynamics_cli.training.loop import train  # noqa: E402
from autodynamics_cli.training.recipe import resolve  # noqa: E402


def config_from_json(path: Path) -> TrainConfig:
    """A ``TrainConfig`` from a JSON object of its fields; unknown fields are refused by name."""
    values = json.loads(path.read_text())
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SystemExit(f"{path}: not TrainConfig fields: {', '.join(unknown)}")
    return TrainConfig(**values)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "config", type=Path, help="TOML recipe, or JSON object of TrainConfig fields (data and out needed)"
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.ckpt")
    args = p.parse_args(argv)
    cfg = resolve(args.config, {}) if args.config.suffix == ".toml" else config_from_json(args.config)
    last = train(cfg, resume=args.resume, report=lambda m: print(json.dumps(m), flush=True))  # noqa: T201
    return last


if __name__ == "__main__":
    main()

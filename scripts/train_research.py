"""Train with the research settings that ``autodyn train`` no longer offers.

Options whose own measurements showed no gain left the user-facing CLI
(docs/experiments.md): the ``ev`` loss (squared error of the expected
velocity, needs ``"readout": "mean"``), the per-window correlation term
(``corr_weight``) and the ``paper-small-tagger`` preset. This entry point
reproduces those runs: it reads a JSON object of ``TrainConfig`` fields
(``autodynamics_cli/training/config.py``; model switches such as
``note_tokens`` go under ``"overrides"``) and runs the same training loop as
``autodyn train``, printing one JSON line per logged event.

    python scripts/train_research.py run.json            # e.g. {"data": "...", "out": "runs/ev",
    python scripts/train_research.py run.json --resume   #       "loss": "ev", "readout": "mean"}
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
    p.add_argument("config", type=Path, help="JSON object of TrainConfig fields (data and out needed)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.ckpt")
    args = p.parse_args(argv)
    last = train(config_from_json(args.config), resume=args.resume,
                 report=lambda m: print(json.dumps(m), flush=True))  # noqa: T201
    return last


if __name__ == "__main__":
    main()

"""Record, then check, that `autodyn humanize` writes byte-identical files.

Runs the installed `autodyn` (as a user would) on the bundled example and on a
dozen shared ASAP scores, once per option set (default, --keep-dynamics,
--no-keep-dynamics, --strength 0.5, --engine torch), and stores the sha256 of
every output. `--record FILE` writes the manifest; `--check FILE` runs again
and lists every output whose bytes differ. Use it before and after a change
that must not change behaviour (a refactor); re-record when the model changes.

    python scripts/check_outputs.py --record before.json
    python scripts/check_outputs.py --check before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "minuet_in_g.mid"
SCORES = ROOT.parent / "shared" / "data" / "asap-scores"
N_SCORES = 12
VARIANTS = {
    "default": [],
    "keep-dynamics": ["--keep-dynamics"],
    "no-keep-dynamics": ["--no-keep-dynamics"],
    "strength-0.5": ["--strength", "0.5"],
    "engine-torch": ["--engine", "torch"],
}


def pick_scores() -> list[Path]:
    """Every k-th score MIDI, sorted by path, so the set spans composers."""
    files = sorted(SCORES.glob("**/midi_score.mid"))
    if not files:
        return []
    step = max(1, len(files) // N_SCORES)
    return files[::step][:N_SCORES]


def run(inputs: Path, out: Path, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "autodynamics_cli", "humanize", str(inputs), "-o", f"{out}/", "-q", *extra]
    subprocess.run(cmd, check=True)


def outputs() -> dict[str, str]:
    """``variant/file`` -> sha256 of what autodyn wrote."""
    result: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        shutil.copy(EXAMPLE, src / EXAMPLE.name)
        for f in pick_scores():
            rel = f.relative_to(SCORES).parent.as_posix().replace("/", "__")
            shutil.copy(f, src / f"{rel}.mid")
        for name, extra in VARIANTS.items():
            out = Path(tmp) / name
            run(src, out, extra)
            for f in sorted(out.iterdir()):
                result[f"{name}/{f.name}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--record", type=Path, help="write the manifest here")
    group.add_argument("--check", type=Path, help="compare with this manifest")
    args = ap.parse_args()
    got = outputs()
    if args.record:
        args.record.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(got)} outputs in {args.record}")
        return 0
    want = json.loads(args.check.read_text())
    differ = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
    for k in differ:
        print(f"differs: {k}")
    print(f"{len(want) - len(differ)} of {len(want)} outputs byte-identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

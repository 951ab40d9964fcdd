"""``autodyn train``: options in, a training run with a progress bar out."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from autodynamics_cli.cli.common import Device, Readout, err


class Loss(str, Enum):
    mse = "mse"
    ce = "ce"


class Optimizer(str, Enum):
    adafactor = "adafactor"
    adamw = "adamw"


def train(
    data: Annotated[Path, typer.Option(metavar="DIR", help="MAESTRO folder, folder with metadata.csv, "
                                            "or folder of MIDI files.")],
    out: Annotated[Path, typer.Option(metavar="DIR", help="Run folder (checkpoints, metrics, best weights).")
                   ] = Path("runs/default"),
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.ckpt.")] = False,
    preset: Annotated[str, typer.Option(
        metavar="NAME", help="Model size: default, small, paper-small, paper-base.")
                      ] = "default",
    loss: Annotated[Loss, typer.Option(help="mse: the paper's; ce: cross-entropy.")] = Loss.mse,
    optimizer: Annotated[Optimizer, typer.Option()] = Optimizer.adafactor,
    lr: Annotated[float, typer.Option(metavar="RATE", help="Constant learning rate.")] = 1e-3,
    warmup_steps: Annotated[int, typer.Option(metavar="N", min=0, help="Linear warm-up steps.")] = 0,
    decay_from: Annotated[int | None, typer.Option(
        metavar="STEP", min=0, help="Cosine-decay the learning rate from this step to a tenth at --max-steps "
                    "(also with --resume, to anneal a constant-rate run).")] = None,
    batch_size: Annotated[int, typer.Option(metavar="N", min=1)] = 16,
    max_train_notes: Annotated[int | None, typer.Option(
        metavar="N", min=1, help="Cap notes per training window (shorter sequences train faster).")] = None,
    max_steps: Annotated[int, typer.Option(metavar="N", min=1)] = 100_000,
    max_minutes: Annotated[float | None, typer.Option(
        metavar="MINUTES", help="Stop after this long (checkpointed; continue with --resume).")] = None,
    velocity_mask_prob: Annotated[float, typer.Option(
        metavar="P", min=0.0, max=1.0, help="Chance to hide each previous velocity from the decoder; "
                               "1 makes it a one-pass tagger.")] = 1.0,
    aux_weight: Annotated[float, typer.Option(
        metavar="WEIGHT", help="Loss weight of pitch/duration tokens.")] = 0.2,
    dropout: Annotated[float, typer.Option(
        metavar="P", min=0.0, max=0.9, help="Dropout (the paper's 0.2).")] = 0.2,
    readout: Annotated[Readout | None, typer.Option(
        help="Velocity readout stored with the model (default: the preset's).")] = None,
    scores: Annotated[Path | None, typer.Option(
        metavar="DIR",
        help="Folder of scores (SCORES/<piece folder>/midi_score.mid) aligned to the performances.")
                      ] = None,
    alignments: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Folder of alignment CSVs (<performance path with / as __>.csv); "
             "adds score-input windows.")] = None,
    score_share: Annotated[float, typer.Option(
        metavar="SHARE", min=0.0, max=1.0, help="Fraction of windows drawn from aligned scores.")] = 0.5,
    drop_dynamics: Annotated[float, typer.Option(
        metavar="P", min=0.0, max=1.0, help="Chance to hide a score window's notated velocities.")] = 0.3,
    note_tokens: Annotated[bool, typer.Option(
        help="Tagger with one decoder position per note instead of three (a third of the "
             "decoder's work); needs --velocity-mask-prob 1.")] = False,
    onset_lead: Annotated[bool, typer.Option(
        help="Also read each note's onset lead (timing finer than a 50 ms step: in played "
             "performances the louder notes of a chord come first).")] = False,
    staff: Annotated[bool, typer.Option(
        help="Also read each note's staff (top or bottom part of a notation export, whose "
             "tracks or channels are its staves) and its rank in its staff's chord.")] = False,
    drop_staff: Annotated[float, typer.Option(
        metavar="P", min=0.0, max=1.0, help="Chance to hide a window's staves (as in a one-track file); "
                               "with --staff.")] = 0.2,
    markings: Annotated[bool, typer.Option(
        help="Also read each note's markings from its score's MusicXML (dynamics, hairpins, accents, "
             "articulations, slurs, fermatas, tempo words; SCORES/<piece>/xml_score.mxl with its "
             "xml_note_map.csv); needs the [musicxml] extra. MIDI input reads them as unknown.")] = False,
    drop_markings: Annotated[float, typer.Option(
        metavar="P", min=0.0, max=1.0, help="Chance to hide a score window's markings (as in a MIDI "
                               "export); with --markings.")] = 0.3,
    init_from: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Start a new run from this weights file (same shapes; e.g. a three-token tagger "
             "for a --note-tokens one; or fewer layers, the added ones starting as identity).")
                         ] = None,
    enc_layers: Annotated[int | None, typer.Option(
        metavar="N", min=1, help="Encoder layers (default: the preset's).")] = None,
    dec_layers: Annotated[int | None, typer.Option(
        metavar="N", min=1, help="Decoder layers (default: the preset's).")] = None,
    eval_seconds: Annotated[float, typer.Option(
        metavar="SECONDS", help="Validate on each performance's first N seconds (0: whole).")] = 60.0,
    eval_minutes: Annotated[float, typer.Option(metavar="MINUTES", help="Validate every N minutes.")] = 10.0,
    checkpoint_minutes: Annotated[float, typer.Option(metavar="MINUTES", )] = 5.0,
    threads: Annotated[int | None, typer.Option(metavar="N", help="torch CPU threads.")] = None,
    workers: Annotated[int, typer.Option(
        metavar="N", min=0, help="Processes that parse the data and build training batches (for a GPU "
        "machine's cores; 0: the training process alone). The run does not depend on it.")] = 0,
    device: Annotated[Device, typer.Option()] = Device.auto,
    seed: Annotated[int, typer.Option(metavar="N", )] = 0,
) -> None:
    """Train a model on performances; the best validation checkpoint is OUT/best.safetensors."""
    from autodynamics_cli.inference.choose import require_torch
    from autodynamics_cli.model.config import PRESETS
    from autodynamics_cli.training.config import TrainConfig

    require_torch("autodyn train needs it", "train")

    if preset not in PRESETS:
        raise typer.BadParameter(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})",
                                 param_hint="--preset")
    cfg = TrainConfig(
        data=str(data), out=str(out), preset=preset, loss=loss.value, optimizer=optimizer.value,
        lr=lr, warmup_steps=warmup_steps, decay_from=decay_from,
        batch_size=batch_size, max_train_notes=max_train_notes,
        max_steps=max_steps, max_minutes=max_minutes, velocity_mask_prob=velocity_mask_prob,
        aux_weight=aux_weight, dropout=dropout, readout=readout.value if readout else None,
        scores=str(scores) if scores else None, alignments=str(alignments) if alignments else None,
        score_share=score_share, drop_dynamics=drop_dynamics, drop_staff=drop_staff,
        drop_markings=drop_markings,
        eval_seconds=eval_seconds or None, eval_minutes=eval_minutes,
        checkpoint_minutes=checkpoint_minutes, threads=threads, workers=workers, device=device.value,
        seed=seed,
        overrides={k: v for k, v in {"note_tokens": True if note_tokens else None,
                                     "onset_lead": True if onset_lead else None,
                                     "staff": True if staff else None,
                                     "markings": True if markings else None,
                                     "n_enc_layers": enc_layers,
                                     "n_dec_layers": dec_layers}.items() if v is not None},
        init_from=str(init_from) if init_from else None)
    last = run_with_progress(cfg, resume)
    err.print(f"stopped at step {last['step']}; run folder: {out}", markup=False)


def run_with_progress(cfg, resume: bool) -> dict:
    """Train with a progress bar and a line per validation; the last metrics."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from autodynamics_cli.training.loop import train as run_training

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[info]}"), console=err) as bar:
        task = bar.add_task("training", total=cfg.max_steps, info="loading data")

        def report(m: dict) -> None:
            if m["event"] == "start":
                bar.update(task, completed=m["step"], info=f"{m['parameters'] / 1e6:.1f}M params")
            elif m["event"] == "train":
                bar.update(task, completed=m["step"],
                           info=f"loss {m['loss']:.3f}  {m['windows_per_s']:.1f} windows/s")
            elif m["event"] == "validation":
                parts = []
                if "mse" in m and "baseline_mse" in m:
                    parts.append(f"performances MSE {m['mse']:.1f} (constant 64: "
                                 f"{m['baseline_mse']:.1f}), r {m['r']:.3f}")
                if "score_mse" in m:
                    parts.append(f"scores MSE {m['score_mse']:.1f} (constant 64: "
                                 f"{m['score_baseline_mse']:.1f}), r {m['score_r']:.3f}")
                bar.console.print(f"step {m['step']}: validation " + "; ".join(parts)
                                  + (" best" if m.get("best") else ""), markup=False)

        return run_training(cfg, resume=resume, report=report)

"""The training loop: set up, resume, step the optimizer, validate, checkpoint.

A run lives in one folder: ``last.ckpt`` (model, optimizer, step, sampler
state, best score; written every few minutes and at the end, atomically),
``best.safetensors`` (the weights that scored best on the validation split),
and ``metrics.jsonl`` (one JSON object per log line). ``resume=True`` continues
from ``last.ckpt`` exactly where it stopped. Under ``torchrun`` each process
trains a DistributedDataParallel replica on its own windows; rank 0 writes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from autodynamics_cli.encoding import tokens as T
from autodynamics_cli.errors import AutodynError
from autodynamics_cli.inference.model import Model
from autodynamics_cli.model.config import ModelConfig
from autodynamics_cli.model.torch_net import AutoDynamics
from autodynamics_cli.model.weights_file import save_model
from autodynamics_cli.training.config import (
    TrainConfig,
    data_description,
    data_folders,
    learning_rate,
    model_config,
)
from autodynamics_cli.training.datasets import (
    AlignedEntry,
    aligned_piece,
    list_aligned,
    list_sources,
    load_split,
    performance_piece,
)
from autodynamics_cli.training.evaluate import SCORE_METRICS, evaluate, evaluate_scores, load_notes, summarize
from autodynamics_cli.training.export import selection_summary
from autodynamics_cli.training.losses import model_loss
from autodynamics_cli.training.prefetch import BatchStream
from autodynamics_cli.training.recipe import RECIPE_FILE, write_recipe
from autodynamics_cli.training.sampler import Augment, WindowSampler
from autodynamics_cli.training.warm_start import init_weights

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


def _atomic_torch_save(obj: object, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _resumed_config(cfg: TrainConfig, ckpt: dict) -> TrainConfig:
    """The stopped run's config, with what a new sitting may change.

    Everything else continues as it was; a decay asked for now anneals a run
    that was trained at a constant rate.
    """
    saved = ckpt["train_config"]
    return TrainConfig(
        **{
            **saved,
            "max_steps": cfg.max_steps,
            "max_minutes": cfg.max_minutes,
            "threads": cfg.threads,
            "workers": cfg.workers,
            "device": cfg.device,
            "eval_minutes": cfg.eval_minutes,
            "decay_from": cfg.decay_from if cfg.decay_from is not None else saved.get("decay_from"),
        }
    )


class Trainer:
    """One training process: its model, optimizer, data stream and validation sets."""

    def __init__(self, cfg: TrainConfig, resume: bool, report: Callable[[dict], None]) -> None:
        self.report = report
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self._setup_device(cfg)
        self.out = Path(cfg.out)
        self.ckpt_path = self.out / "last.ckpt"
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        ckpt = self._read_checkpoint() if resume else None
        self.cfg = cfg = cfg if ckpt is None else _resumed_config(cfg, ckpt)
        self.mcfg = model_config(cfg) if ckpt is None else ModelConfig.from_dict(ckpt["model_config"])
        if cfg.loss == "ev" and self.mcfg.readout != "mean":
            raise AutodynError("loss 'ev' trains the expected velocity, so it needs readout 'mean'")
        if self.rank == 0:  # this sitting's settings: `autodyn train --config OUT/recipe.toml` repeats them
            write_recipe(cfg, self.out / RECIPE_FILE)
        t_data = time.perf_counter()
        pieces, self.skipped = self._load_data()
        self.data_seconds = time.perf_counter() - t_data  # the note cache's worth: first start vs later
        torch.manual_seed(cfg.seed)
        self.model = AutoDynamics(self.mcfg).to(self.device)
        self.opt = self._optimizer()
        self.sampler = self._sampler(pieces)
        self.pieces = pieces
        self.step, self.best, self.elapsed_before = 0, float("inf"), 0.0
        if ckpt is None and cfg.init_from:
            init_weights(self.model, cfg.init_from)
        if ckpt is not None:
            self._restore(ckpt)
        self.net = torch.nn.parallel.DistributedDataParallel(self.model) if self.distributed else self.model
        self.log = (self.out / "metrics.jsonl").open("a") if self.rank == 0 else None
        self.stream: BatchStream | None = None
        self.t_start = time.perf_counter()

    # -- setup ------------------------------------------------------------------

    def _setup_device(self, cfg: TrainConfig) -> None:
        device = (
            torch.device("cuda" if torch.cuda.is_available() else "cpu")
            if cfg.device == "auto"
            else torch.device(cfg.device)
        )
        self.rank, self.world = 0, 1
        if self.distributed:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
            if device.type == "cuda":
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(device)
        self.device = device
        if cfg.threads:
            torch.set_num_threads(cfg.threads)

    def _read_checkpoint(self) -> dict:
        if not self.ckpt_path.is_file():
            raise AutodynError(f"{self.ckpt_path}: no checkpoint to resume from")
        return torch.load(self.ckpt_path, map_location="cpu", weights_only=False)

    def _load_data(self) -> tuple[list, list[str]]:
        """Training pieces and skip reasons; validation sets (rank 0) kept on ``self``."""
        cfg = self.cfg
        entries = list_sources(data_folders(cfg))
        pieces, skipped = load_split(performance_piece, entries, "train", cfg.note_cache, cfg.workers)
        self.val_entries = [e for e in entries if e.split == "validation"]
        self.val_notes = (
            load_notes(self.val_entries, cfg.eval_seconds) if self.rank == 0 and self.val_entries else []
        )
        self.val_aligned: list[AlignedEntry] = []
        if cfg.alignments:
            if not cfg.scores:
                raise AutodynError("--alignments needs --scores (the folder of the aligned scores)")
            aligned = list_aligned(data_folders(cfg), cfg.scores, cfg.alignments)
            load = partial(aligned_piece, markings=self.mcfg.markings)
            score_pieces, skipped_scores = load_split(load, aligned, "train", cfg.note_cache, cfg.workers)
            pieces += score_pieces
            skipped += skipped_scores
            self.val_aligned = [e for e in aligned if e.split == "validation"]
        return pieces, skipped

    def _optimizer(self) -> torch.optim.Optimizer:
        if self.cfg.optimizer == "adafactor":
            return torch.optim.Adafactor(self.model.parameters(), lr=self.cfg.lr)
        if self.cfg.optimizer == "adamw":
            return torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, weight_decay=0.01)
        raise AutodynError(f"unknown optimizer {self.cfg.optimizer!r} (use adafactor or adamw)")

    def _sampler(self, pieces: list) -> WindowSampler:
        cfg, mcfg = self.cfg, self.mcfg
        share = {"performance": 1.0 - cfg.score_share, "score": cfg.score_share} if cfg.alignments else None
        max_notes = T.max_notes(mcfg.max_decoder_len)
        return WindowSampler(
            pieces,
            cfg.seed + 1000 * self.rank,
            mcfg.roll_steps,
            min(max_notes, cfg.max_train_notes or max_notes),
            Augment(cfg.stretch, cfg.transpose),
            cfg.aux_weight if mcfg.causal_decoder else 0.0,  # a tagger sees them
            cfg.velocity_mask_prob,
            share,
            cfg.drop_dynamics,
            cfg.drop_staff if mcfg.staff else None,
            cfg.drop_markings,
        )

    # -- resume and checkpoint ----------------------------------------------------

    def _restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.step, self.best, self.elapsed_before = ckpt["step"], ckpt["best"], ckpt["elapsed"]
        self.sampler.set_state(ckpt["sampler"][self.rank])
        torch.set_rng_state(ckpt["torch_rng"])

    def checkpoint(self) -> None:
        """Save everything a resumed run needs; every rank's sampler state, written by rank 0."""
        assert self.stream is not None  # made by run(), which alone checkpoints
        states: list[Mapping[str, Any] | None] = [self.stream.state()]
        if self.distributed:
            states = [None] * self.world
            dist.all_gather_object(states, self.stream.state())
        if self.rank == 0:
            _atomic_torch_save(
                {
                    "model": self.model.state_dict(),
                    "optimizer": self.opt.state_dict(),
                    "step": self.step,
                    "best": self.best,
                    "elapsed": self.elapsed_before + time.perf_counter() - self.t_start,
                    "sampler": states,
                    "torch_rng": torch.get_rng_state(),
                    "train_config": asdict(self.cfg),
                    "model_config": self.mcfg.to_dict(),
                },
                self.ckpt_path,
            )

    # -- log, validate, step ------------------------------------------------------

    def write(self, m: dict) -> None:
        if self.log:
            self.log.write(json.dumps(m) + "\n")
            self.log.flush()
        self.report(m)

    def start_event(self) -> dict:
        return {
            "event": "start",
            "step": self.step,
            "train_pieces": len(self.pieces),
            "train_score_pieces": sum(p.source == "score" for p in self.pieces),
            "train_notes": sum(len(p) for p in self.pieces),
            "data_seconds": round(self.data_seconds, 2),
            "skipped": self.skipped,
            "validation_performances": len(self.val_entries),
            "world_size": self.world,
            "parameters": self.model.num_parameters(),
            "device": str(self.device),
            "config": asdict(self.cfg),
            "model_config": self.mcfg.to_dict(),
        }

    def validate(self) -> dict:
        """Score the validation sets; a new best (score input first) is saved as best.safetensors."""
        # the network alone: a run's piece calibration is fitted after training (autodyn calibrate)
        cfg, engine = self.cfg, Model.from_network(self.model, self.device)
        self.model.eval()
        summary = (
            summarize(evaluate(engine, self.val_entries, notes=self.val_notes)) if self.val_entries else {}
        )
        m = {"event": "validation", "step": self.step, **summary}
        if self.val_aligned:
            scores = summarize(evaluate_scores(engine, self.val_aligned, cfg.eval_seconds), SCORE_METRICS)
            m.update({f"score_{k}": v for k, v in scores.items()})
        chosen = selection_summary(m)
        self.model.train()
        if chosen["mse"] < self.best:
            self.best = chosen["mse"]
            m["best"] = True
            meta = {
                "step": str(self.step),
                "validation": json.dumps(chosen),
                "training_data": data_description(cfg),
                "train_config": json.dumps(asdict(cfg)),
            }
            save_model(self.out / "best.safetensors", self.model, meta)
        self.write(m)
        return m

    def train_step(self, batch: dict) -> float:
        """One optimizer step on a batch; returns its loss."""
        t = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            logits = self.net(t["roll"], t["tokens"], t["onsets"], t["roles"], t["features"])
            loss = model_loss(
                self.mcfg, logits, t["targets"], t["weights"], self.cfg.loss, self.cfg.corr_weight
            )
        for g in self.opt.param_groups:
            g["lr"] = learning_rate(self.cfg, self.step)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        return loss.item()

    def _stop_and_save(self, now: float, stop_at: float | None, last_ckpt: float) -> tuple[bool, bool]:
        """Whether to stop and whether to checkpoint; under torchrun rank 0's clock decides."""
        done = self.step >= self.cfg.max_steps or (stop_at is not None and now >= stop_at)
        save = done or now - last_ckpt >= self.cfg.checkpoint_minutes * 60
        if self.distributed:  # so every rank stops and saves at the same step
            flags = torch.tensor([float(done), float(save)], device=self.device)
            dist.broadcast(flags, src=0)
            done, save = bool(flags[0]), bool(flags[1])
        return done, save

    def run(self) -> dict:
        """Train until ``max_steps`` or ``max_minutes``; return the last metrics."""
        cfg = self.cfg
        if self.rank == 0:
            self.write(self.start_event())
        self.stream = BatchStream(self.sampler, cfg.batch_size, cfg.workers)
        self.t_start = time.perf_counter()
        last_ckpt = last_eval = time.perf_counter()
        self.model.train()
        window_count, loss_sum, t_log = 0, 0.0, time.perf_counter()
        last: dict = {}
        stop_at = None if cfg.max_minutes is None else self.t_start + cfg.max_minutes * 60
        try:
            while self.step < cfg.max_steps:
                loss_sum += self.train_step(self.stream.next())
                window_count += cfg.batch_size * self.world
                now = time.perf_counter()
                if self.rank == 0 and self.step % cfg.log_every == 0:
                    last = {
                        "event": "train",
                        "step": self.step,
                        "loss": loss_sum / cfg.log_every,
                        "windows_per_s": window_count / (now - t_log),
                        "elapsed_s": self.elapsed_before + now - self.t_start,
                    }
                    self.write(last)
                    window_count, loss_sum, t_log = 0, 0.0, now
                done, save = self._stop_and_save(now, stop_at, last_ckpt)
                due = done or now - last_eval >= cfg.eval_minutes * 60
                if self.rank == 0 and (self.val_entries or self.val_aligned) and due:
                    last = self.validate()
                    last_eval = time.perf_counter()
                if save:
                    self.checkpoint()
                    last_ckpt = time.perf_counter()
                if done:
                    break
        finally:
            self.stream.close()
        return {**last, "step": self.step}

    def close(self) -> None:
        if self.log:
            self.log.close()
        if self.distributed:
            dist.destroy_process_group()


def train(cfg: TrainConfig, resume: bool = False, report: Callable[[dict], None] | None = None) -> dict:
    """Train until ``max_steps`` or ``max_minutes``; return the last metrics."""
    trainer = Trainer(cfg, resume, report or (lambda _m: None))
    try:
        return trainer.run()
    finally:
        trainer.close()

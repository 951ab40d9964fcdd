"""The training loop: sample windows, step the optimizer, checkpoint, validate.

A run lives in one folder: ``last.ckpt`` (model, optimizer, step, sampler
state, best score; written every few minutes and at the end, atomically),
``best.safetensors`` (the weights that scored best on the validation split),
and ``metrics.jsonl`` (one JSON object per log line). ``resume=True`` continues
from ``last.ckpt`` exactly where it stopped. Under ``torchrun`` each process
trains a DistributedDataParallel replica on its own windows; rank 0 writes.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist

from autodynamics_cli import model_spec as spec
from autodynamics_cli import tokens as T
from autodynamics_cli.data import (
    AlignedEntry,
    Augment,
    Entry,
    Piece,
    WindowSampler,
    list_aligned,
    list_dataset,
    load_aligned,
    load_performance,
    read_notes_cached,
)
from autodynamics_cli.errors import AutodynError, MidiReadError
from autodynamics_cli.evaluate import SCORE_METRICS, evaluate, evaluate_scores, load_notes, summarize
from autodynamics_cli.model import PRESETS, AutoDynamics, ModelConfig
from autodynamics_cli.prefetch import BatchStream
from autodynamics_cli.weights import save_model


@dataclass
class TrainConfig:
    data: str
    out: str
    preset: str = "default"
    loss: str = "mse"  # the paper's; or "ce", or "ev" (squared error of the mean readout)
    corr_weight: float = 0.0  # weight of the per-window correlation term (model.sequence_loss)
    optimizer: str = "adafactor"  # the paper's; or "adamw"
    lr: float = 1e-3
    warmup_steps: int = 0  # linear learning-rate warm-up (0: the paper's constant rate)
    decay_from: int | None = None  # cosine decay from this step to min_lr_ratio*lr at max_steps
    min_lr_ratio: float = 0.1
    batch_size: int = 16
    max_train_notes: int | None = None  # notes per training window (None: all the decoder holds)
    max_steps: int = 100_000
    max_minutes: float | None = None  # stop this invocation after so long (resume later)
    dropout: float = 0.2
    aux_weight: float = 0.2  # loss weight of pitch, duration and EOS targets (velocity: 1)
    velocity_mask_prob: float = 1.0  # 1.0: the decoder never reads velocities (one-pass)
    readout: str | None = None  # None: the preset's
    stretch: float = 0.1
    transpose: int = 3
    seed: int = 0
    scores: str | None = None  # score folder: train on scores aligned to performances too
    alignments: str | None = None  # alignment CSV folder (layout: data.list_aligned)
    score_share: float = 0.5  # fraction of training windows drawn from aligned scores
    drop_dynamics: float = 0.3  # chance a score window's notated velocities are hidden
    drop_staff: float = 0.2  # chance a window's staves are hidden (a model that reads them)
    note_cache: bool = True  # cache parsed notes (data.read_notes_cached)
    checkpoint_minutes: float = 5.0
    eval_minutes: float = 10.0
    eval_seconds: float | None = 60.0  # validate on each performance's opening (None: whole)
    log_every: int = 10
    threads: int | None = None
    workers: int = 0  # processes that build training batches (prefetch.py); 0: this one
    device: str = "auto"
    overrides: dict = field(default_factory=dict)  # ModelConfig fields to change
    init_from: str | None = None  # a weights file of the same shapes to start a new run from


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Warm-up, then constant (the paper), then an optional cosine decay to the last step.

    The decay starts at a chosen step rather than at step 0 so that a run trained at a
    constant rate can be annealed in a later sitting (``--resume --decay-from STEP``)."""
    lr = cfg.lr
    if cfg.warmup_steps:
        lr *= min(1.0, (step + 1) / cfg.warmup_steps)
    if cfg.decay_from is not None and step >= cfg.decay_from and cfg.max_steps > cfg.decay_from:
        progress = min(1.0, (step - cfg.decay_from) / (cfg.max_steps - cfg.decay_from))
        lr *= cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return lr


def model_config(cfg: TrainConfig) -> ModelConfig:
    if cfg.preset not in PRESETS:
        raise AutodynError(f"unknown preset {cfg.preset!r} (choose from {', '.join(PRESETS)})")
    d = {**PRESETS[cfg.preset].to_dict(), "dropout": cfg.dropout,
         "velocity_feedback": cfg.velocity_mask_prob < 1.0, **cfg.overrides}
    if cfg.readout:
        d["readout"] = cfg.readout
    try:
        return ModelConfig.from_dict(d)
    except ValueError as e:
        raise AutodynError(f"model configuration: {e}") from None


def init_weights(model: AutoDynamics, path: str | Path) -> None:
    """Start a new run from a trained model's weights (the layout may differ).

    Shapes must match, so a note-token tagger can start from a three-token one.
    The new model may also have more encoder or decoder layers than the source
    (grown at the top of each stack): an added layer starts with its residual
    outputs at zero, so it is the identity and the grown model computes exactly
    what the source did until training moves it. Likewise a model that embeds
    more note-feature columns (e.g. ``onset_lead``) than the source: the added
    columns' rows come last in the table and start at zero.
    """
    from autodynamics_cli.weights import load_model

    source = load_model(str(path))
    src, dst = source.state_dict(), model.state_dict()
    depth = {stack: sum(1 for k in src if k.startswith(f"{stack}.") and k.endswith(".norm1.weight"))
             for stack in ("encoder", "decoder")}
    added = {k for k in dst if k not in src and _added_layer(k, depth)}
    grown = {"feat_emb.weight"} if _features_appended(source.cfg, model.cfg) else set()
    wrong = sorted(k for k in dst if k not in added | grown
                   and (k not in src or src[k].shape != dst[k].shape))
    wrong += sorted(set(src) - set(dst))
    if wrong:
        raise AutodynError(f"{path}: weights do not fit this model ({len(wrong)} tensors missing, "
                           f"extra or of another shape, e.g. {wrong[0]})")
    state = {k: v.float() for k, v in src.items()}
    for k in added:
        state[k] = torch.zeros_like(dst[k]) if k.endswith(_RESIDUAL_OUTPUTS) else dst[k]
    for k in grown:
        state[k] = torch.cat([state[k], torch.zeros(dst[k].shape[0] - src[k].shape[0],
                                                    *dst[k].shape[1:])])
    model.load_state_dict(state)


def _features_appended(src: ModelConfig, dst: ModelConfig) -> bool:
    """Whether ``dst`` embeds the note-feature columns of ``src`` at the same rows, plus more after."""
    s_used, s_off, s_rows = spec.feature_layout(src)
    d_used, d_off, d_rows = spec.feature_layout(dst)
    new = d_used & ~s_used
    return (s_rows > 0 and d_rows > s_rows and bool(d_used[s_used].all())
            and bool((d_off[s_used] == s_off[s_used]).all()) and bool((d_off[new] >= s_rows).all()))


_RESIDUAL_OUTPUTS = (".attn.o.weight", ".self_attn.o.weight", ".cross_attn.o.weight",
                     ".ff.wo.weight")


def _added_layer(key: str, depth: dict[str, int]) -> bool:
    """Whether ``key`` belongs to an encoder or decoder layer above the source's top one.

    ``depth``: the source's layer count per stack.
    """
    stack, _, rest = key.partition(".")
    index = rest.split(".", 1)[0]
    return depth.get(stack, 0) > 0 and index.isdigit() and int(index) >= depth[stack]


def _atomic_torch_save(obj: object, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _performance_piece(e: Entry, cache: bool) -> Piece | str | None:
    """A training piece, the reason it was skipped, or None when it has no notes."""
    try:
        p = load_performance(e.path, cache)
    except MidiReadError as err:
        return str(err)
    return p if len(p) else None


def _aligned_piece(e: AlignedEntry, cache: bool) -> Piece | str | None:
    try:
        p = load_aligned(e, read_notes_cached(e.score, cache))
    except AutodynError as err:
        return str(err)
    return p if p.has_target.any() else None


def _load_split(load: Callable[..., Piece | str | None], entries: list, split: str, cache: bool,
                workers: int = 0) -> tuple[list[Piece], list[str]]:
    """The split's pieces and skip reasons, in listing order; parsed in ``workers`` processes
    when asked (minutes of mido parsing on one core, seconds on a GPU machine's many)."""
    chosen = [e for e in entries if e.split == split]
    job = partial(load, cache=cache)
    if workers > 1 and len(chosen) > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.map(job, chosen, chunksize=4)
    else:
        results = [job(e) for e in chosen]
    return ([r for r in results if isinstance(r, Piece)], [r for r in results if isinstance(r, str)])


def train(cfg: TrainConfig, resume: bool = False,
          report: Callable[[dict], None] | None = None) -> dict:
    """Train until ``max_steps`` or ``max_minutes``; return the last metrics."""
    report = report or (lambda _m: None)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if cfg.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
    rank, world = 0, 1
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    ckpt_path = out / "last.ckpt"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    ckpt = None
    if resume:
        if not ckpt_path.is_file():
            raise AutodynError(f"{ckpt_path}: no checkpoint to resume from")
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        # what a sitting may change; everything else continues as it was (a decay asked
        # for now anneals a run that was trained at a constant rate)
        saved = ckpt["train_config"]
        cfg = TrainConfig(**{**saved, "max_steps": cfg.max_steps,
                             "max_minutes": cfg.max_minutes, "threads": cfg.threads,
                             "workers": cfg.workers,
                             "device": cfg.device, "eval_minutes": cfg.eval_minutes,
                             "decay_from": cfg.decay_from if cfg.decay_from is not None
                             else saved.get("decay_from")})
    mcfg = model_config(cfg) if ckpt is None else ModelConfig.from_dict(ckpt["model_config"])
    if cfg.loss == "ev" and mcfg.readout != "mean":
        raise AutodynError("--loss ev trains the expected velocity, so it needs --readout mean")

    entries = list_dataset(cfg.data)
    pieces, skipped = _load_split(_performance_piece, entries, "train", cfg.note_cache, cfg.workers)
    val_entries = [e for e in entries if e.split == "validation"]
    val_notes = load_notes(val_entries, cfg.eval_seconds) if rank == 0 and val_entries else []
    val_aligned: list[AlignedEntry] = []
    if cfg.alignments:
        if not cfg.scores:
            raise AutodynError("--alignments needs --scores (the folder of the aligned scores)")
        aligned = list_aligned(cfg.data, cfg.scores, cfg.alignments)
        score_pieces, skipped_scores = _load_split(_aligned_piece, aligned, "train", cfg.note_cache,
                                                   cfg.workers)
        pieces += score_pieces
        skipped += skipped_scores
        val_aligned = [e for e in aligned if e.split == "validation"]
    share = {"performance": 1.0 - cfg.score_share, "score": cfg.score_share} if cfg.alignments else None

    torch.manual_seed(cfg.seed)
    model = AutoDynamics(mcfg).to(device)
    if cfg.optimizer == "adafactor":
        opt = torch.optim.Adafactor(model.parameters(), lr=cfg.lr)
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    else:
        raise AutodynError(f"unknown optimizer {cfg.optimizer!r} (use adafactor or adamw)")
    max_notes = T.max_notes(mcfg.max_decoder_len)
    sampler = WindowSampler(pieces, cfg.seed + 1000 * rank, mcfg.roll_steps,
                            min(max_notes, cfg.max_train_notes or max_notes),
                            Augment(cfg.stretch, cfg.transpose),
                            cfg.aux_weight if mcfg.causal_decoder else 0.0,  # a tagger sees them
                            cfg.velocity_mask_prob, share, cfg.drop_dynamics,
                            cfg.drop_staff if mcfg.staff else None)
    step, best, elapsed_before = 0, float("inf"), 0.0
    if ckpt is None and cfg.init_from:
        init_weights(model, cfg.init_from)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, best, elapsed_before = ckpt["step"], ckpt["best"], ckpt["elapsed"]
        sampler.set_state(ckpt["sampler"][rank])
        torch.set_rng_state(ckpt["torch_rng"])
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    log = (out / "metrics.jsonl").open("a") if rank == 0 else None

    def write(m: dict) -> None:
        if log:
            log.write(json.dumps(m) + "\n")
            log.flush()
        report(m)

    if rank == 0:
        write({"event": "start", "step": step, "train_pieces": len(pieces),
               "train_score_pieces": sum(p.source == "score" for p in pieces), "skipped": skipped,
               "validation_performances": len(val_entries), "world_size": world,
               "parameters": model.num_parameters(), "device": str(device),
               "config": asdict(cfg), "model_config": mcfg.to_dict()})

    def checkpoint() -> None:
        states = [stream.state()]
        if distributed:
            states = [None] * world
            dist.all_gather_object(states, stream.state())
        if rank == 0:
            _atomic_torch_save({
                "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "best": best, "elapsed": elapsed_before + time.perf_counter() - t_start,
                "sampler": states, "torch_rng": torch.get_rng_state(),
                "train_config": asdict(cfg), "model_config": mcfg.to_dict()}, ckpt_path)

    def validate() -> dict:
        nonlocal best
        model.eval()
        summary = summarize(evaluate(model, val_entries, device, notes=val_notes)) if val_entries else {}
        m = {"event": "validation", "step": step, **summary}
        if val_aligned:
            score_summary = summarize(evaluate_scores(model, val_aligned, device, cfg.eval_seconds),
                                      SCORE_METRICS)
            m.update({f"score_{k}": v for k, v in score_summary.items()})
        summary = _selection_summary(m)
        model.train()
        if summary["mse"] < best:
            best = summary["mse"]
            m["best"] = True
            meta = {"step": str(step), "validation": json.dumps(summary),
                    "training_data": str(cfg.data), "train_config": json.dumps(asdict(cfg))}
            save_model(out / "best.safetensors", model, meta)
        write(m)
        return m

    stream = BatchStream(sampler, cfg.batch_size, cfg.workers)
    t_start = time.perf_counter()
    last_ckpt = last_eval = time.perf_counter()
    amp = device.type == "cuda"
    model.train()
    window_count, loss_sum, t_log = 0, 0.0, time.perf_counter()
    last: dict = {}
    stop_at = None if cfg.max_minutes is None else t_start + cfg.max_minutes * 60
    try:
        while step < cfg.max_steps:
            batch = stream.next()
            t = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                _, loss = net(t["roll"], t["tokens"], t["onsets"], t["roles"], t["targets"],
                              t["weights"], cfg.loss, t["features"], cfg.corr_weight)
            for g in opt.param_groups:
                g["lr"] = learning_rate(cfg, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            window_count += cfg.batch_size * world
            loss_sum += loss.item()
            now = time.perf_counter()
            if rank == 0 and step % cfg.log_every == 0:
                last = {"event": "train", "step": step, "loss": loss_sum / cfg.log_every,
                        "windows_per_s": window_count / (now - t_log),
                        "elapsed_s": elapsed_before + now - t_start}
                write(last)
                window_count, loss_sum, t_log = 0, 0.0, now
            done = step >= cfg.max_steps or (stop_at is not None and now >= stop_at)
            save = done or now - last_ckpt >= cfg.checkpoint_minutes * 60
            if distributed:  # rank 0's clock decides, so every rank stops and saves at the same step
                flags = torch.tensor([float(done), float(save)], device=device)
                dist.broadcast(flags, src=0)
                done, save = bool(flags[0]), bool(flags[1])
            due = done or now - last_eval >= cfg.eval_minutes * 60
            if rank == 0 and (val_entries or val_aligned) and due:
                last = validate()
                last_eval = time.perf_counter()
            if save:
                checkpoint()
                last_ckpt = time.perf_counter()
            if done:
                break
    finally:
        stream.close()
    if log:
        log.close()
    if distributed:
        dist.destroy_process_group()
    return {**last, "step": step}


LICENSE_NOTE = ("CC BY-NC-SA 4.0 (weights trained on ASAP/MAESTRO performances; "
                "non-commercial, share-alike)")


def export_run(run_dir: str | Path, dest: str | Path, readout: str | None = None,
               metadata: dict[str, str] | None = None, last: bool = False) -> None:
    """Write a run's best weights (``last``: its latest checkpoint's) as fp16 for shipping.

    The latest checkpoint is the end of a learning-rate decay, where the best one
    may only be the luckiest validation; its metadata gets that step's
    validation from ``metrics.jsonl`` when the run validated there.
    """
    from autodynamics_cli.weights import load_model, read_metadata

    run = Path(run_dir)
    src = run / ("last.ckpt" if last else "best.safetensors")
    if not src.is_file():
        raise AutodynError(f"{src}: no {'checkpoint' if last else 'best weights'} in this run folder yet")
    if last:
        ckpt = torch.load(src, map_location="cpu", weights_only=False)
        model = AutoDynamics(ModelConfig.from_dict(ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
        meta = {"step": str(ckpt["step"]), "training_data": str(ckpt["train_config"]["data"]),
                "train_config": json.dumps(ckpt["train_config"])}
        summary = _validation_at(run / "metrics.jsonl", ckpt["step"])
        if summary:
            meta["validation"] = json.dumps(summary)
    else:
        model, meta = load_model(str(src)), read_metadata(src)
    meta = {"license": LICENSE_NOTE, **meta, **(metadata or {})}
    for k in ("config", "layout_version", "autodyn_version"):
        meta.pop(k, None)
    if readout:
        model.cfg.readout = readout
    save_model(dest, model, meta, half=True)


def _validation_at(metrics: Path, step: int) -> dict | None:
    """The summary ``best.safetensors`` would carry for a validation at ``step`` (None: none)."""
    if not metrics.is_file():
        return None
    found = [m for m in map(json.loads, metrics.read_text().splitlines())
             if m.get("event") == "validation" and m.get("step") == step]
    if not found:
        return None
    return _selection_summary(found[-1])


def _selection_summary(m: dict) -> dict:
    """The part of a validation record that checkpoints are chosen on and that weights carry:
    score input when the run had it (users feed scores), else performance input."""
    if "score_mse" in m:
        return {k.removeprefix("score_"): v for k, v in m.items() if k.startswith("score_")}
    return {k: v for k, v in m.items() if k not in ("event", "step", "best")}

"""Training one modality's tokenizer (paper appendix D.1), on CPU or CUDA, one process or several.

One plain loop: random ``window``-frame crops of the training split, L2 reconstruction of the normalised
SMPL-FX parameters (+ the commitment loss for the VQ ablation), Adam, linear warm-up then cosine decay
(a pure function of the step), validation vertex error through the SMPL-FX forward pass after each epoch;
the checkpoint with the lowest validation error is kept.

Several processes: launch with ``torchrun --nproc_per_node N $(which m3t-bench) train tokenizer ...``.
Each process takes ``batch_size / N`` items of every global batch (``DistributedSampler``), gradients are
averaged by DDP (gloo on CPU, nccl on CUDA), rank 0 validates and writes. Crops and the batch order depend
only on (seed, epoch, item), so a run gives the same weights whatever the number of processes (up to
floating-point summation order).

Output folder (``out_dir``): ``config.json`` + ``model.safetensors`` (best checkpoint), and for
``--resume``: ``last.safetensors`` (latest weights), ``optimizer.safetensors`` + ``train_state.json``
(Adam moments, step, epoch, best score, history). Nothing is pickled.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from m3t_bench.distributed import distributed_setup
from m3t_bench.errors import UserError
from reference_models.m3t.checkpoint import (
    load_tensors, read_json, save_tensors_atomic, save_tokenizer, write_json_atomic,
)
from reference_models.m3t.config import TokenizerConfig
from reference_models.m3t.data import CropDataset, normalisation_stats, training_arrays
from reference_models.m3t.evaluate import evaluate_tokenizer
from reference_models.m3t.vae import MotionTokenizer, parameter_count

LAST_WEIGHTS = "last.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "train_state.json"


def learning_rate(step: int, total_steps: int, cfg) -> float:
    """Learning rate at optimisation step ``step`` (0-based): linear warm-up over
    ``warmup_fraction * total_steps`` steps to ``cfg.lr``, then cosine decay to ``cfg.min_lr`` (``cfg``: a
    tokenizer or SMLM config, or anything with those three fields)."""
    warmup = int(round(cfg.warmup_fraction * total_steps))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over real frames: ``pred, target (B, T, C)``, ``mask (B, T)`` (1 = real)."""
    sq = (pred - target).pow(2).mean(dim=-1)
    return (sq * mask).sum() / mask.sum().clamp_min(1.0)


def open_body_model(body_models: str | Path | None, data_body_model_id: str, device: torch.device):
    """The SMPL-FX model for validation: ``--body-models``/``$M3T_BODY_MODELS``; when neither is given and the
    data was made without a specific body model (``none``, e.g. SynthSign) or with the stand-in, the stand-in
    is generated in a temporary folder (a notice goes to stderr; its id is recorded in the checkpoint)."""
    from m3t_bench.body import SMPLFX, resolve_body_models
    if body_models is None and not os.environ.get("M3T_BODY_MODELS") and (
            data_body_model_id in ("none", "") or data_body_model_id.startswith("smplfx-standin")):
        from m3t_bench.body.standin import write_standin_assets
        print("m3t-bench: no --body-models given; validating with the stand-in SMPL-FX model", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="m3t-standin-") as tmp:
            model = SMPLFX.from_dir(write_standin_assets(Path(tmp)), device=device)
    else:
        model = SMPLFX.from_dir(resolve_body_models(body_models), device=device)
    if data_body_model_id not in ("none", "", model.model_id):
        raise UserError(f"the data was made with body model {data_body_model_id!r} but {model.model_id!r} "
                        f"was loaded; pass the matching --body-models", field="--body-models")
    return model


def build_model(modality: str, cfg: TokenizerConfig, quantizer: str, seed: int, levels=None) -> MotionTokenizer:
    """A freshly initialised tokenizer; weights drawn from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MotionTokenizer(modality, cfg, quantizer=quantizer, levels=levels, seed=seed)


def optimizer_to_files(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """An optimizer's state as safetensors-ready tensors (``"<param index>.<name>"``) and JSON-ready groups."""
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": (v if torch.is_tensor(v) else torch.tensor(v))
               for i, st in sd["state"].items() for k, v in st.items()}
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def optimizer_from_files(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    """Restore what :func:`optimizer_to_files` gave."""
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


def _check_resume_state(state: dict, cfg: TokenizerConfig, path: Path) -> None:
    """The fields of a ``train_state.json`` have the types and ranges a run writes (UserError otherwise)."""
    def integer(value, low, high):
        return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high
    best = state.get("best_val_mm")
    problems = {
        "epoch": not integer(state.get("epoch"), 0, cfg.epochs),
        "step": not integer(state.get("step"), 0, 10**12),
        "best_epoch": not integer(state.get("best_epoch"), -1, cfg.epochs),
        "best_val_mm": best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))),
        "history": not isinstance(state.get("history"), list),
        "optimizer_param_groups": not (isinstance(state.get("optimizer_param_groups"), list)
                                       and all(isinstance(g, dict) for g in state["optimizer_param_groups"])),
    }
    for key, bad in problems.items():
        if bad:
            raise UserError(f"got {state.get(key)!r:.60}; expected the value a training run writes", file=path,
                            field=key)


@dataclass
class TrainResult:
    """What a training run produced."""

    out_dir: Path
    best_val_mm: float
    best_epoch: int
    steps: int
    history: list[dict] = field(default_factory=list)
    parameters: int = 0


def train_tokenizer(modality: str, cfg: TokenizerConfig, train_sequences: list, val_sequences: list, out_dir: str | Path, *,
                    body_model, quantizer: str = "fsq", device: str = "cpu", seed: int = 0, resume: bool = False,
                    stop_after_epochs: int | None = None, data_info: dict | None = None,
                    progress: bool = True) -> TrainResult:
    """Train ``modality``'s tokenizer on ``train_sequences`` (``MotionSequence`` list) for ``cfg.epochs``
    epochs, selecting the checkpoint by the lowest mean validation vertex error (mm) of ``val_sequences``
    (the first ``cfg.val_samples``, every ``cfg.val_every`` epochs and after the last) through ``body_model``
    (an SMPL-FX model). ``cfg.batch_size`` is the global batch. With ``resume`` the
    run continues from ``out_dir``'s saved state; ``stop_after_epochs`` ends this invocation early (e.g. to
    fit a job's time limit; resume later). ``data_info`` (dataset name, split, manifest sha256) is recorded
    in ``config.json``."""
    out_dir = Path(out_dir)
    ddp, dev = distributed_setup(device, cfg.batch_size)
    arrays = training_arrays(train_sequences, modality)
    if len(arrays) < cfg.batch_size:
        raise UserError(f"{len(arrays)} training item(s) for modality {modality!r}, fewer than the batch size "
                        f"{cfg.batch_size}; lower --batch-size", field="--batch-size")
    if not val_sequences:
        raise UserError("no validation samples: checkpoint selection needs a non-empty validation split",
                        field="--val-split")
    model = build_model(modality, cfg, quantizer, seed)
    mean, std = normalisation_stats(arrays)
    model.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
    dataset = CropDataset(arrays, cfg.window, model.input_mean.numpy(), model.input_std.numpy(), seed=seed)
    sampler = DistributedSampler(dataset, num_replicas=ddp.world_size, rank=ddp.rank, shuffle=True, seed=seed,
                                 drop_last=True)
    loader = DataLoader(dataset, batch_size=cfg.batch_size // ddp.world_size, sampler=sampler, drop_last=True)
    steps_per_epoch = len(loader)
    total_steps = steps_per_epoch * cfg.epochs
    model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"epoch": 0, "step": 0, "best_val_mm": None, "best_epoch": -1, "history": []}
    if resume and (out_dir / STATE_FILE).is_file():
        state = read_json(out_dir / STATE_FILE)
        if (state.get("config"), state.get("quantizer"), state.get("modality")) != (cfg.to_dict(), quantizer, modality):
            raise UserError("was written by a run with another configuration, quantizer or modality; resume with "
                            "the same settings or use a new --out", file=out_dir / STATE_FILE)
        _check_resume_state(state, cfg, out_dir / STATE_FILE)
        try:
            model.load_state_dict({k: v.to(dev) for k, v in load_tensors(out_dir / LAST_WEIGHTS).items()})
            optimizer_from_files(optimizer, load_tensors(out_dir / OPTIMIZER_FILE), state["optimizer_param_groups"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise UserError(f"the saved weights or optimizer state do not match this run "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                            file=out_dir) from None
    net = DistributedDataParallel(model) if ddp.world_size > 1 else model
    extra = {"data": data_info or {}, "seed": seed, "body_model": getattr(body_model, "model_id", None),
             "parameters": parameter_count(model)}
    end_epoch = cfg.epochs if stop_after_epochs is None else min(cfg.epochs, state["epoch"] + stop_after_epochs)
    for epoch in range(state["epoch"], end_epoch):
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        if quantizer == "vq":
            model.quantizer.generator.manual_seed(seed * 1_000_003 + epoch)
        losses = []
        bar = tqdm(loader, desc=f"{modality} {quantizer} epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not (progress and ddp.is_main))
        for x, mask in bar:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(state["step"], total_steps, cfg)
            x, mask = x.to(dev), mask.to(dev)
            recon, _, aux = net(x)
            loss = masked_mse(recon, x, mask) + aux
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            state["step"] += 1
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        state["epoch"] = epoch + 1
        if ddp.is_main:
            record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses))}
            validate = (epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs
            if validate:
                val = evaluate_tokenizer(model, body_model, val_sequences[:cfg.val_samples], full=False)
                record["val_vertex_error_mm"] = val["vertex_error_mm"]
            state["history"].append(record)
            if validate and (state["best_val_mm"] is None or val["vertex_error_mm"] < state["best_val_mm"]):
                state["best_val_mm"], state["best_epoch"] = val["vertex_error_mm"], epoch + 1
                save_tokenizer(model, out_dir, {**extra, "best": record})
            tensors, groups = optimizer_to_files(optimizer)
            save_tensors_atomic(out_dir / LAST_WEIGHTS, model.state_dict())
            save_tensors_atomic(out_dir / OPTIMIZER_FILE, tensors)
            write_json_atomic(out_dir / STATE_FILE, {**state, "optimizer_param_groups": groups,
                                                     "config": cfg.to_dict(), "quantizer": quantizer, "modality": modality})
    if ddp.world_size > 1:
        dist.barrier()
    return TrainResult(out_dir=out_dir, best_val_mm=float("nan") if state["best_val_mm"] is None else float(state["best_val_mm"]),
                       best_epoch=int(state["best_epoch"]), steps=int(state["step"]), history=state["history"],
                       parameters=parameter_count(model))

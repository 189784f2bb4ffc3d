"""Training the SLR probe head on frozen encoder features (paper appendix D.3), on CPU or CUDA, one process
or several.

One plain loop: batches of (features, label) from :class:`~reference_models.m3t.slr_data.ProbeDataset`,
cross-entropy with label smoothing, Adam, linear warm-up then cosine decay
(:func:`reference_models.m3t.train.learning_rate`, a pure function of the step); after every epoch the
validation top-1 accuracy decides which checkpoint is kept (ties: the lower validation cross-entropy, then
the earlier epoch). The encoders are never updated: only the head's parameters reach the optimizer and
features are computed under ``torch.no_grad``.

Several processes: ``torchrun --nproc_per_node N $(which m3t-bench) train slr ...``; each process takes
``batch_size / N`` items of every global batch (``DistributedSampler``), DDP averages the head's gradients
(gloo on CPU, nccl on CUDA), rank 0 validates and writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from m3t_bench.errors import UserError
from m3t_bench.metrics import topk_correct
from reference_models.m3t.checkpoint import CONFIG_FILE, read_json, write_json_atomic
from reference_models.m3t.slr import SLRConfig, SLRHead
from reference_models.m3t.slr_checkpoint import save_probe
from reference_models.m3t.slr_data import ProbeDataset, collate
from m3t_bench.distributed import distributed_setup
from reference_models.m3t.train import learning_rate
from reference_models.m3t.vae import parameter_count


def build_head(cfg: SLRConfig, streams: tuple[str, ...], widths: dict[str, int], n_classes: int,
               seed: int) -> SLRHead:
    """A freshly initialised head; weights drawn from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SLRHead(cfg, streams, widths, n_classes)


def _to(feats: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in feats.items()}


@torch.no_grad()
def predict(head: SLRHead, dataset: ProbeDataset, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(logits (N, C) float32, labels (N,) int64)`` of every item of ``dataset``, in order."""
    was_training = head.training
    head.eval()
    device = next(head.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    logits, labels = [], []
    for feats, mask, y in loader:
        logits.append(head(_to(feats, device), mask.to(device)).float().cpu())
        labels.append(y)
    head.train(was_training)
    return torch.cat(logits).numpy(), torch.cat(labels).numpy()


@dataclass
class ProbeTrainResult:
    """What a training run produced."""

    out_dir: Path
    best_epoch: int
    best_val_top1: float
    steps: int
    parameters: int
    history: list[dict] = field(default_factory=list)


def train_probe(cfg: SLRConfig, streams: tuple[str, ...], widths: dict[str, int], train_set: ProbeDataset,
                val_set: ProbeDataset, n_classes: int, out_dir: str | Path, *, device: str = "cpu", seed: int = 0,
                meta: dict | None = None, progress: bool = True) -> ProbeTrainResult:
    """Train a probe head on ``train_set`` for ``cfg.epochs`` epochs, keeping the checkpoint with the best
    validation top-1 on ``val_set`` in ``out_dir`` (``config.json`` holds ``meta`` + the history).
    ``widths``: feature width per modality of the frozen encoders; ``cfg.batch_size`` is the global batch."""
    out_dir = Path(out_dir)
    ddp, dev = distributed_setup(device, cfg.batch_size)
    if len(train_set) == 0 or len(val_set) == 0:
        raise UserError(f"{len(train_set)} training and {len(val_set)} validation samples; both must be non-empty",
                        field="--data")
    head = build_head(cfg, streams, widths, n_classes, seed).to(dev)
    sampler = DistributedSampler(train_set, num_replicas=ddp.world_size, rank=ddp.rank, shuffle=True, seed=seed)
    loader = DataLoader(train_set, batch_size=cfg.batch_size // ddp.world_size, sampler=sampler, collate_fn=collate)
    total_steps = len(loader) * cfg.epochs
    optimizer = torch.optim.Adam(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    net = DistributedDataParallel(head) if ddp.world_size > 1 else head
    n_params = parameter_count(head)
    state = {"step": 0, "best_top1": None, "best_loss": None, "best_epoch": -1, "history": []}
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed * 1_000_003 + ddp.rank)  # dropout
        for epoch in range(cfg.epochs):
            sampler.set_epoch(epoch)
            head.train()
            losses = []
            bar = tqdm(loader, desc=f"slr epoch {epoch + 1}/{cfg.epochs}", leave=False,
                       disable=not (progress and ddp.is_main))
            for feats, mask, labels in bar:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(state["step"], total_steps, cfg)
                logits = net(_to(feats, dev), mask.to(dev))
                loss = F.cross_entropy(logits, labels.to(dev), label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                state["step"] += 1
                losses.append(float(loss.detach()))
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if ddp.is_main:
                logits, labels = predict(head, val_set, batch_size=cfg.batch_size)
                top1 = float(topk_correct(logits, labels, 1).mean() * 100.0)
                val_loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)))
                record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_top1": top1,
                          "val_loss": val_loss}
                state["history"].append(record)
                if state["best_top1"] is None or (top1, -val_loss) > (state["best_top1"], -state["best_loss"]):
                    state.update(best_top1=top1, best_loss=val_loss, best_epoch=epoch + 1)
                    save_probe(out_dir, head, {**(meta or {}), "seed": seed, "parameters": n_params, "best": record,
                                               "history": state["history"]})
    if ddp.is_main:  # the final history, whichever epoch was kept
        saved = read_json(out_dir / CONFIG_FILE)
        write_json_atomic(out_dir / CONFIG_FILE, {**saved, "history": state["history"]})
    if ddp.world_size > 1:
        dist.barrier()
    return ProbeTrainResult(out_dir=out_dir, best_epoch=int(state["best_epoch"]),
                            best_val_top1=float("nan") if state["best_top1"] is None else float(state["best_top1"]),
                            steps=int(state["step"]), parameters=n_params, history=state["history"])

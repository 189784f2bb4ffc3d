"""Training the SMLM (paper appendix D.2) on one or several datasets at once, CPU or CUDA, one process or
several (``torchrun``), with the same code.

One plain loop. Every epoch visits the training examples of all datasets in a fresh order drawn from
``(seed, epoch)``, in global batches of ``cfg.batch_size``; each batch is a production batch or, with
probability ``cfg.p_translate`` (drawn from ``(seed, step)``, so every process agrees), a translation
batch. AdamW, linear warm-up then cosine decay to ``cfg.min_lr``, gradient clipping, bf16 autocast on CUDA.
Every ``cfg.val_every`` epochs (and after the last) rank 0 generates the first ``cfg.val_samples`` samples
of every validation split greedily and keeps the weights with the lowest mean DTW-JPE
(:mod:`reference_models.m3t.smlm_validate`).

Several processes: ``torchrun --nproc_per_node N $(which m3t-bench) train smlm ...``. Each process takes its
share of every global batch; losses are sums of per-token cross-entropies divided by the *global* number of
targets (an all-reduce), so the averaged gradients equal the single-process gradient of the whole batch.

Outputs (``out_dir``, see smlm_checkpoint): the selected weights and ``config.json``, the text tokenizer,
the frozen tokenizers, ``curves.csv`` + ``curves.png`` (loss per objective, validation DTW-JPE per epoch),
and for ``--resume``: ``last.safetensors``, ``optimizer.safetensors``, ``train_state.json``.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write, atomic_write_text
from reference_models.m3t.checkpoint import load_tensors, load_tokenizer_dir, read_json, save_tensors_atomic, write_json_atomic
from reference_models.m3t.smlm import SignMotionLM, SMLMConfig, load_mbart_backbone
from reference_models.m3t.smlm_checkpoint import (
    TOKENIZER_DIR, copy_tokenizers, load_model_state, model_state, save_smlm, tokenizer_hashes,
)
from reference_models.m3t.smlm_data import Example, collate, epoch_batches, split_examples
from reference_models.m3t.smlm_text import TextTokenizer, load_mbart_text_tokenizer, train_text_tokenizer
from reference_models.m3t.smlm_vocab import STREAM_CODEBOOK, Vocabulary
from m3t_bench.distributed import Distributed, init_distributed, resolve_device
from reference_models.m3t.train import learning_rate, optimizer_from_files, optimizer_to_files
from reference_models.m3t.vae import parameter_count

LAST_WEIGHTS = "last.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "train_state.json"
CURVES_CSV = "curves.csv"
CURVES_PNG = "curves.png"
OBJECTIVES = ("production", "translation")
#: Paper D.2 reports 396M parameters for mBART-large-cc25 with the motion vocabulary.
PAPER_PARAMETERS = 396_000_000


@dataclass
class SMLMTrainResult:
    """What a training run produced."""

    out_dir: Path
    best_val_dtw_jpe_mm: float
    best_epoch: int
    steps: int
    parameters: int
    history: list[dict] = field(default_factory=list)


def build_text_tokenizer(cfg: SMLMConfig, train: list[Example], mbart_dir: Path | None, seed: int) -> TextTokenizer:
    """mBART's sentencepiece pruned to the training texts (``mbart_dir``), else one trained on them."""
    texts = [(ex.text, ex.language) for ex in train]
    if mbart_dir is not None:
        full = load_mbart_text_tokenizer(mbart_dir, sorted({lang for _, lang in texts}))
        return full.pruned(full.used_full_ids(texts))
    return train_text_tokenizer(texts, cfg.text_vocab_size, seed=seed)


def build_smlm(cfg: SMLMConfig, vocab: Vocabulary, text: TextTokenizer, mbart_dir: Path | None, seed: int) -> SignMotionLM:
    """A fresh model (new weights drawn from ``seed`` without touching the global RNG), on the local mBART
    backbone when ``mbart_dir`` is given."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = None if mbart_dir is None else load_mbart_backbone(mbart_dir, text.keep)
        return SignMotionLM(cfg, vocab, backbone)


def parameter_report(model: SignMotionLM, text: TextTokenizer) -> str:
    """One line: parameters, text rows, and (for the mBART geometry) the paper's 396M for comparison."""
    count = parameter_count(model)
    line = f"SMLM {model.cfg.name}: {count:,} parameters ({model.vocab.n_text:,} text rows"
    if text.keep is not None:
        line += f" pruned from mBART's {text.full_size:,}"
    line += f", {model.vocab.n_motion:,} motion/prompt rows)"
    if model.backbone.config.d_model == 1024 and model.backbone.config.encoder_layers == 12:
        line += f"; paper D.2: {PAPER_PARAMETERS / 1e6:.0f}M ({(count - PAPER_PARAMETERS) / PAPER_PARAMETERS:+.1%})"
    return line


def _decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices, none on biases and norm gains."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    other = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]


def _objective(seed: int, step: int, p_translate: float) -> str:
    return OBJECTIVES[int(np.random.default_rng([seed, step, 7]).random() < p_translate)]


def _global_sums(terms: dict, ddp: Distributed) -> tuple[dict[str, torch.Tensor], float]:
    """Each term's number of targets over all processes, and the batch loss over all processes (for the log)."""
    sums = torch.stack([torch.stack([total.detach().float(), count.float()]) for total, count in terms.values()])
    if ddp.world_size > 1:
        dist.all_reduce(sums)
    counts = sums[:, 1].clamp_min(1)
    return dict(zip(terms, counts)), float((sums[:, 0] / counts).sum())


def write_curves(history: list[dict], out_dir: Path, *, plot: bool = True) -> None:
    """``curves.csv`` (one row per epoch) and, with ``plot``, ``curves.png`` (losses; validation DTW-JPE)."""
    columns = sorted({k for rec in history for k in rec}, key=lambda k: (k != "epoch", k))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(out_dir / CURVES_CSV, buf.getvalue())
    if not plot:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.6))
    for objective in OBJECTIVES:
        points = [(r["epoch"], r[f"{objective}_loss"]) for r in history if r.get(f"{objective}_loss") is not None]
        if points:
            ax_loss.plot(*zip(*points), label=objective)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy (train)", yscale="log")
    ax_loss.legend()
    for key in [k for k in columns if k.startswith("val_") and k.endswith("_mm")]:
        points = [(r["epoch"], r[key]) for r in history if r.get(key) is not None]
        if points:
            ax_val.plot(*zip(*points), marker="o", label=key[4:-3])
    ax_val.set(xlabel="epoch", ylabel="validation DTW-JPE (mm)")
    if ax_val.lines:
        ax_val.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(out_dir / CURVES_PNG, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def train_smlm(cfg: SMLMConfig, train_splits: list, val_splits: list, tokenizer_dir: str | Path, out_dir: str | Path, *,
               body_model, mbart_dir: str | Path | None = None, device: str = "cpu", seed: int = 0,
               resume: bool = False, stop_after_epochs: int | None = None, progress: bool = True,
               log=print) -> SMLMTrainResult:
    """Train an SMLM on the training splits (``m3t_bench.datasets.Split`` list, one model for all) with
    checkpoint selection on the validation splits; see the module docstring."""
    out_dir, tokenizer_dir = Path(out_dir), Path(tokenizer_dir)
    mbart_dir = None if mbart_dir is None else Path(mbart_dir)
    ddp = init_distributed(device)
    dev = resolve_device(device, ddp)
    if cfg.batch_size % ddp.world_size:
        raise UserError(f"batch size {cfg.batch_size} is not divisible by the {ddp.world_size} processes",
                        field="--batch-size")
    if not val_splits:
        raise UserError("no validation split: checkpoint selection needs one", field="--val-split")
    tokenizers = load_tokenizer_dir(tokenizer_dir)
    hashes = tokenizer_hashes(tokenizer_dir)
    cache = out_dir / "token_cache"
    train: list[Example] = []
    for sp in train_splits:
        train += split_examples(sp, tokenizers, hashes, cache_dir=cache)
    too_long = [ex for ex in train if ex.n_tokens > cfg.max_motion_tokens]
    train = [ex for ex in train if ex.n_tokens <= cfg.max_motion_tokens]
    if too_long and ddp.is_main:
        log(f"skipping {len(too_long)} training sample(s) longer than {cfg.max_motion_tokens} tokens")
    if len(train) < cfg.batch_size:
        raise UserError(f"{len(train)} training sample(s), fewer than the batch size {cfg.batch_size}",
                        field="--batch-size")
    val_examples = []
    for sp in val_splits:
        val_examples += split_examples(sp, tokenizers, hashes, cache_dir=cache, ids=sp.ids[:cfg.val_samples])
    languages = sorted({ex.language for ex in train})
    unseen = sorted({ex.language for ex in val_examples} - set(languages))
    if unseen:
        raise UserError(f"validation language(s) {unseen} have no training data", field="--data")

    state = {"epoch": 0, "step": 0, "best_val": None, "best_epoch": -1, "history": []}
    resuming = resume and (out_dir / STATE_FILE).is_file()
    if resuming:
        state = read_json(out_dir / STATE_FILE)
        if state.get("config") != cfg.to_dict() or state.get("mbart") != (None if mbart_dir is None else str(mbart_dir)):
            raise UserError("was written by a run with another configuration; resume with the same settings or use "
                            "a new --out", file=out_dir / STATE_FILE)
        text = TextTokenizer.load(out_dir)
    else:
        text = build_text_tokenizer(cfg, train, mbart_dir, seed)
    vocab = Vocabulary(text.size, {m: tokenizers[m].codebook_size for m in set(STREAM_CODEBOOK.values())}, languages)
    model = build_smlm(cfg, vocab, text, mbart_dir, seed).to(dev)
    if ddp.is_main:
        log(parameter_report(model, text))
    optimizer = torch.optim.AdamW(_decay_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-8)
    if resuming:
        load_model_state(model, {k: v.to(dev) for k, v in load_tensors(out_dir / LAST_WEIGHTS).items()},
                         file=out_dir / LAST_WEIGHTS)
        optimizer_from_files(optimizer, load_tensors(out_dir / OPTIMIZER_FILE), state["optimizer_param_groups"])
    net = DistributedDataParallel(model, find_unused_parameters=True) if ddp.world_size > 1 else model

    scorer = None
    extra = {"seed": seed, "mbart": None if mbart_dir is None else str(mbart_dir),
             "tokenizers": {m: {"sha256": h, "codebook_size": tokenizers[m].codebook_size} for m, h in hashes.items()},
             "data": {"train": [_split_info(sp) for sp in train_splits], "val": [_split_info(sp) for sp in val_splits]},
             "max_train_tokens": max(ex.n_tokens for ex in train), "parameters": parameter_count(model)}
    if ddp.is_main:
        from reference_models.m3t.smlm_validate import ValidationScorer
        copy_tokenizers(tokenizer_dir, out_dir / TOKENIZER_DIR)
        text.save(out_dir)
        references = {sp.spec.id: {i: sp.load(i) for i in sp.ids[:cfg.val_samples]} for sp in val_splits}
        scorer = ValidationScorer(body_model, references)
    val_len = min(cfg.max_motion_tokens, 2 * extra["max_train_tokens"])
    per_rank = cfg.batch_size // ddp.world_size
    autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")
    total_steps = len(epoch_batches(len(train), cfg.batch_size, seed=seed, epoch=0)) * cfg.epochs
    end_epoch = cfg.epochs if stop_after_epochs is None else min(cfg.epochs, state["epoch"] + stop_after_epochs)
    for epoch in range(state["epoch"], end_epoch):
        started = time.perf_counter()
        # dropout draws from the global generator: seed it per (seed, epoch, rank) so that a resumed run
        # continues exactly as an uninterrupted one
        torch.manual_seed(int(np.random.SeedSequence([seed, epoch, ddp.rank]).generate_state(1)[0]))
        model.train()
        sums = {o: [0.0, 0] for o in OBJECTIVES}
        batches = epoch_batches(len(train), cfg.batch_size, seed=seed, epoch=epoch)
        bar = tqdm(batches, desc=f"smlm epoch {epoch + 1}/{cfg.epochs}", leave=False, file=sys.stderr,
                   disable=not (progress and ddp.is_main))
        for indices in bar:
            objective = _objective(seed, state["step"], cfg.p_translate)
            mine = indices[ddp.rank * per_rank:(ddp.rank + 1) * per_rank]
            batch = {k: v.to(dev) for k, v in collate([train[i] for i in mine], vocab, text, cfg.max_text_tokens).items()}
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(state["step"], total_steps, cfg)
            with autocast:
                terms = net(batch, objective)
            counts, batch_loss = _global_sums(terms, ddp)
            loss = sum(total * ddp.world_size / counts[k] for k, (total, _) in terms.items())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            state["step"] += 1
            sums[objective][0] += batch_loss
            sums[objective][1] += 1
            bar.set_postfix(loss=f"{batch_loss:.3f}", objective=objective[0])
        state["epoch"] = epoch + 1
        if ddp.is_main:
            record = {"epoch": epoch + 1, "step": state["step"], "lr": learning_rate(state["step"] - 1, total_steps, cfg),
                      **{f"{o}_loss": (s / n if n else None) for o, (s, n) in sums.items()},
                      **{f"{o}_batches": n for o, (_, n) in sums.items()}}
            if (epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs:
                val = validate(model, text, tokenizers, val_examples, scorer, max_len=val_len, progress=progress)
                record["val_dtw_jpe_mm"] = val["mean"]
                record.update({f"val_{ds}_dtw_jpe_mm": float(np.mean(list(parts.values())))
                               for ds, parts in val["datasets"].items()})
                if state["best_val"] is None or val["mean"] < state["best_val"]:
                    state["best_val"], state["best_epoch"] = val["mean"], epoch + 1
                    save_smlm(model, text, out_dir, {**extra, "best": {"epoch": epoch + 1, "val": val}})
            record["seconds"] = round(time.perf_counter() - started, 2)
            state["history"].append(record)
            tensors, groups = optimizer_to_files(optimizer)
            save_tensors_atomic(out_dir / LAST_WEIGHTS, model_state(model))
            save_tensors_atomic(out_dir / OPTIMIZER_FILE, tensors)
            write_json_atomic(out_dir / STATE_FILE, {**state, "optimizer_param_groups": groups, "config": cfg.to_dict(),
                                                     "mbart": extra["mbart"]})
            write_curves(state["history"], out_dir, plot="val_dtw_jpe_mm" in record or epoch + 1 == end_epoch)
            log(_epoch_line(record))
        if ddp.world_size > 1:
            dist.barrier()
    best = float("nan") if state["best_val"] is None else float(state["best_val"])
    return SMLMTrainResult(out_dir=out_dir, best_val_dtw_jpe_mm=best, best_epoch=int(state["best_epoch"]),
                           steps=int(state["step"]), parameters=parameter_count(model), history=state["history"])


def _split_info(sp) -> dict:
    return {"name": sp.spec.id, "split": sp.split, "manifest_sha256": sp.manifest_sha256, "n_samples": len(sp.ids)}


def _epoch_line(record: dict) -> str:
    parts = [f"epoch {record['epoch']}"]
    parts += [f"{o} {record[f'{o}_loss']:.4f}" for o in OBJECTIVES if record.get(f"{o}_loss") is not None]
    if "val_dtw_jpe_mm" in record:
        parts.append(f"val DTW-JPE {record['val_dtw_jpe_mm']:.2f} mm")
    parts.append(f"{record['seconds']:.1f} s")
    return "smlm " + ", ".join(parts)


def validate(model: SignMotionLM, text: TextTokenizer, tokenizers: dict, examples: list[Example], scorer, *,
             max_len: int, progress: bool = False) -> dict:
    """Greedy generation of ``examples`` scored by ``scorer`` (a ``ValidationScorer``)."""
    from reference_models.m3t.smlm_generate import generate_sequences
    items = [((ex.dataset, ex.sample_id), ex.text, ex.language) for ex in examples]
    generated = generate_sequences(model, text, tokenizers, items, max_len=max_len, batch_size=16, progress=progress,
                                   desc="validate")
    return scorer.score({key: seq for key, (_, seq) in generated.items()})

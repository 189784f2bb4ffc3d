"""Training one back-translation model on a dataset's ground-truth motion (paper appendix D.4), on CPU or
CUDA, one process or several.

One plain loop: length-bucketed batches (:func:`data.epoch_batches`, a function of seed and epoch), loss =
``translation_weight`` × token cross-entropy + ``gloss_weight`` × gloss CTC (both summed per sentence,
averaged over the batch's sentences; no CTC when the training split gives no glosses, see
:mod:`reference_models.backtranslation.text`), Adam. After every ``val_every`` epochs the validation split is
translated greedily (as neccam/slt validates) and scored with corpus BLEU-4 in the dataset's language
(:func:`m3t_bench.metrics.bleu`); the best checkpoint is written; after more than ``plateau_patience`` validations
without improvement the learning rate is multiplied by ``plateau_factor``, and training ends when it would
fall below ``min_lr`` or after ``epochs`` epochs.

Only ground truth is ever trained on: ``train`` and ``val`` are dataset splits (``m3t_bench.datasets``),
never submissions.

Several processes: ``torchrun --nproc_per_node N $(which m3t-bench) train bt ...``. Every process forms the
same global batches and takes every N-th sentence of each; DDP averages gradients (gloo on CPU, nccl on
CUDA); rank 0 validates, broadcasts the score, and writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from m3t_bench.distributed import init_distributed, resolve_device
from m3t_bench.errors import UserError
from reference_models.backtranslation.checkpoint import check_name, model_meta, save_checkpoint
from reference_models.backtranslation.config import BTConfig
from reference_models.backtranslation.data import (
    DEFAULT_CACHE_BYTES, Corpus, build_vocabularies, corpus_of, epoch_batches, feature_statistics, make_batch,
)
from reference_models.backtranslation.decode import PAD_ID, translate_features
from reference_models.backtranslation.model import BackTranslationTransformer, parameter_count
from reference_models.backtranslation.text import MAX_TOKEN_CHARS, detokenize, valid_token


def build_model(cfg: BTConfig, n_text: int, n_gloss: int, seed: int) -> BackTranslationTransformer:
    """A freshly initialised model; weights drawn from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BackTranslationTransformer(cfg, n_text, n_gloss)


def batch_loss(model, batch, *, translation_weight: float, gloss_weight: float) -> tuple[torch.Tensor, dict]:
    """Weighted loss of one batch and its parts (per sentence): ``{"translation": ..., "gloss": ...}``."""
    logits, gloss_logp = model(batch.frames, batch.frame_mask, batch.tokens_in)
    n = batch.frames.shape[0]
    translation = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                                    batch.tokens_out.reshape(-1), ignore_index=PAD_ID,
                                                    reduction="sum") / n
    gloss = torch.nn.functional.ctc_loss(gloss_logp.transpose(0, 1).float(), batch.gloss, batch.frame_lengths,
                                         batch.gloss_lengths, blank=0, reduction="sum", zero_infinity=True) / n
    loss = translation_weight * translation + gloss_weight * gloss
    return loss, {"translation": float(translation.detach()), "gloss": float(gloss.detach())}


def corpus_hypotheses(model: BackTranslationTransformer, corpus: Corpus, text_vocab, tokenization: str, *,
                      beam_size: int, alpha: float, max_length: int, device) -> list[str]:
    """Sentences the model produces for every item of ``corpus`` (in order)."""
    ids = translate_features(model, [corpus.features(i) for i in range(len(corpus))], beam_size=beam_size,
                             alpha=alpha, max_length=max_length, device=device)
    return [detokenize(text_vocab.decode(h), tokenization) for h in ids]


def corpus_scores(hyps: list[str], split) -> dict[str, float]:
    """Corpus BLEU-4 and mean sentence ROUGE-L (0-100) against the split's texts, in its language."""
    from m3t_bench.metrics import bleu, rouge_l
    refs = [str(e["text"]) for e in split.entries]
    lang = split.spec.language
    return {"bleu4": bleu(hyps, refs, lang), "rouge_l": rouge_l(hyps, refs, lang)}


@dataclass
class TrainResult:
    """What a training run produced."""

    out_dir: Path
    best_val_bleu4: float
    best_epoch: int
    epochs_run: int
    parameters: int
    gloss_source: str
    history: list[dict] = field(default_factory=list)
    final: dict = field(default_factory=dict)


def split_info(split) -> dict:
    """What the manifest records about a split trained or validated on."""
    return {"id": split.spec.id, "name": split.spec.name, "version": split.spec.version, "split": split.split,
            "manifest_sha256": split.manifest_sha256, "n_samples": len(split.entries),
            "body_model_id": split.body_model_id}


def train_backtranslator(cfg: BTConfig, train_split, val_split, out_dir: str | Path, *, device: str = "cpu",
                         seed: int = 0, name: str | None = None, progress: bool = True,
                         cache_bytes: int = DEFAULT_CACHE_BYTES) -> TrainResult:
    """Train on ``train_split`` (ground truth of one dataset), select by validation BLEU-4 on ``val_split``,
    write the best checkpoint to ``out_dir`` (:mod:`reference_models.backtranslation.checkpoint`). ``name``
    defaults to ``slt-<config>-<dataset>``."""
    ddp = init_distributed(device)
    dev = resolve_device(device, ddp)
    if train_split.spec.id != val_split.spec.id:
        raise UserError(f"validation split is from {val_split.spec.id}, training split from {train_split.spec.id}; "
                        f"expected one dataset", field="--val-split")
    if len(train_split.entries) < max(2, ddp.world_size) or not val_split.entries:
        raise UserError(f"{len(train_split.entries)} training / {len(val_split.entries)} validation sentences; "
                        f"expected at least 2 (and one per process) / 1", field="--data")
    spec = train_split.spec
    name = check_name(name or f"slt-{cfg.name}-{spec.name}")
    text_vocab, gloss_vocab, gloss_source = build_vocabularies(train_split)
    for vocab, what in ((text_vocab, "text"), (gloss_vocab, "gloss")):
        bad = next((t for t in vocab.tokens if not valid_token(t)), None)
        if bad is not None:
            raise UserError(f"a {what} token {bad[:80]!r} has control characters or more than {MAX_TOKEN_CHARS} "
                            f"characters; expected clean text in the training split", field=what)
    gloss_weight = cfg.gloss_weight if gloss_source != "none" else 0.0
    train = corpus_of(train_split, text_vocab, gloss_vocab, gloss_source, cache_bytes=cache_bytes)
    val = corpus_of(val_split, text_vocab, gloss_vocab, gloss_source, cache_bytes=cache_bytes)
    model = build_model(cfg, len(text_vocab), len(gloss_vocab), seed)
    mean, std = feature_statistics(train)
    model.set_feature_statistics(torch.from_numpy(mean).float(), torch.from_numpy(std).float())
    model.to(dev)
    net = DistributedDataParallel(model) if ddp.world_size > 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    meta = model_meta(cfg, {"name": spec.name, "version": spec.version, "language": spec.language,
                            "text_tokenization": spec.text_tokenization}, gloss_source)
    from m3t_bench.results import package_versions, toolkit_info
    provenance = {"train": split_info(train_split), "val": split_info(val_split), "seed": seed,
                  "device": str(dev), "world_size": ddp.world_size, "parameters": parameter_count(model),
                  "gloss_source": gloss_source, "gloss_weight_used": gloss_weight, "selection": "val greedy BLEU-4",
                  "toolkit": toolkit_info(), "packages": package_versions(), "ground_truth_only": True}
    best_bleu, best_epoch, bad, lr = -1.0, 0, 0, cfg.lr
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict] = []
    epoch = 0
    with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
        torch.manual_seed(seed * 1000 + ddp.rank)
        for epoch in range(1, cfg.epochs + 1):
            started, started_cpu = time.perf_counter(), time.process_time()
            model.train()
            parts: dict[str, list[float]] = {"translation": [], "gloss": []}
            batches = [b for b in epoch_batches(train.lengths, cfg.batch_size, seed=seed, epoch=epoch)
                       if len(b) >= ddp.world_size]
            for indices in tqdm(batches, desc=f"bt {spec.name} epoch {epoch}/{cfg.epochs}", leave=False,
                                disable=not (progress and ddp.is_main)):
                batch = make_batch(train, indices[ddp.rank::ddp.world_size], dev)
                loss, values = batch_loss(net, batch, translation_weight=cfg.translation_weight,
                                          gloss_weight=gloss_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                for k, v in values.items():
                    parts[k].append(v)
            record = {"epoch": epoch, "lr": lr, "train_seconds": round(time.perf_counter() - started, 3),
                      "train_cpu_seconds": round(time.process_time() - started_cpu, 3),
                      **{f"train_{k}_loss": float(np.mean(v)) for k, v in parts.items()}}
            if epoch % cfg.val_every and epoch != cfg.epochs:
                if ddp.is_main:
                    history.append(record)
                continue
            score = torch.zeros(1, dtype=torch.float64)
            if ddp.is_main:
                hyps = corpus_hypotheses(model, val, text_vocab, spec.text_tokenization, beam_size=1, alpha=0.0,
                                         max_length=cfg.max_output_length, device=dev)
                scores = corpus_scores(hyps, val_split)
                record.update({f"val_{k}": v for k, v in scores.items()})
                score[0] = scores["bleu4"]
            if ddp.world_size > 1:
                score = score.to(dev)
                dist.broadcast(score, src=0)
            val_bleu = float(score[0])
            if val_bleu > best_bleu:
                best_bleu, best_epoch, bad = val_bleu, epoch, 0
                if ddp.is_main:
                    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                    history.append(record)
                    save_checkpoint(out_dir, model, text_vocab, gloss_vocab, meta, name=name,
                                    training={**provenance, "best_epoch": best_epoch, "best_val_bleu4": best_bleu,
                                              "history": history})
            else:
                bad += 1
                if ddp.is_main:
                    history.append(record)
            if bad > cfg.plateau_patience:
                lr, bad = lr * cfg.plateau_factor, 0
                if lr < cfg.min_lr:
                    break
                for group in optimizer.param_groups:
                    group["lr"] = lr
    final: dict = {}
    if ddp.is_main and best_state is not None:
        model.load_state_dict(best_state)
        hyps = corpus_hypotheses(model, val, text_vocab, spec.text_tokenization, beam_size=cfg.beam_size,
                                 alpha=cfg.beam_alpha, max_length=cfg.max_output_length, device=dev)
        final = {f"val_{k}_beam": v for k, v in corpus_scores(hyps, val_split).items()}
        save_checkpoint(out_dir, model, text_vocab, gloss_vocab, meta, name=name,
                        training={**provenance, "best_epoch": best_epoch, "best_val_bleu4": best_bleu,
                                  "epochs_run": epoch, "history": history, **final})
    if ddp.world_size > 1:
        dist.barrier()
    return TrainResult(out_dir=Path(out_dir), best_val_bleu4=best_bleu, best_epoch=best_epoch, epochs_run=epoch,
                       parameters=parameter_count(model), gloss_source=gloss_source, history=history, final=final)

"""Recognition figures of a probe's predictions under the ``slr@1`` protocol (NMFs-CSL style), and the
results file ``m3t-bench table --table 4`` reads.

Every item of the protocol is top-1 or top-5 accuracy (%) on one part: ``overall`` (all samples),
``confusing`` (samples of confusing classes) or ``normal``. The numbers go the toolkit's way
(:mod:`m3t_bench.scoring.items`): the metric spec's per-sample values (100 when the true class is among the
``k`` highest scores, else 0) on the part's samples, the spec's aggregation (their mean), a percentile-
bootstrap 95% interval over those samples, and the protocol's signature
(``top1@1|part:confusing|boot:1000-s0|ds:synthsign-nmfs@1|proto:slr@1|v:...``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from m3t_bench.datasets.nmfs import NmfsClass
from m3t_bench.fileio import sha256_file
from m3t_bench.protocols import get_protocol
from m3t_bench.results import build_results
from m3t_bench.scoring.items import protocol_items, summarise

PROTOCOL = "slr@1"
PREDICTIONS_KIND = "slr-class-scores"


def confusing_mask(labels: np.ndarray, classes: list[NmfsClass]) -> np.ndarray:
    """``(N,)`` bool: whether each sample's class is a confusing sign."""
    flags = np.asarray([c.confusing for c in sorted(classes, key=lambda c: c.class_id)], dtype=bool)
    return flags[np.asarray(labels, dtype=np.int64)]


def slr_scores(logits: np.ndarray, labels: np.ndarray, confusing: np.ndarray, *, dataset_id: str, seed: int = 0,
               n_resamples: int = 1000) -> tuple[list[dict], list[dict]]:
    """``(scores, skipped)``: the results entries of ``slr@1`` (metric, part, value in %, ci95, n, unit,
    higher_is_better, signature) for class scores ``logits (N, C)``, true classes ``labels (N,)`` and
    ``confusing (N,)`` bool; a part without samples is skipped with the reason."""
    confusing = np.asarray(confusing, dtype=bool)
    masks = {"overall": np.ones_like(confusing), "confusing": confusing, "normal": ~confusing}
    scores, skipped = [], []
    for item in protocol_items(get_protocol(PROTOCOL), model_id=None, dataset_id=dataset_id, seed=seed,
                               n_resamples=n_resamples):
        mask = masks[item.part]
        if not mask.any():
            skipped.append({"metric": item.metric, "part": item.part, "reason": "no test sample of this subset"})
            continue
        values = item.per_sample(logits[mask], labels[mask])
        scores.append(summarise(item, values, seed=seed, n_resamples=n_resamples))
    return scores, skipped


def score_value(scores: list[dict], metric: str, part: str) -> float:
    """The value of ``metric`` on ``part`` in a list of results entries (KeyError when absent)."""
    for s in scores:
        if (s["metric"], s["part"]) == (metric, part):
            return s["value"]
    raise KeyError((metric, part))


def format_scores(scores: list[dict]) -> str:
    """A small plain-text table: one line per number with its 95% interval and n, then the signatures."""
    lines = [f"{'metric':<6} {'part':<10} {'value':>7}  95% CI              n"]
    lines += [f"{s['metric']:<6} {s['part']:<10} {s['value']:7.2f}  [{s['ci95'][0]:6.2f}, {s['ci95'][1]:6.2f}]  "
              f"{s['n']:>5}" for s in scores]
    return "\n".join(lines + [f"{s['metric']}/{s['part']}: {s['signature']}" for s in scores])


def probe_role(modalities: list[str]) -> str:
    """``face-aware`` (face with body and/or hands), ``face-blind`` (no face) or ``face-only``."""
    if "face" not in modalities:
        return "face-blind"
    return "face-only" if list(modalities) == ["face"] else "face-aware"


def default_system_name(meta: dict) -> str:
    """``SLR probe body+hand+face (face-aware; tiny, tokenizer tok-csl-tiny)`` from a probe's ``config.json``."""
    tokenizer = Path(meta["tokenizer"]["dir"]).name
    return (f"SLR probe {'+'.join(meta['modalities'])} ({probe_role(meta['modalities'])}; {meta['config']['name']}, "
            f"tokenizer {tokenizer})")


def slr_results(scores: list[dict], skipped: list[dict], *, logits: np.ndarray, meta: dict, split, ckpt: Path,
                system: str | None, seed: int, n_resamples: int) -> dict:
    """A results object (:mod:`m3t_bench.results` schema, protocol ``slr@1``) for a probe's predictions on an
    opened ``split``. ``predictions.sha256`` hashes the float32 class scores; the system records the probe
    checkpoint's weights hash, modalities, config, tokenizer hashes and how its validation part was drawn."""
    logits32 = np.ascontiguousarray(np.asarray(logits, dtype=np.float32))
    probe = {"checkpoint_sha256": sha256_file(Path(ckpt) / "model.safetensors"), "modalities": meta["modalities"],
             "config": meta["config"]["name"], "tokenizer_sha256": meta["tokenizer"]["sha256"],
             "validation": meta.get("validation"), "best_epoch": meta.get("best", {}).get("epoch"),
             "seed": meta.get("seed")}
    return build_results(system={"system": system or default_system_name(meta), "probe": probe}, protocol=PROTOCOL,
                         dataset={"name": split.spec.name, "version": split.spec.version, "split": split.split,
                                  "manifest_sha256": split.manifest_sha256, "n_samples": len(split)},
                         body_model_id=meta["body_model"],
                         predictions={"sha256": hashlib.sha256(logits32.tobytes()).hexdigest(),
                                      "n_files": int(len(logits32)), "kind": PREDICTIONS_KIND},
                         bootstrap={"seed": seed, "n_resamples": n_resamples}, scores=scores, skipped=skipped)

"""Recognition figures of a probe's predictions (the NMFs-CSL protocol): top-1 / top-5 accuracy (%) overall,
on the confusing and on the normal classes, each with a percentile-bootstrap 95% interval over its samples.

The accuracy itself is :func:`m3t_bench.metrics.recognition_accuracy`; the intervals resample the
per-sample correctness (0 or 100) of each subset with :func:`m3t_bench.metrics.bootstrap_ci`.
"""

from __future__ import annotations

import numpy as np

from m3t_bench.datasets.nmfs import NmfsClass
from m3t_bench.metrics import bootstrap_ci, recognition_accuracy, topk_correct

SUBSETS = ("overall", "confusing", "normal")
KS = (1, 5)


def confusing_mask(labels: np.ndarray, classes: list[NmfsClass]) -> np.ndarray:
    """``(N,)`` bool: whether each sample's class is a confusing sign."""
    flags = np.asarray([c.confusing for c in sorted(classes, key=lambda c: c.class_id)], dtype=bool)
    return flags[np.asarray(labels, dtype=np.int64)]


def recognition_scores(logits: np.ndarray, labels: np.ndarray, confusing: np.ndarray, *, seed: int = 0,
                       n_resamples: int = 1000) -> dict[tuple[str, str], dict]:
    """``{(metric, subset): {"value", "ci95", "n"}}`` for metric ``top1``/``top5`` and subset
    ``overall``/``confusing``/``normal`` (a subset without samples is left out). ``logits (N, C)``,
    ``labels (N,)``, ``confusing (N,)`` bool; values in percent (0-100)."""
    accuracy = recognition_accuracy(logits, labels, confusing)
    masks = {"overall": np.ones(len(labels), dtype=bool), "confusing": confusing, "normal": ~confusing}
    out = {}
    for k in KS:
        correct = topk_correct(logits, labels, k).astype(np.float64) * 100.0
        for subset, mask in masks.items():
            if not mask.any():
                continue
            key = f"top{k}" + ("" if subset == "overall" else f"_{subset}")
            low, high = bootstrap_ci(correct[mask], seed=seed, n_resamples=n_resamples)
            out[(f"top{k}", subset)] = {"value": accuracy[key], "ci95": [low, high], "n": int(mask.sum())}
    return out


def format_scores(scores: dict[tuple[str, str], dict]) -> str:
    """A small plain-text table: one line per (metric, subset) with the value and its 95% interval."""
    lines = [f"{'metric':<6} {'subset':<10} {'value':>7}  95% CI            n"]
    for subset in SUBSETS:
        for k in KS:
            s = scores.get((f"top{k}", subset))
            if s is not None:
                lines.append(f"top{k:<3} {subset:<10} {s['value']:7.2f}  [{s['ci95'][0]:6.2f}, {s['ci95'][1]:6.2f}]"
                             f"  {s['n']:>4}")
    return "\n".join(lines)

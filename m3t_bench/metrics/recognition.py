"""Isolated-sign recognition accuracy (NMFs-CSL style): top-1 / top-5 overall, on the confusing classes
(signs that differ only in non-manual features) and on the normal classes."""

from __future__ import annotations

import numpy as np

from m3t_bench.errors import UserError


def topk_correct(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: whether ``labels[n]`` is among the ``k`` highest ``scores[n]`` (N, C) (logits or
    probabilities; ties broken towards the lower class index).

    >>> topk_correct(np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]), np.array([2, 1]), 2).tolist()
    [True, True]
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise UserError(f"expected scores (N, C) and labels (N,), got {scores.shape} and {labels.shape}",
                        field="scores")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0 or \
            labels.max(initial=0) >= scores.shape[1]:
        raise UserError(f"labels must be integers in 0..{scores.shape[1] - 1}", field="labels")
    if not np.isfinite(scores).all():
        raise UserError("scores contain NaN or Inf", field="scores")
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (order == labels[:, None]).any(axis=1)


def top1_per_sample(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) float64: 100 where the top-scored class of ``scores[n]`` (N, C) is ``labels[n]``, else 0; the mean
    over a subset of samples is its top-1 accuracy in percent.

    >>> top1_per_sample(np.array([[0.9, 0.1], [0.8, 0.2]]), np.array([0, 1])).tolist()
    [100.0, 0.0]
    """
    return topk_correct(scores, labels, 1) * 100.0


def top5_per_sample(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) float64: 100 where ``labels[n]`` is among the 5 top-scored classes of ``scores[n]`` (N, C), else 0.

    >>> top5_per_sample(np.arange(12.0).reshape(2, 6), np.array([0, 5])).tolist()   # class 0 is ranked 6th
    [0.0, 100.0]
    """
    return topk_correct(scores, labels, 5) * 100.0


def recognition_accuracy(scores: np.ndarray, labels: np.ndarray, confusing: np.ndarray) -> dict[str, float]:
    """Top-1 and top-5 accuracy in percent (0–100) overall and on the confusing / normal samples.

    ``scores`` (N, C), ``labels`` (N,) int, ``confusing`` (N,) bool (True where the sample's class is a
    confusing sign). Keys: ``top1``, ``top5``, ``top1_confusing``, ``top5_confusing``, ``top1_normal``,
    ``top5_normal``; a subset with no sample gives NaN.

    >>> acc = recognition_accuracy(np.eye(3), np.array([0, 1, 0]), np.array([True, False, False]))
    >>> acc["top1"], acc["top1_confusing"], acc["top1_normal"]
    (66.66666666666666, 100.0, 50.0)
    """
    confusing = np.asarray(confusing)
    if confusing.dtype != bool or confusing.shape != (np.asarray(labels).shape[0],):
        raise UserError("confusing must be a boolean array with one entry per sample", field="confusing")
    out: dict[str, float] = {}
    for k in (1, 5):
        correct = topk_correct(scores, labels, k)
        for suffix, mask in (("", np.ones_like(confusing)), ("_confusing", confusing), ("_normal", ~confusing)):
            out[f"top{k}{suffix}"] = float(correct[mask].mean() * 100.0) if mask.any() else float("nan")
    return out

"""The peers' way of computing DTW-JPE, for the benchmarks' ratios (not used by the toolkit itself)."""

from __future__ import annotations

import numpy as np


def pure_python_dtw_jpe(pred: np.ndarray, ref: np.ndarray) -> float:
    """Exact DTW in the style of SOKE's released metric: an O(T1·T2) Python double loop with a numpy per-cell
    cost (mean per-joint Euclidean distance after translating joint 0 of each frame to the origin),
    symmetric steps of weight 1. ``pred (T1, J, 3)``, ``ref (T2, J, 3)`` in metres; returns the raw path sum."""
    pred = pred - pred[:, :1]
    ref = ref - ref[:, :1]
    n1, n2 = len(pred), len(ref)
    acc = np.full((n1 + 1, n2 + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(n1):
        for j in range(n2):
            cost = np.linalg.norm(pred[i] - ref[j], axis=-1).mean()
            acc[i + 1, j + 1] = cost + min(acc[i, j], acc[i, j + 1], acc[i + 1, j])
    return float(acc[n1, n2])

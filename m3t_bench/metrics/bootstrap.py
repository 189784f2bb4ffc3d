"""Bootstrap confidence intervals from per-sample values (percentile method, seeded local generator)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from m3t_bench.errors import UserError


def sample_mean(values: np.ndarray) -> float:
    """The mean over samples (axis 0) of per-sample values: the default aggregation of a metric.

    >>> sample_mean(np.array([1.0, 2.0, 6.0]))
    3.0
    """
    return float(np.mean(values, axis=0))


def bootstrap_ci(values: np.ndarray, *, seed: int, n_resamples: int = 1000, confidence: float = 0.95,
                 statistic: Callable[[np.ndarray], float] | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over per-sample ``values``.

    ``values``: (N,) per-sample values, or (N, K) per-sample sufficient statistics (rows are resampled,
    e.g. BLEU statistics with ``statistic=bleu_from_statistics``). ``statistic`` maps a resampled array to
    a float (default :func:`sample_mean`). Resampling uses ``np.random.default_rng(seed)`` only; the
    seed belongs in the signature (``boot:<n_resamples>-s<seed>``). Returns ``(low, high)``.

    >>> bootstrap_ci(np.array([2.0, 2.0, 2.0]), seed=0, n_resamples=10)
    (2.0, 2.0)
    >>> low, high = bootstrap_ci(np.arange(100.0), seed=0)
    >>> bool(40 < low < 49.5 < high < 59)
    True
    """
    arr = np.asarray(values)
    if arr.ndim not in (1, 2) or arr.shape[0] == 0:
        raise UserError(f"expected (N,) or (N, K) per-sample values with N >= 1, got shape {arr.shape}",
                        field="values")
    if not 0.0 < confidence < 1.0 or n_resamples < 1:
        raise UserError("confidence must lie in (0, 1) and n_resamples be >= 1", field="confidence")
    stat = statistic if statistic is not None else sample_mean
    rng = np.random.default_rng(seed)
    n = arr.shape[0]
    draws = np.array([stat(arr[rng.integers(0, n, size=n)]) for _ in range(n_resamples)])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(low), float(high)

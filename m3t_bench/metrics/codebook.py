"""Codebook statistics of a tokenizer over a whole evaluation set, one modality at a time.

``tokens`` is an iterable of integer arrays (any shape: one array per sample) of code indices in
``0 .. codebook_size - 1``; the statistics pool every token of every sample. Per sample, the sufficient
statistics are the code counts (:func:`code_count_rows`); the corpus figures aggregate their sum
(:func:`utilisation_from_counts`, :func:`frequency_std_from_counts`), so a bootstrap resamples samples.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from m3t_bench.errors import UserError


def code_count_rows(tokens: Iterable[np.ndarray], codebook_size: int) -> np.ndarray:
    """(N, codebook_size) int64: row k counts the occurrences of each code in sample k.

    >>> code_count_rows([np.array([0, 0, 2]), np.array([3])], 4).tolist()
    [[2, 0, 1, 0], [0, 0, 0, 1]]
    """
    if not isinstance(codebook_size, (int, np.integer)) or codebook_size < 1:
        raise UserError(f"codebook size must be a positive integer, got {codebook_size!r}", field="codebook_size")
    rows = []
    for k, sample in enumerate(tokens):
        arr = np.asarray(sample)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise UserError(f"sample {k}: expected integer code indices, got {arr.dtype}", field="tokens")
        if arr.size and (arr.min() < 0 or arr.max() >= codebook_size):
            raise UserError(f"sample {k}: code indices must lie in 0..{codebook_size - 1}", field="tokens")
        rows.append(np.bincount(arr.reshape(-1).astype(np.int64), minlength=int(codebook_size)))
    return np.stack(rows) if rows else np.zeros((0, int(codebook_size)), dtype=np.int64)


def code_counts(tokens: Iterable[np.ndarray], codebook_size: int) -> np.ndarray:
    """(codebook_size,) int64 number of occurrences of each code over all samples.

    >>> code_counts([np.array([0, 0, 2]), np.array([3])], 4).tolist()
    [2, 0, 1, 1]
    """
    return code_count_rows(tokens, codebook_size).sum(axis=0)


def _shares(counts: np.ndarray) -> np.ndarray:
    if counts.sum() == 0:
        raise UserError("no tokens: the evaluation set is empty", field="tokens")
    return counts / counts.sum()


def utilisation_from_counts(count_rows: np.ndarray) -> float:
    """Share (percent, 0–100) of the codes used at least once, from per-sample count rows (N, K) summed.

    >>> utilisation_from_counts(np.array([[2, 0, 1, 0], [0, 0, 0, 1]]))
    75.0
    """
    return float((np.asarray(count_rows).sum(axis=0) > 0).mean() * 100.0)


def frequency_std_from_counts(count_rows: np.ndarray) -> float:
    """Population standard deviation over the K codes of each code's share of all tokens (percent points),
    from per-sample count rows (N, K) summed; 0 for perfectly uniform use.

    >>> frequency_std_from_counts(np.array([[1, 1], [1, 1]]))
    0.0
    """
    return float(_shares(np.asarray(count_rows).sum(axis=0)).std() * 100.0)


def codebook_utilisation(tokens: Iterable[np.ndarray], codebook_size: int) -> float:
    """Share of the codebook's codes used at least once over the whole set, in percent (0–100).

    >>> codebook_utilisation([np.array([0, 0, 2]), np.array([3])], 4)
    75.0
    """
    return utilisation_from_counts(code_count_rows(tokens, codebook_size))


def token_frequency_std(tokens: Iterable[np.ndarray], codebook_size: int) -> float:
    """Population standard deviation, over all ``codebook_size`` codes (unused ones count as 0), of each
    code's share of all tokens, in percent points. 0 for perfectly uniform use.

    >>> round(token_frequency_std([np.array([0, 1])], 4), 4)        # shares 50, 50, 0, 0 %
    25.0
    """
    return frequency_std_from_counts(code_count_rows(tokens, codebook_size))


def codebook_perplexity(tokens: Iterable[np.ndarray], codebook_size: int) -> float:
    """exp(entropy) of the code distribution (natural log): the effective number of codes in use,
    between 1 and ``codebook_size``. A documented extra (MotionGPT-style), not part of the protocols.

    >>> round(codebook_perplexity([np.array([0, 1, 2, 3])], 8), 6)   # 4 codes used equally
    4.0
    """
    shares = _shares(code_counts(tokens, codebook_size))
    used = shares[shares > 0]
    return float(np.exp(-(used * np.log(used)).sum()))

"""Codebook statistics of a tokenizer over a whole evaluation set, one modality at a time.

``tokens`` is an iterable of integer arrays (any shape: one array per sample) of code indices in
``0 .. codebook_size - 1``; the statistics pool every token of every sample.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from m3t_bench.errors import UserError


def code_counts(tokens: Iterable[np.ndarray], codebook_size: int) -> np.ndarray:
    """(codebook_size,) int64 number of occurrences of each code over all samples."""
    if not isinstance(codebook_size, (int, np.integer)) or codebook_size < 1:
        raise UserError(f"codebook size must be a positive integer, got {codebook_size!r}", field="codebook_size")
    counts = np.zeros(int(codebook_size), dtype=np.int64)
    for k, sample in enumerate(tokens):
        arr = np.asarray(sample)
        if arr.size == 0:
            continue
        if not np.issubdtype(arr.dtype, np.integer):
            raise UserError(f"sample {k}: expected integer code indices, got {arr.dtype}", field="tokens")
        if arr.min() < 0 or arr.max() >= codebook_size:
            raise UserError(f"sample {k}: code indices must lie in 0..{codebook_size - 1}", field="tokens")
        counts += np.bincount(arr.reshape(-1), minlength=int(codebook_size))
    return counts


def _shares(tokens: Iterable[np.ndarray], codebook_size: int) -> np.ndarray:
    counts = code_counts(tokens, codebook_size)
    if counts.sum() == 0:
        raise UserError("no tokens: the evaluation set is empty", field="tokens")
    return counts / counts.sum()


def codebook_utilisation(tokens: Iterable[np.ndarray], codebook_size: int) -> float:
    """Share of the codebook's codes used at least once over the whole set, in percent (0–100)."""
    return float((code_counts(tokens, codebook_size) > 0).mean() * 100.0)


def token_frequency_std(tokens: Iterable[np.ndarray], codebook_size: int) -> float:
    """Population standard deviation, over all ``codebook_size`` codes (unused ones count as 0), of each
    code's share of all tokens, in percent points. 0 for perfectly uniform use."""
    return float(_shares(tokens, codebook_size).std() * 100.0)


def codebook_perplexity(tokens: Iterable[np.ndarray], codebook_size: int) -> float:
    """exp(entropy) of the code distribution (natural log): the effective number of codes in use,
    between 1 and ``codebook_size``. A documented extra (MotionGPT-style), not part of the protocols."""
    shares = _shares(tokens, codebook_size)
    used = shares[shares > 0]
    return float(np.exp(-(used * np.log(used)).sum()))

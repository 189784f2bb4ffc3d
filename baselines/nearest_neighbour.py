"""Nearest-neighbour retrieval: the motion of the training sample whose text is most similar.

Similarity: cosine between TF-IDF vectors of word tokens (language-aware: jieba for Chinese), with raw term
counts and the smoothed inverse document frequency ``idf(t) = ln((1 + N) / (1 + df(t))) + 1`` over the
``N`` training texts. Ties (including texts sharing no token with any training text) go to the smallest
training id. The retrieved sample is returned whole, at its own length.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy import sparse

from baselines.common import text_tokens
from m3t_bench.motion import MotionSequence

DESCRIPTION = "motion of the training sample with the most similar text (TF-IDF cosine)"


class TfidfIndex:
    """A TF-IDF index over ``docs`` (lists of tokens) answering :meth:`nearest` queries."""

    def __init__(self, docs: list[list[str]]):
        self.vocab = {t: i for i, t in enumerate(sorted({t for d in docs for t in d}))}
        df = Counter(t for d in docs for t in set(d))
        n = len(docs)
        self.idf = np.array([np.log((1 + n) / (1 + df[t])) + 1 for t in sorted(self.vocab)])
        self.matrix = self._vectors(docs)

    def _vectors(self, docs: list[list[str]]) -> sparse.csr_matrix:
        rows, cols, vals = [], [], []
        for r, doc in enumerate(docs):
            for token, count in Counter(t for t in doc if t in self.vocab).items():
                rows.append(r)
                cols.append(self.vocab[token])
                vals.append(count * self.idf[self.vocab[token]])
        m = sparse.csr_matrix((vals, (rows, cols)), shape=(len(docs), len(self.vocab)), dtype=np.float64)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / norms) @ m)

    def nearest(self, docs: list[list[str]]) -> np.ndarray:
        """Index of the most similar indexed document for each query (first index on ties)."""
        sims = (self._vectors(docs) @ self.matrix.T).toarray()
        return np.argmax(sims, axis=1)


def predict(train, test, **_) -> dict[str, MotionSequence]:
    """``{id: the retrieved training sequence}`` for every sample of ``test``."""
    tok = train.spec.text_tokenization
    train_entries = sorted(train.entries, key=lambda e: e["id"])
    index = TfidfIndex([text_tokens(e["text"], tok) for e in train_entries])
    best = index.nearest([text_tokens(e["text"], tok) for e in test.entries])
    cache: dict[str, MotionSequence] = {}
    out = {}
    for entry, k in zip(test.entries, best):
        train_id = train_entries[int(k)]["id"]
        if train_id not in cache:
            cache[train_id] = train.load(train_id)
        out[entry["id"]] = cache[train_id]
    return out

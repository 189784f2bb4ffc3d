"""Deterministic derived random generators: one named stream per purpose, independent of Python's
string hashing (``PYTHONHASHSEED``) and of the order in which other streams are used."""

from __future__ import annotations

import hashlib

import numpy as np


def stream(seed: int, *names: object) -> np.random.Generator:
    """A generator for ``(seed, *names)``: same inputs -> same stream; any change -> an unrelated stream."""
    key = "\x1f".join(str(n) for n in names).encode("utf-8")
    words = np.frombuffer(hashlib.sha256(key).digest(), dtype=np.uint32)
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *words.tolist()]))

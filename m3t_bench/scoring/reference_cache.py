"""The reference cache: a split's reference evaluation points, computed once and reused by every scoring run
(the joint sets; the face region is recomputed, see :data:`CACHED_MAX_POINTS`).

An entry is keyed by everything the points depend on: the dataset manifest's sha256, the split, the body
model id, the joint sets (names and resolved point lists), the toolkit version, the evaluation path (fast or
reference forward), device type and dtype, and :data:`CACHE_FORMAT`. It is a folder
``<cache dir>/<key>/`` holding ``key.json`` (the key's fields, for people) and one ``.npz`` per reference
sample (``np.savez``, read with ``allow_pickle=False``) with one float32 ``(T, P, 3)`` array per joint set and
the sha256 of their bytes.

Loading verifies the hash, the frame count and the point counts; anything unreadable or different is
recomputed and rewritten, never trusted. Files are written atomically (temporary file, then rename): two
scoring runs sharing a cache at most compute a sample twice and write the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import m3t_bench
from m3t_bench.fileio import atomic_write, atomic_write_text

#: Bumped whenever the evaluation points of a given key would change (a new forward, a new point layout).
CACHE_FORMAT = 1
#: Passes over more points per frame than this are not cached: the face region's 5,024 points take 60 KB per
#: frame (11 GB for a 1,176-sequence split), and reading and verifying them costs about what the fast
#: forward costs (measured: 150 us per frame read + sha256 vs 170-230 us per frame forward, busy 2-core
#: machine), while writing them (0.17 GB/s) would double a cold run.
CACHED_MAX_POINTS = 1000
#: Environment variable naming the cache folder (else the user's cache directory).
CACHE_DIR_ENV = "M3T_CACHE_DIR"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


def default_cache_dir() -> Path:
    """``$M3T_CACHE_DIR``, else ``$XDG_CACHE_HOME/m3t-bench/references``, else ``~/.cache/m3t-bench/references``."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "m3t-bench" / "references"


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ReferenceCache:
    """One cache entry: the folder ``root`` and the point count of each joint set ``sizes``."""

    root: Path
    sizes: dict[str, int]

    def _path(self, sample_id: str) -> Path:
        name = sample_id if _SAFE_NAME.match(sample_id) else hashlib.sha256(sample_id.encode()).hexdigest()
        return self.root / f"{name}.npz"

    def load(self, sample_id: str, n_frames: int) -> dict[str, np.ndarray] | None:
        """The cached points of ``sample_id`` (set name -> ``(n_frames, P, 3)`` float32), or None when absent,
        unreadable, or not exactly what was stored (hash, frame count, point counts)."""
        path = self._path(sample_id)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                stored = str(f["sha256"])
                points = {name: f[name] for name in self.sizes}
        except Exception:  # a truncated, corrupted or foreign file: recompute
            return None
        if any(p.dtype != np.float32 or p.shape != (n_frames, self.sizes[name], 3) for name, p in points.items()):
            return None
        return points if _digest(points) == stored else None

    def store(self, sample_id: str, points: dict[str, np.ndarray]) -> None:
        """Write the points of one sample (set name -> ``(T, P, 3)``) atomically."""
        arrays = {name: np.ascontiguousarray(points[name], dtype=np.float32) for name in self.sizes}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, sha256=np.array(_digest(arrays)), **arrays)
        atomic_write(self._path(sample_id), write)


def open_reference_cache(cache_dir: str | Path, *, split, model, names: tuple[str, ...]) -> ReferenceCache | None:
    """The entry of ``split``'s reference points on the joint sets ``names`` of ``model`` (created on first
    use) under ``cache_dir``; None for sets of more than :data:`CACHED_MAX_POINTS` points in all."""
    sets = {name: list(model.joint_set(name).points) for name in names}
    if sum(len(p) for p in sets.values()) > CACHED_MAX_POINTS:
        return None
    device = model.template.device.type
    key = {"format": CACHE_FORMAT, "toolkit": m3t_bench.__version__, "dataset": split.spec.id, "split": split.split,
           "manifest_sha256": split.manifest_sha256, "body_model": model.model_id,
           "forward": "fast" if model.fast_mesh and device == "cpu" else "reference", "device": device,
           "dtype": str(model.template.dtype),
           "joint_sets": {n: hashlib.sha256(json.dumps(p).encode()).hexdigest() for n, p in sets.items()}}
    text = json.dumps(key, sort_keys=True, indent=1) + "\n"
    root = Path(cache_dir) / hashlib.sha256(text.encode()).hexdigest()[:32]
    if not (root / "key.json").is_file():
        atomic_write_text(root / "key.json", text)
    return ReferenceCache(root=root, sizes={n: len(p) for n, p in sets.items()})

"""Evaluation points of many samples for the scoring engine, in batched, memory-bounded forward passes.

Prediction and reference go through the *same* SMPL-FX model (``model.evaluation_points_many``), with the
reference sample's shape vector for both (the metrics measure motion, not body shape; a ``shape`` array in
a prediction is ignored). Joint sets up to ``SHARED_PASS_MAX_POINTS`` points share one forward pass (the
kinematic chain is shared); larger ones (the face region) get passes of their own. Each pass runs over
consecutive chunks of samples whose frames times points fit ``POINT_BUDGET``.
"""

from __future__ import annotations

import numpy as np
import torch

from m3t_bench.scoring.submission import Submission

#: Points (frames x evaluation points) per batched forward pass and DTW chunk (~190 MB per float32 array).
POINT_BUDGET = 16_000_000
#: Joint sets up to this many points are evaluated together in one forward pass.
SHARED_PASS_MAX_POINTS = 1000
STREAM_NAMES = ("body", "lhand", "rhand", "face")


def _frames_tensor(seqs: list, stream: str) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([np.asarray(getattr(s, stream), dtype=np.float32) for s in seqs]))


def _shape_tensor(refs: list, lengths: list[int]) -> torch.Tensor:
    """Per-frame (N, 310) shape: each reference sample's shape repeated over the frames it pairs with."""
    return torch.from_numpy(np.concatenate([np.repeat(r.full_shape()[None], n, axis=0) for r, n in zip(refs, lengths)]))


def _split_frames(points: torch.Tensor, lengths: list[int]) -> list[np.ndarray]:
    arr = points.detach().cpu().numpy()
    return list(np.split(arr, np.cumsum(lengths)[:-1]))


def model_points(model, set_names: tuple[str, ...], seqs: list, refs: list) -> dict[str, list[np.ndarray]]:
    """Evaluation points ``(T_i, P, 3)`` (metres) of each sequence in ``seqs`` for each named joint set, in one
    forward pass, using the shape vector of the paired reference in ``refs``: set name -> list per sequence."""
    lengths = [s.n_frames for s in seqs]
    with torch.no_grad():
        points = model.evaluation_points_many(tuple(set_names), **{s: _frames_tensor(seqs, s) for s in STREAM_NAMES},
                                              shape=_shape_tensor(refs, lengths))
    return {name: _split_frames(p, lengths) for name, p in points.items()}


def passes(set_sizes: dict[str, int]) -> list[tuple[str, ...]]:
    """Joint-set names (-> number of points) grouped into forward passes: the small sets together, each large
    one alone."""
    small = tuple(n for n, size in set_sizes.items() if size <= SHARED_PASS_MAX_POINTS)
    return ([small] if small else []) + [(n,) for n in set_sizes if n not in small]


def chunk_ids(ids: list[str], sub: Submission, refs: dict, n_points: int) -> list[list[str]]:
    """Consecutive groups of ids whose prediction + reference frames times ``n_points`` fit ``POINT_BUDGET``."""
    budget = max(1, POINT_BUDGET // max(1, n_points))
    out, cur, used = [], [], 0
    for sample_id in ids:
        frames = sub.samples[sample_id].n_frames + refs[sample_id].n_frames
        if cur and used + frames > budget:
            out.append(cur)
            cur, used = [], 0
        cur.append(sample_id)
        used += frames
    if cur:
        out.append(cur)
    return out


def skeleton_columns(model, points: tuple[str, ...]) -> tuple[list[int], list[str]]:
    """For a skeleton-only submission (joints in ``model.joint_names`` order): the columns of ``points`` and
    the point names the skeleton lacks."""
    lacking = [p for p in points if p not in model.joint_names]
    return ([] if lacking else [model.joint_names.index(p) for p in points]), lacking

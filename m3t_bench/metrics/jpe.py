"""Joint and vertex position errors: DTW-JPE, DTW-PA-JPE, DTW-VPE (generated sequences, time-warped) and
per-frame PA-JPE / PA-VPE / MPJPE (reconstructions of equal length).

Definitions (pred (T1, P, 3) and ref (T2, P, 3) in metres; S = the scored points):

- frame cost ``c(i, j)`` = mean over scored points of the Euclidean distance between pred frame i and ref
  frame j after alignment: ``align="root"`` translates both frames so that point ``root`` is at the origin;
  ``align="procrustes"`` applies, *in every DTW cell*, the best similarity transform (rotation without
  reflection, uniform scale, translation) of pred frame i onto ref frame j fitted on the scored points;
  ``align="none"`` compares raw positions.
- DTW value = the sum of ``c`` along the optimal warping path (see :mod:`m3t_bench.metrics.dtw`),
  normalised by ``norm``: ``"path"`` divides by the number of path steps (a mean frame error),
  ``"ref"`` by the reference length T2, ``"sum"`` keeps the raw path sum (SOKE's released convention).
- ``unit="mm"`` multiplies by 1000, ``"m"`` keeps metres.

Every function returns one value per sequence pair; aggregate over a split (mean, bootstrap) afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.metrics.dtw import dtw_points_many
from m3t_bench.metrics.joints import (ALIGNMENTS, check_pair, check_root, resolve_scored, root_relative,
                                      similarity_procrustes)
from m3t_bench.metrics.procrustes import procrustes_cost

NORMS = ("path", "ref", "sum")
UNITS = {"mm": 1000.0, "m": 1.0}
BACKENDS = ("exact", "fastdtw")


def _choice(value: str, choices, field: str) -> str:
    if value not in choices:
        raise UserError(f"{value!r} is not one of {', '.join(choices)}", field=field)
    return value


def _normalise(costs: np.ndarray, path_lengths: np.ndarray, ref_lengths: np.ndarray, norm: str,
               unit: str) -> np.ndarray:
    divisor = {"path": path_lengths, "ref": ref_lengths, "sum": np.ones_like(ref_lengths)}[norm]
    return costs / divisor * UNITS[unit]


def _fastdtw_costs(pred: np.ndarray, ref: np.ndarray, align: str, root: int, scored: np.ndarray,
                   radius: int) -> tuple[float, int]:
    """fastdtw (approximate) with the same frame cost as the exact kernel, computed in float64."""
    from fastdtw import fastdtw  # compatibility backend only; imported on demand

    if align == "root":
        pred, ref = root_relative(pred, root), root_relative(ref, root)
    x = np.asarray(pred, dtype=np.float64)[:, scored].reshape(len(pred), -1)
    y = np.asarray(ref, dtype=np.float64)[:, scored].reshape(len(ref), -1)
    n_points = len(scored)

    if align == "procrustes":
        def frame_cost(u, v):
            a, b = u.reshape(n_points, 3), v.reshape(n_points, 3)
            return float(procrustes_cost(a - a.mean(0), b - b.mean(0)))
    else:
        def frame_cost(u, v):
            return float(np.sqrt(((u - v).reshape(n_points, 3) ** 2).sum(axis=1)).mean())
    total, path = fastdtw(x, y, radius=radius, dist=frame_cost)
    return float(total), len(path)


def dtw_jpe_many(preds: Sequence[np.ndarray], refs: Sequence[np.ndarray], *, align: str = "root",
                 norm: str = "path", unit: str = "mm", root: int = 0,
                 scored: Sequence[int] | np.ndarray | None = None, backend: str = "exact",
                 fastdtw_radius: int = 1, jobs: int | None = None) -> np.ndarray:
    """DTW-JPE (``align="root"``/``"none"``) or DTW-PA-JPE (``align="procrustes"``) of many pairs.

    ``preds[k]`` (T1_k, P, 3) and ``refs[k]`` (T2_k, P, 3) in metres; all pairs share P. ``scored``: point
    indices averaged (default all). ``backend="exact"`` runs the compiled exact DTW with pairs in parallel
    on ``jobs`` threads; ``"fastdtw"`` runs the approximate fastdtw (radius ``fastdtw_radius``) for
    compatibility with peers that used it. Returns (N,) float64 values in ``unit``.

    >>> import numpy as np
    >>> ref = np.zeros((3, 2, 3)); ref[:, 1, 0] = 0.1                  # 3 frames, 2 joints 10 cm apart
    >>> late = np.concatenate([ref[:1], ref])                          # the same motion, one frame late
    >>> dtw_jpe_many([ref, late], [ref, ref], scored=[1]).round(6).tolist()
    [0.0, 0.0]
    """
    _choice(align, ALIGNMENTS, "align")
    _choice(norm, NORMS, "norm")
    _choice(unit, tuple(UNITS), "unit")
    _choice(backend, BACKENDS, "backend")
    if len(preds) != len(refs):
        raise UserError(f"{len(preds)} predictions for {len(refs)} references; expected one per reference",
                        field="preds")
    if len(preds) == 0:
        return np.zeros(0)
    pairs = [check_pair(p, r) for p, r in zip(preds, refs)]
    n_points = pairs[0][0].shape[1]
    if any(p.shape[1] != n_points for p, _ in pairs):
        raise UserError("all pairs must have the same number of points per frame", field="preds")
    root = check_root(root, n_points)
    idx = resolve_scored(scored, n_points)
    ref_lengths = np.array([len(r) for _, r in pairs], dtype=np.float64)
    if backend == "fastdtw":
        if not isinstance(fastdtw_radius, int) or fastdtw_radius < 1:
            raise UserError(f"fastdtw radius must be a positive integer, got {fastdtw_radius!r}", field="radius")
        results = [_fastdtw_costs(p, r, align, root, idx, fastdtw_radius) for p, r in pairs]
        costs = np.array([c for c, _ in results])
        lengths = np.array([n for _, n in results], dtype=np.float64)
    else:
        kind = "procrustes" if align == "procrustes" else "l2"
        kernel_root = root if align == "root" else -1
        costs, lengths, _ = dtw_points_many([p for p, _ in pairs], [r for _, r in pairs], kind=kind,
                                            root=kernel_root, scored=idx, jobs=jobs)
    return _normalise(costs, lengths.astype(np.float64), ref_lengths, norm, unit)


def dtw_jpe(pred: np.ndarray, ref: np.ndarray, *, align: str = "root", norm: str = "path", unit: str = "mm",
            root: int = 0, scored: Sequence[int] | np.ndarray | None = None, backend: str = "exact",
            fastdtw_radius: int = 1) -> float:
    """DTW joint position error between ``pred`` (T1, J, 3) and ``ref`` (T2, J, 3), both in metres.

    ``align="root"``: DTW-JPE (translation so that joint ``root`` coincides); ``"procrustes"``: DTW-PA-JPE
    (per-cell similarity Procrustes fitted on the scored joints); ``"none"``: raw positions. ``norm`` and
    ``unit`` as in the module doc. Returns one float in ``unit``.

    >>> import numpy as np
    >>> ref = np.zeros((2, 2, 3)); ref[:, 1, 0] = 0.1                  # 2 frames, 2 joints 10 cm apart
    >>> pred = ref + [0.5, 0.0, 0.0]; pred[:, 1, 1] += 0.01              # moved away; joint 1 is 1 cm off
    >>> round(dtw_jpe(pred, ref, norm="path", unit="mm"), 4)           # root-aligned: (0 + 10 mm) / 2 joints
    5.0
    >>> round(dtw_jpe(pred, ref, norm="sum", unit="m"), 6)             # raw sum over the 2 path steps
    0.01
    """
    return float(dtw_jpe_many([pred], [ref], align=align, norm=norm, unit=unit, root=root, scored=scored,
                              backend=backend, fastdtw_radius=fastdtw_radius)[0])


def dtw_vpe(pred: np.ndarray, ref: np.ndarray, *, align: str = "root", norm: str = "path", unit: str = "mm",
            root: int = 0, scored: Sequence[int] | np.ndarray | None = None, backend: str = "exact") -> float:
    """Face DTW vertex position error: :func:`dtw_jpe` on (T, 1 + V, 3) arrays holding the head joint at
    index ``root`` (default 0) followed by the face-region vertices; by default every point except
    ``root`` is scored. Returns one float in ``unit``.

    >>> import numpy as np
    >>> ref = np.zeros((2, 3, 3)); ref[:, 1:, 2] = 0.05                # head joint, then 2 face vertices
    >>> pred = ref.copy(); pred[:, 1, 2] += 0.002                      # one vertex 2 mm forward
    >>> round(dtw_vpe(pred, ref), 4)                                   # mean over the 2 vertices, head not scored
    1.0
    """
    pred, ref = check_pair(pred, ref)
    idx = resolve_scored(scored, pred.shape[1], default_exclude=check_root(root, pred.shape[1]))
    return dtw_jpe(pred, ref, align=align, norm=norm, unit=unit, root=root, scored=idx, backend=backend)


def _per_frame_error(aligned_pred: np.ndarray, ref: np.ndarray, unit: str) -> float:
    per_frame = np.linalg.norm(aligned_pred - ref, axis=-1).mean(axis=1)   # (T,)
    return float(per_frame.mean() * UNITS[_choice(unit, tuple(UNITS), "unit")])


def pa_jpe(pred: np.ndarray, ref: np.ndarray, *, scored: Sequence[int] | np.ndarray | None = None,
           unit: str = "mm") -> float:
    """Per-frame Procrustes-aligned joint error of a reconstruction: frames paired by index (T, J, 3) each;
    per frame the best similarity transform of pred onto ref is fitted on the scored joints, the error is
    the mean scored-joint distance; the value is the mean over frames, in ``unit``.

    >>> import numpy as np
    >>> ref = np.random.default_rng(0).normal(size=(4, 5, 3))
    >>> round(pa_jpe(0.5 * ref[:, :, [1, 0, 2]] * [1, -1, 1] + 3.0, ref), 9)   # rotated, scaled, shifted copy
    0.0
    """
    pred, ref = check_pair(pred, ref, same_length=True)
    idx = resolve_scored(scored, pred.shape[1])
    return _per_frame_error(similarity_procrustes(pred[:, idx], ref[:, idx]), np.asarray(ref[:, idx], np.float64),
                            unit)


def pa_vpe(pred: np.ndarray, ref: np.ndarray, *, scored: Sequence[int] | np.ndarray | None = None,
           unit: str = "mm") -> float:
    """:func:`pa_jpe` on vertex sequences (T, V, 3): the per-frame Procrustes-aligned vertex error."""
    return pa_jpe(pred, ref, scored=scored, unit=unit)


def pa_jpe_many(preds: Sequence[np.ndarray], refs: Sequence[np.ndarray], *,
                scored: Sequence[int] | np.ndarray | None = None, unit: str = "mm") -> np.ndarray:
    """:func:`pa_jpe` of each pair ``preds[k]``, ``refs[k]`` (T_k, P, 3) of equal lengths: (N,) float64 in
    ``unit``. ``pa_vpe_many`` is the same function on vertex sequences.

    >>> import numpy as np
    >>> ref = np.random.default_rng(0).normal(size=(5, 4, 3))
    >>> pa_jpe_many([2.0 * ref + 1.0, ref], [ref, ref]).round(9).tolist()   # a similarity transform costs 0
    [0.0, 0.0]
    """
    if len(preds) != len(refs):
        raise UserError(f"{len(preds)} predictions for {len(refs)} references; expected one per reference",
                        field="preds")
    return np.array([pa_jpe(p, r, scored=scored, unit=unit) for p, r in zip(preds, refs)], dtype=np.float64)


pa_vpe_many = pa_jpe_many


def mpjpe(pred: np.ndarray, ref: np.ndarray, *, root: int = 0, scored: Sequence[int] | np.ndarray | None = None,
          unit: str = "mm") -> float:
    """Per-frame translation-aligned joint error (frames paired by index, (T, J, 3) each): both frames are
    translated so that joint ``root`` is at the origin; mean scored-joint distance, mean over frames.

    >>> import numpy as np
    >>> ref = np.zeros((1, 2, 3)); pred = ref.copy(); pred[0, 1] = [0.003, 0.004, 0.0]
    >>> round(mpjpe(pred, ref), 6)                                     # (0 + 5 mm) / 2 joints
    2.5
    """
    pred, ref = check_pair(pred, ref, same_length=True)
    root = check_root(root, pred.shape[1])
    idx = resolve_scored(scored, pred.shape[1])
    return _per_frame_error(root_relative(pred, root)[:, idx], root_relative(ref, root)[:, idx], unit)

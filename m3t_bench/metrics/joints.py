"""Point-set checks and alignments shared by the joint/vertex error metrics.

Arrays are ``(T, P, 3)`` point sequences (joints or vertices) in metres. ``root`` is the index of the point
used for translation alignment; ``scored`` the indices whose errors are averaged (and on which Procrustes
is fitted).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from m3t_bench.errors import UserError

ALIGNMENTS = ("root", "procrustes", "none")


def check_points(points: np.ndarray, field: str) -> np.ndarray:
    """Return ``points`` as an array after checking it is a finite, non-empty (T, P, 3) sequence."""
    arr = np.asarray(points)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise UserError(f"expected a (T, P, 3) point sequence with T, P >= 1, got shape {arr.shape}", field=field)
    if not np.issubdtype(arr.dtype, np.floating):
        raise UserError(f"expected floating-point coordinates, got {arr.dtype}", field=field)
    if not np.isfinite(arr).all():
        raise UserError("contains NaN or Inf; expected finite coordinates", field=field)
    return arr


def check_pair(pred: np.ndarray, ref: np.ndarray, *, same_length: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Check a prediction/reference pair: same point count P (and same T if ``same_length``)."""
    pred, ref = check_points(pred, "pred"), check_points(ref, "ref")
    if pred.shape[1] != ref.shape[1]:
        raise UserError(f"pred has {pred.shape[1]} points per frame, ref has {ref.shape[1]}; expected equal",
                        field="pred")
    if same_length and pred.shape[0] != ref.shape[0]:
        raise UserError(f"pred has {pred.shape[0]} frames, ref has {ref.shape[0]}; this per-frame metric "
                        "needs equal lengths (use the DTW variant for generated sequences)", field="pred")
    return pred, ref


def resolve_scored(scored: Sequence[int] | np.ndarray | None, n_points: int, *,
                   default_exclude: int | None = None) -> np.ndarray:
    """Indices of the scored points as int64: ``scored`` checked against ``n_points``; ``None`` means all
    points (except ``default_exclude`` when given)."""
    if scored is None:
        idx = np.arange(n_points, dtype=np.int64)
        return idx[idx != default_exclude] if default_exclude is not None else idx
    idx = np.asarray(scored, dtype=np.int64).reshape(-1)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= n_points:
        raise UserError(f"scored indices must be non-empty and within 0..{n_points - 1}", field="scored")
    return idx


def check_root(root: int, n_points: int) -> int:
    """``root`` as an int after checking it indexes one of ``n_points`` points."""
    if not isinstance(root, (int, np.integer)) or not 0 <= int(root) < n_points:
        raise UserError(f"root must be an index within 0..{n_points - 1}, got {root!r}", field="root")
    return int(root)


def root_relative(points: np.ndarray, root: int) -> np.ndarray:
    """(T, P, 3) points minus each frame's ``root`` point (float64)."""
    pts = np.asarray(points, dtype=np.float64)
    return pts - pts[:, root:root + 1]


def similarity_procrustes(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per frame, the best similarity transform (rotation without reflection, uniform scale, translation)
    of ``pred`` onto ``ref`` in the least-squares sense (Umeyama), applied to ``pred``.

    ``pred``, ``ref``: (T, P, 3). Returns the aligned prediction (T, P, 3) float64.

    >>> import numpy as np
    >>> ref = np.random.default_rng(1).normal(size=(2, 4, 3))
    >>> bool(np.allclose(similarity_procrustes(2.0 * ref - 1.0, ref), ref))
    True
    """
    x = np.asarray(pred, dtype=np.float64)
    y = np.asarray(ref, dtype=np.float64)
    mx, my = x.mean(axis=1, keepdims=True), y.mean(axis=1, keepdims=True)
    xc, yc = x - mx, y - my
    cov = np.einsum("tpa,tpb->tab", yc, xc)              # sum_p y_p x_p^T per frame
    u, sing, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u @ vt))
    sign[sign == 0] = 1.0
    d = np.ones((x.shape[0], 3))
    d[:, 2] = sign
    rot = u @ (d[:, :, None] * vt)                       # u diag(d) vt
    var_x = (xc ** 2).sum(axis=(1, 2))
    scale = np.where(var_x > 0, (sing * d).sum(axis=1) / np.where(var_x > 0, var_x, 1.0), 0.0)
    return scale[:, None, None] * np.einsum("tab,tpb->tpa", rot, xc) + my

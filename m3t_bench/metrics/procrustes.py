"""The per-cell similarity-Procrustes frame cost of DTW-PA-JPE, compiled with numba.

For two frames of ``P`` 3-D points, each centred on its own centroid, the cost is the mean Euclidean
distance between the second frame and the first after the best similarity transform of the first onto the
second (rotation without reflection, uniform scale; translation is removed by the centring), fitted in
float64 by Horn's quaternion method: the rotation maximising ``trace(R S)`` for ``S = sum_p x_p y_p^T`` is
the unit quaternion of the largest eigenvalue of the 4x4 symmetric key matrix of ``S``; the eigenvalue is
found by Newton's method on the characteristic polynomial (started above the root at ``sqrt(|x|^2 |y|^2)``),
the eigenvector from the adjugate of ``key - lambda I``; ``numpy.linalg.eigh`` takes over when the
eigenvalue is nearly repeated. The optimal scale is ``lambda / |x|^2``.

Kernel-level functions (no argument checks; numba-compiled) are used by :mod:`m3t_bench.metrics.dtw_core`;
:func:`procrustes_cost` is the Python entry point for one pair of frames.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def det3(a, b, c, d, e, f, g, h, k):
    return a * (e * k - f * h) - b * (d * k - f * g) + c * (d * h - e * g)


@njit(cache=True, nogil=True)
def adjugate4(m, out):
    """Write the adjugate of the 4x4 matrix ``m`` into ``out`` (Laplace expansion over 2x2 minors) and
    return the determinant."""
    s0 = m[0, 0] * m[1, 1] - m[1, 0] * m[0, 1]
    s1 = m[0, 0] * m[1, 2] - m[1, 0] * m[0, 2]
    s2 = m[0, 0] * m[1, 3] - m[1, 0] * m[0, 3]
    s3 = m[0, 1] * m[1, 2] - m[1, 1] * m[0, 2]
    s4 = m[0, 1] * m[1, 3] - m[1, 1] * m[0, 3]
    s5 = m[0, 2] * m[1, 3] - m[1, 2] * m[0, 3]
    c5 = m[2, 2] * m[3, 3] - m[3, 2] * m[2, 3]
    c4 = m[2, 1] * m[3, 3] - m[3, 1] * m[2, 3]
    c3 = m[2, 1] * m[3, 2] - m[3, 1] * m[2, 2]
    c2 = m[2, 0] * m[3, 3] - m[3, 0] * m[2, 3]
    c1 = m[2, 0] * m[3, 2] - m[3, 0] * m[2, 2]
    c0 = m[2, 0] * m[3, 1] - m[3, 0] * m[2, 1]
    out[0, 0] = m[1, 1] * c5 - m[1, 2] * c4 + m[1, 3] * c3
    out[0, 1] = -m[0, 1] * c5 + m[0, 2] * c4 - m[0, 3] * c3
    out[0, 2] = m[3, 1] * s5 - m[3, 2] * s4 + m[3, 3] * s3
    out[0, 3] = -m[2, 1] * s5 + m[2, 2] * s4 - m[2, 3] * s3
    out[1, 0] = -m[1, 0] * c5 + m[1, 2] * c2 - m[1, 3] * c1
    out[1, 1] = m[0, 0] * c5 - m[0, 2] * c2 + m[0, 3] * c1
    out[1, 2] = -m[3, 0] * s5 + m[3, 2] * s2 - m[3, 3] * s1
    out[1, 3] = m[2, 0] * s5 - m[2, 2] * s2 + m[2, 3] * s1
    out[2, 0] = m[1, 0] * c4 - m[1, 1] * c2 + m[1, 3] * c0
    out[2, 1] = -m[0, 0] * c4 + m[0, 1] * c2 - m[0, 3] * c0
    out[2, 2] = m[3, 0] * s4 - m[3, 1] * s2 + m[3, 3] * s0
    out[2, 3] = -m[2, 0] * s4 + m[2, 1] * s2 - m[2, 3] * s0
    out[3, 0] = -m[1, 0] * c3 + m[1, 1] * c1 - m[1, 2] * c0
    out[3, 1] = m[0, 0] * c3 - m[0, 1] * c1 + m[0, 2] * c0
    out[3, 2] = -m[3, 0] * s3 + m[3, 1] * s1 - m[3, 2] * s0
    out[3, 3] = m[2, 0] * s3 - m[2, 1] * s1 + m[2, 2] * s0
    return s0 * c5 - s1 * c4 + s2 * c3 + s3 * c2 - s4 * c1 + s5 * c0


@njit(cache=True, nogil=True)
def best_rotation_quaternion(s, bound, key, adj, q):
    """Write into ``q`` the unit quaternion (w, x, y, z) of the rotation R maximising ``trace(R @ s)`` for
    ``s = sum_k x_k y_k^T`` (3x3) and return that maximum. ``bound`` >= the maximum (Newton starts there);
    ``key``, ``adj``: (4, 4) scratch arrays."""
    sxx, sxy, sxz = s[0, 0], s[0, 1], s[0, 2]
    syx, syy, syz = s[1, 0], s[1, 1], s[1, 2]
    szx, szy, szz = s[2, 0], s[2, 1], s[2, 2]
    key[0, 0] = sxx + syy + szz
    key[0, 1] = key[1, 0] = syz - szy
    key[0, 2] = key[2, 0] = szx - sxz
    key[0, 3] = key[3, 0] = sxy - syx
    key[1, 1] = sxx - syy - szz
    key[1, 2] = key[2, 1] = sxy + syx
    key[1, 3] = key[3, 1] = szx + sxz
    key[2, 2] = -sxx + syy - szz
    key[2, 3] = key[3, 2] = syz + szy
    key[3, 3] = -sxx - syy + szz
    # characteristic polynomial of the traceless symmetric key matrix: l^4 + c2 l^2 + c1 l + c0
    c2 = -2.0 * (sxx * sxx + sxy * sxy + sxz * sxz + syx * syx + syy * syy + syz * syz
                 + szx * szx + szy * szy + szz * szz)
    c1 = -8.0 * det3(sxx, sxy, sxz, syx, syy, syz, szx, szy, szz)
    c0 = adjugate4(key, adj)
    lam = bound
    for _ in range(100):
        poly = ((lam * lam + c2) * lam + c1) * lam + c0
        slope = (4.0 * lam * lam + 2.0 * c2) * lam + c1
        if slope <= 0.0:
            break
        delta = poly / slope
        lam -= delta
        if abs(delta) <= 1e-15 * bound:
            break
    # the eigenvector is any non-zero column of adj(key - lam I); take the largest
    for k in range(4):
        key[k, k] -= lam
    adjugate4(key, adj)
    best_col = 0
    best_norm2 = -1.0
    for col in range(4):
        norm2 = adj[0, col] ** 2 + adj[1, col] ** 2 + adj[2, col] ** 2 + adj[3, col] ** 2
        if norm2 > best_norm2:
            best_norm2 = norm2
            best_col = col
    scale3 = max(abs(lam), 1e-300) ** 3
    if best_norm2 > (1e-6 * scale3) ** 2:
        norm = np.sqrt(best_norm2)
        for k in range(4):
            q[k] = adj[k, best_col] / norm
        return max(lam, 0.0)
    for k in range(4):  # nearly repeated eigenvalue: fall back on a full symmetric eigen-solver
        key[k, k] += lam
    values, vectors = np.linalg.eigh(key)
    for k in range(4):
        q[k] = vectors[k, 3]
    return max(values[3], 0.0)


@njit(cache=True, nogil=True)
def rotation_from_quaternion(q, r):
    w, x, y, z = q[0], q[1], q[2], q[3]
    r[0, 0] = w * w + x * x - y * y - z * z
    r[0, 1] = 2.0 * (x * y - w * z)
    r[0, 2] = 2.0 * (x * z + w * y)
    r[1, 0] = 2.0 * (y * x + w * z)
    r[1, 1] = w * w - x * x + y * y - z * z
    r[1, 2] = 2.0 * (y * z - w * x)
    r[2, 0] = 2.0 * (z * x - w * y)
    r[2, 1] = 2.0 * (z * y + w * x)
    r[2, 2] = w * w - x * x - y * y + z * z


@njit(cache=True, nogil=True)
def procrustes_frame_cost(x, y, work):
    """Mean Euclidean distance between ``y`` and ``x`` after the best similarity transform of ``x`` onto
    ``y``. ``x``, ``y``: (P, 3) float64 points, each centred on its own centroid; ``work``: (4, 4, 4)."""
    s, key, adj, r = work[0], work[1], work[2], work[3]
    q = work[0, 3]  # row 3 of the first slab: s only uses rows 0-2
    n_points = x.shape[0]
    nx2 = 0.0
    ny2 = 0.0
    for u in range(3):
        for v in range(3):
            s[u, v] = 0.0
    for p in range(n_points):
        x0, x1, x2 = x[p, 0], x[p, 1], x[p, 2]
        y0, y1, y2 = y[p, 0], y[p, 1], y[p, 2]
        nx2 += x0 * x0 + x1 * x1 + x2 * x2
        ny2 += y0 * y0 + y1 * y1 + y2 * y2
        s[0, 0] += x0 * y0
        s[0, 1] += x0 * y1
        s[0, 2] += x0 * y2
        s[1, 0] += x1 * y0
        s[1, 1] += x1 * y1
        s[1, 2] += x1 * y2
        s[2, 0] += x2 * y0
        s[2, 1] += x2 * y1
        s[2, 2] += x2 * y2
    scale = 0.0
    if nx2 > 0.0 and ny2 > 0.0:
        g = best_rotation_quaternion(s, np.sqrt(nx2 * ny2), key, adj, q)
        rotation_from_quaternion(q, r)
        scale = g / nx2
    else:
        rotation_from_quaternion(np.array([1.0, 0.0, 0.0, 0.0]), r)
    total = 0.0
    for p in range(n_points):
        x0, x1, x2 = x[p, 0], x[p, 1], x[p, 2]
        d0 = scale * (r[0, 0] * x0 + r[0, 1] * x1 + r[0, 2] * x2) - y[p, 0]
        d1 = scale * (r[1, 0] * x0 + r[1, 1] * x1 + r[1, 2] * x2) - y[p, 1]
        d2 = scale * (r[2, 0] * x0 + r[2, 1] * x1 + r[2, 2] * x2) - y[p, 2]
        total += np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
    return total / n_points


@njit(cache=True, nogil=True)
def procrustes_costs(a, i, b, work, out, j0, j1):
    """``out[j]`` = the Procrustes frame cost of centred frames ``a[i]`` and ``b[j]`` for ``j0 <= j < j1``;
    ``work``: (4, 4, 4) scratch."""
    for j in range(j0, j1):
        out[j] = procrustes_frame_cost(a[i], b[j], work)


@njit(cache=True, nogil=True)
def centred(points):
    """(T, P, 3) float64 copy of ``points`` with every frame centred on its own centroid."""
    out = np.empty(points.shape)
    n_points = points.shape[1]
    for t in range(points.shape[0]):
        for u in range(3):
            mean = 0.0
            for p in range(n_points):
                mean += points[t, p, u]
            mean /= n_points
            for p in range(n_points):
                out[t, p, u] = points[t, p, u] - mean
    return out


def procrustes_cost(x: np.ndarray, y: np.ndarray) -> float:
    """The ``"procrustes"`` frame cost between two frames ``x``, ``y`` (P, 3), each already centred on its
    centroid: mean distance after the best similarity transform of ``x`` onto ``y`` (float64).

    >>> import numpy as np
    >>> x = np.random.default_rng(2).normal(size=(6, 3)); x -= x.mean(0)
    >>> round(procrustes_cost(x, 3.0 * x[:, [2, 0, 1]]), 9)       # a rotated, scaled copy costs 0
    0.0
    """
    return float(procrustes_frame_cost(np.ascontiguousarray(x, dtype=np.float64),
                                        np.ascontiguousarray(y, dtype=np.float64), np.zeros((4, 4, 4))))

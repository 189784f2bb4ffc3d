"""The fitting's loss terms: small pure torch functions, shapes and units in the docstrings.

Reprojection residuals are measured in percent of the *part's* size in the image (per clip: the median
over frames of the diagonal of the part's confident keypoints' bounding box), so body, hands and face
weigh alike whatever the resolution or framing; the robust penaliser is Geman-McClure
``rho(r) = sigma^2 r^2 / (sigma^2 + r^2)`` (``r^2`` near 0, bounded by ``sigma^2`` for outliers; Geman &
McClure 1987, the form SMPLify uses).
"""

from __future__ import annotations

import torch
from torch import Tensor


def geman_mcclure(squared_residual: Tensor, sigma: float) -> Tensor:
    """``sigma^2 r^2 / (r^2 + sigma^2)`` element-wise, for squared residuals ``r^2`` >= 0 (unit of sigma^2)."""
    s2 = sigma * sigma
    return s2 * squared_residual / (squared_residual + s2)


def part_means(values: Tensor, weights: Tensor, part: Tensor, n_parts: int) -> tuple[Tensor, Tensor]:
    """Weighted mean of ``values (T, K)`` per part: ``part (K,)`` long in ``[0, n_parts)``, ``weights (T, K)``
    >= 0. Returns ``(means (n_parts,), total weight (n_parts,))``; a part without weight has mean 0."""
    num = values.new_zeros(n_parts).index_add(0, part, (values * weights).sum(0))
    den = values.new_zeros(n_parts).index_add(0, part, weights.sum(0))
    return num / den.clamp_min(1e-8), den


def reprojection_terms(pred_px: Tensor, obs_px: Tensor, confidence: Tensor, part_scale_px: Tensor, part: Tensor,
                       n_parts: int, sigma: float) -> tuple[Tensor, Tensor]:
    """Robust reprojection loss per part: ``pred_px, obs_px (T, K, 2)`` pixels, ``confidence (T, K)``,
    ``part_scale_px (K,)`` the size of each keypoint's part in pixels, ``part (K,)``. Residuals in percent of
    the part size are penalised by Geman-McClure(``sigma``, percent) and averaged with confidence weights
    within each part. Returns ``(loss per part (n_parts,), confidence mass per part (n_parts,))``."""
    sq = ((pred_px - obs_px) * (100.0 / part_scale_px[None, :, None])).square().sum(-1)
    return part_means(geman_mcclure(sq, sigma), confidence, part, n_parts)


def keypoints3d_term(pred: Tensor, obs: Tensor, confidence: Tensor, sigma: float) -> Tensor:
    """Robust 3D keypoint loss: ``pred, obs (T, K, 3)`` metres (``obs`` after the per-clip similarity),
    ``confidence (T, K)``; Geman-McClure(``sigma_mm``) on the distance in mm, mean with confidence weights."""
    sq = (pred - obs).square().sum(-1) * 1e6
    return (geman_mcclure(sq, sigma) * confidence).sum() / confidence.sum().clamp_min(1e-8)


def acceleration_term(points: Tensor) -> Tensor:
    """Mean squared second difference of ``points (T, P, 3)`` in metres, reported in mm^2 per frame^4
    (``||p[t+1] - 2 p[t] + p[t-1]||^2 * 1e6``); 0 for fewer than 3 frames or no points."""
    if points.shape[0] < 3 or points.shape[1] == 0:
        return points.new_zeros(())
    acc = points[2:] - 2 * points[1:-1] + points[:-2]
    return acc.square().sum(-1).mean() * 1e6


def l2_to(x: Tensor, target: Tensor) -> Tensor:
    """Mean over all but the last axis of the squared distance ``||x - target||^2`` (target broadcasts)."""
    return (x - target).square().sum(-1).mean()


def mean_pixel_error(pred_px: Tensor, obs_px: Tensor, confidence: Tensor, min_confidence: float) -> Tensor:
    """Confidence-weighted mean Euclidean pixel error over keypoints with ``confidence >= min_confidence``;
    ``(T, K, 2)``, ``(T, K, 2)``, ``(T, K)`` -> scalar pixels (NaN when no keypoint qualifies)."""
    w = confidence * (confidence >= min_confidence)
    err = (pred_px - obs_px).norm(dim=-1)
    return (err * w).sum() / w.sum() if bool(w.sum() > 0) else err.new_tensor(float("nan"))

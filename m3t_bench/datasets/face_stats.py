"""Numbers that describe the face stream of a dataset, so that a corpus (SynthSign, or a user's pseudo-GT)
can be compared with real FLAME fits.

All figures are computed on the 100 FLAME expression coefficients *within signer*: every frame is
centred on the mean of its signer (group), so that one long real sequence of one speaker and a corpus
of short clips by many signers are comparable. The between-signer spread is reported separately.

* ``variance (100,)``: within-signer variance per component (coefficient units squared);
* ``eigenvalues (100,)`` of the within-signer covariance, descending; ``effective_rank_90`` / ``_99``: the
  fewest principal directions that hold 90% / 99% of the variance;
* ``mean_abs_correlation``: mean absolute correlation between two different components;
* ``autocorrelation``: lag (ms) -> mean over components of the within-signer autocorrelation at that lag
  (lags in seconds, rounded to whole frames at each clip's frame rate; pairs never cross clips);
* ``mean_speed``: mean over frame pairs of the L2 norm of the expression velocity (coefficient units / s);
* ``blink_rate_per_min``: upward crossings of 0.5 by the mean of the two eyelid scalars, per minute of
  data (None when the eyelids never move: a source without eyelid channels);
* ``jaw_coupling_r``: multiple correlation between the jaw-opening angle (the x component of the jaw's
  axis-angle, rad) and the expression coefficients, within signer (None when the jaw never moves).

Memory is bounded: clips are streamed once, with per-signer running sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from m3t_bench.motion.layout import FACE_DIM, FACE_EYELIDS, FACE_JAW_6D, N_EXPRESSION

#: Autocorrelation lags reported, in seconds (1, 5 and 10 frames at 30 fps).
LAGS_S = (1 / 30, 5 / 30, 10 / 30)
BLINK_THRESHOLD = 0.5


@dataclass
class FaceStats:
    """See the module docstring. ``n_groups``: signers; ``seconds``: total duration."""

    n_clips: int
    n_frames: int
    n_groups: int
    seconds: float
    variance: np.ndarray
    between_variance: np.ndarray
    eigenvalues: np.ndarray
    effective_rank_90: int
    effective_rank_99: int
    mean_abs_correlation: float
    autocorrelation: dict[int, float]
    mean_speed: float
    blink_rate_per_min: float | None
    jaw_coupling_r: float | None

    def variance_profile(self, bins: int = 10) -> np.ndarray:
        """Mean within-signer variance of each run of ``100 / bins`` consecutive components ``(bins,)``."""
        return self.variance.reshape(bins, -1).mean(axis=1)

    def to_json(self) -> dict:
        """Plain-JSON form (arrays as lists)."""
        return {"n_clips": self.n_clips, "n_frames": self.n_frames, "n_groups": self.n_groups,
                "seconds": self.seconds, "variance": self.variance.tolist(),
                "between_variance": self.between_variance.tolist(), "eigenvalues": self.eigenvalues.tolist(),
                "effective_rank_90": self.effective_rank_90, "effective_rank_99": self.effective_rank_99,
                "mean_abs_correlation": self.mean_abs_correlation,
                "autocorrelation": {str(k): v for k, v in self.autocorrelation.items()},
                "mean_speed": self.mean_speed, "blink_rate_per_min": self.blink_rate_per_min,
                "jaw_coupling_r": self.jaw_coupling_r}


def effective_rank(eigenvalues: np.ndarray, share: float) -> int:
    """Fewest leading eigenvalues (descending order) whose sum reaches ``share`` of the total (0 if none)."""
    ev = np.clip(np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1], 0.0, None)
    total = ev.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(ev) / total, share - 1e-12) + 1)


def jaw_opening(face: np.ndarray) -> np.ndarray:
    """Jaw-opening angle ``(T,)`` rad (x component of the axis-angle) of a face stream ``(T, 108)``."""
    from m3t_bench.motion import rot6d_to_axis_angle
    jaw = torch.as_tensor(np.asarray(face[:, FACE_JAW_6D], dtype=np.float64))
    return rot6d_to_axis_angle(jaw)[:, 0].numpy()


def face_from_flame(expressions: np.ndarray, jaw_axis_angle: np.ndarray | None = None) -> np.ndarray:
    """A contract face stream ``(T, 108)`` from FLAME expression coefficients ``(T, 100)`` and an optional
    jaw axis-angle ``(T, 3)`` (rad); eyelids zero (FLAME's expression space has no eyelid channel)."""
    from m3t_bench.motion import axis_angle_to_rot6d
    expressions = np.asarray(expressions, dtype=np.float64)
    face = np.zeros((expressions.shape[0], FACE_DIM))
    face[:, :N_EXPRESSION] = expressions
    jaw = np.zeros((expressions.shape[0], 3)) if jaw_axis_angle is None else np.asarray(jaw_axis_angle, np.float64)
    face[:, FACE_JAW_6D] = axis_angle_to_rot6d(torch.as_tensor(jaw)).numpy()
    return face


class _Group:
    """Running sums of one signer's frames."""

    def __init__(self, n_lags: int):
        d = N_EXPRESSION + 1                  # expression + jaw angle
        self.n = 0
        self.s = np.zeros(d)
        self.ss = np.zeros((d, d))
        self.lag_n = np.zeros(n_lags)
        self.lag_xy = np.zeros((n_lags, N_EXPRESSION))
        self.lag_sum = np.zeros((n_lags, N_EXPRESSION))

    def add(self, xj: np.ndarray, lags: list[int]) -> None:
        self.n += xj.shape[0]
        self.s += xj.sum(axis=0)
        self.ss += xj.T @ xj
        x = xj[:, :N_EXPRESSION]
        for i, lag in enumerate(lags):
            if 0 < lag < x.shape[0]:
                a, b = x[:-lag], x[lag:]
                self.lag_n[i] += a.shape[0]
                self.lag_xy[i] += (a * b).sum(axis=0)
                self.lag_sum[i] += a.sum(axis=0) + b.sum(axis=0)


def face_statistics(clips: Iterable[tuple[np.ndarray, float, str]], *, lags_s=LAGS_S) -> FaceStats:
    """Statistics of ``clips``: an iterable of ``(face (T, 108), fps, group)`` (group = signer id).
    See the module docstring for every field. Raises ``ValueError`` when there is no frame at all."""
    groups: dict[str, _Group] = {}
    n_clips = n_frames = 0
    seconds = speed_sum = 0.0
    speed_n = blinks = 0
    eyelid_moves = False
    for face, fps, group in clips:
        face = np.asarray(face, dtype=np.float64)
        if face.ndim != 2 or face.shape[1] != FACE_DIM or face.shape[0] == 0:
            raise ValueError(f"face stream of shape {face.shape}, expected (T>0, {FACE_DIM})")
        lags = [max(1, int(round(lag * fps))) for lag in lags_s]
        x = face[:, :N_EXPRESSION]
        xj = np.concatenate([x, jaw_opening(face)[:, None]], axis=1)
        groups.setdefault(str(group), _Group(len(lags))).add(xj, lags)
        n_clips += 1
        n_frames += face.shape[0]
        seconds += face.shape[0] / fps
        if face.shape[0] > 1:
            speed = np.linalg.norm(np.diff(x, axis=0), axis=1) * fps
            speed_sum += float(speed.sum())
            speed_n += speed.shape[0]
        lid = face[:, FACE_EYELIDS].mean(axis=1)
        eyelid_moves |= bool(np.ptp(lid) > 1e-6)
        above = lid > BLINK_THRESHOLD
        blinks += int(np.count_nonzero(above[1:] & ~above[:-1]))
    if n_frames == 0:
        raise ValueError("no frames: face statistics need at least one clip")
    d = N_EXPRESSION + 1
    within = np.zeros((d, d))
    means, weights = [], []
    lag_num = np.zeros((len(lags_s), N_EXPRESSION))
    lag_den = np.zeros(len(lags_s))
    for g in groups.values():
        m = g.s / g.n
        within += g.ss - g.n * np.outer(m, m)
        means.append(m)
        weights.append(g.n)
        mx = m[:N_EXPRESSION]
        lag_num += g.lag_xy - g.lag_sum * mx + g.lag_n[:, None] * mx * mx
        lag_den += g.lag_n
    within /= max(n_frames - len(groups), 1)
    means = np.asarray(means)
    w = np.asarray(weights, dtype=np.float64) / n_frames
    grand = w @ means
    between = (w[:, None] * (means - grand) ** 2).sum(axis=0)[:N_EXPRESSION]
    cov = within[:N_EXPRESSION, :N_EXPRESSION]
    var = np.clip(np.diag(cov).copy(), 0.0, None)
    eig = np.clip(np.linalg.eigvalsh(cov)[::-1], 0.0, None)
    active = var > 1e-10
    if active.sum() >= 2:
        sd = np.sqrt(var[active])
        corr = cov[np.ix_(active, active)] / np.outer(sd, sd)
        mean_abs_corr = float(np.abs(corr[~np.eye(corr.shape[0], dtype=bool)]).mean())
    else:
        mean_abs_corr = float("nan")
    autocorr = {}
    for i, lag in enumerate(lags_s):
        if lag_den[i] > 0 and active.any():
            autocorr[int(round(lag * 1000))] = float(np.mean(lag_num[i, active] / lag_den[i] / var[active]))
    jaw_var = within[N_EXPRESSION, N_EXPRESSION]
    jaw_r = None
    if jaw_var > 1e-12 and active.any():
        c = within[:N_EXPRESSION, N_EXPRESSION]
        explained = float(c @ np.linalg.pinv(cov, rcond=1e-8, hermitian=True) @ c)
        jaw_r = float(np.sqrt(np.clip(explained / jaw_var, 0.0, 1.0)))
    return FaceStats(n_clips=n_clips, n_frames=n_frames, n_groups=len(groups), seconds=seconds, variance=var,
                     between_variance=between, eigenvalues=eig, effective_rank_90=effective_rank(eig, 0.90),
                     effective_rank_99=effective_rank(eig, 0.99), mean_abs_correlation=mean_abs_corr,
                     autocorrelation=autocorr, mean_speed=speed_sum / max(speed_n, 1),
                     blink_rate_per_min=blinks / (seconds / 60.0) if eyelid_moves else None, jaw_coupling_r=jaw_r)


def split_clips(split, limit: int | None = None):
    """``(face, fps, signer)`` for the samples of an opened split (:func:`m3t_bench.datasets.open_split`),
    the first ``limit`` ones when given; sample files are read one at a time."""
    for entry in split.entries[:limit]:
        yield split.load(entry["id"]).face, float(entry["fps"]), str(entry.get("signer", ""))


def format_face_stats(columns: dict[str, FaceStats]) -> str:
    """Two text tables with one row per named :class:`FaceStats`: the figures, then the variance profile
    (mean within-signer variance of components 1-10, 11-20, ..., 91-100)."""
    from tabulate import tabulate

    def fmt(v, spec=".3g"):
        return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)

    lag_keys = sorted({k for s in columns.values() for k in s.autocorrelation})
    rows = [[name, f"{s.n_clips}/{s.n_groups}/{s.seconds:.0f}", int((s.variance > 1e-6).sum()),
             fmt(float(s.variance.sum())), fmt(float(s.between_variance.sum())),
             f"{s.effective_rank_90}/{s.effective_rank_99}", fmt(s.mean_abs_correlation, ".2f"),
             "/".join(fmt(s.autocorrelation.get(k), ".2f") for k in lag_keys), fmt(s.mean_speed, ".1f"),
             fmt(s.blink_rate_per_min, ".1f"), fmt(s.jaw_coupling_r, ".2f")] for name, s in columns.items()]
    headers = ["face stream", "clips/signers/s", "moving", "variance", "between", "rank 90/99%", "|corr|",
               "autocorr " + "/".join(map(str, lag_keys)) + " ms", "speed/s", "blinks/min", "jaw R"]
    profile = [[name, *(fmt(float(v), ".2f") for v in s.variance_profile())] for name, s in columns.items()]
    return (tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True) + "\n\n"
            + tabulate(profile, headers=["variance by tens", *(f"{10 * i + 1}-{10 * i + 10}" for i in range(10))],
                       tablefmt="simple", disable_numparse=True)
            + "\n(within-signer figures over the 100 expression coefficients: variance = total, between = spread of "
              "the signers' means, moving = components with variance > 1e-6, speed in coefficient units)")

"""A small generative model of FLAME expression coefficients over time, fitted to a real sequence.

SynthSign's faces (lexicon format 2) are built in the coordinates of this model, so that their
per-component variance, cross-component covariance and temporal autocorrelation follow a real FLAME
fit rather than a hand-made pattern.

Model (all 100 FLAME expression components, coefficient units):

* ``x(t) = mean + basis @ (scales * z(t))``: a low-rank Gaussian. ``basis (100, K)`` holds the
  orthonormal principal directions of the real sequence, ``scales (K,)`` their standard deviations; ``K``
  is the numerical rank of the real covariance (directions with more than 1e-6 of the largest variance).
* ``z_k(t)``, one unit-variance latent per direction, is a stationary Gaussian process whose
  autocorrelation is a mixture of two Matérn-3/2 kernels (once-differentiable, i.e. smooth paths):
  ``rho_k(tau) = w_k m(tau; l_fast_k) + (1 - w_k) m(tau; l_slow_k)``, ``m(tau; l) = (1 + a) exp(-a)``
  with ``a = sqrt(3) |tau| / l``. Length scales are in seconds, so the model samples exactly at any frame
  rate (the state-space form of each kernel is discretised exactly).
* ``speech_fraction (K,)``: each direction's share of power in the 2–8 Hz articulation band (used to put
  mouthings on the fast, speech-like directions and brows on the slow ones).
* ``jaw_direction (K,)``: the unit latent direction whose projection best predicts the jaw-opening
  angle of the same sequence (least squares), ``jaw_sd_rad`` the real jaw-opening standard deviation.

The parameters ship as ``m3t_bench/synth/data/face_prior.npz`` with their provenance (source file,
its sha256, licence); the real sequence itself is never part of the package. Refit with
``python -m m3t_bench.synth.face_prior_fit SOURCE.npz --out FILE``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.motion.layout import N_EXPRESSION
from m3t_bench.motion.npz import read_npz, write_npz

#: The prior shipped with the package.
DEFAULT_PRIOR = "face_prior.npz"
_ARRAYS = ("mean", "basis", "scales", "timescales", "fast_weight", "speech_fraction", "jaw_direction")


@dataclass(frozen=True)
class FacePrior:
    """Parameters of the model in the module docstring (float64 arrays; ``K`` = rank)."""

    mean: np.ndarray              # (100,) coefficient units
    basis: np.ndarray             # (100, K) orthonormal columns
    scales: np.ndarray            # (K,) standard deviation along each column, coefficient units
    timescales: np.ndarray        # (K, 2) Matérn-3/2 length scales in seconds: fast, slow
    fast_weight: np.ndarray       # (K,) weight of the fast kernel in [0, 1]
    speech_fraction: np.ndarray   # (K,) share of power in 2-8 Hz
    jaw_direction: np.ndarray     # (K,) unit vector in the whitened latent space
    jaw_sd_rad: float
    provenance: dict = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return int(self.scales.shape[0])

    def to_coefficients(self, latent: np.ndarray) -> np.ndarray:
        """Whitened latent ``(..., K)`` -> expression *offsets* from ``mean`` ``(..., 100)``."""
        return (np.asarray(latent) * self.scales) @ self.basis.T

    def autocorrelation(self, lag_s: np.ndarray) -> np.ndarray:
        """Model autocorrelation ``(len(lag_s), K)`` of every latent at the lags ``lag_s`` (seconds)."""
        tau = np.abs(np.asarray(lag_s, dtype=np.float64))[:, None, None]
        a = np.sqrt(3.0) * tau / self.timescales[None]
        m = (1.0 + a) * np.exp(-a)
        return self.fast_weight * m[..., 0] + (1.0 - self.fast_weight) * m[..., 1]

    def sample_dynamics(self, n: int, fps: float, rng: np.random.Generator,
                        variance: np.ndarray | None = None) -> np.ndarray:
        """``n`` frames at ``fps`` of the latent processes, ``(n, K)``; stationary from the first frame,
        unit variance per latent (times ``variance (K,)`` when given). Draws ``(2 + 2n) * 2K`` normals."""
        return sample_matern_mixture(self.timescales, self.fast_weight, n, fps, rng) * (
            1.0 if variance is None else np.sqrt(np.asarray(variance, dtype=np.float64)))

    def real_statistics(self):
        """The real sequence's :class:`~m3t_bench.datasets.face_stats.FaceStats` as recorded at fitting time
        (no eyelid channel: blink rate n/a), for comparison tables without the real file."""
        from m3t_bench.datasets.face_stats import FaceStats
        rs = self.provenance["real_statistics"]
        fps, n = float(self.provenance["fps"]), int(self.provenance["n_frames"])
        eig = np.zeros(N_EXPRESSION)
        eig[:self.rank] = self.scales ** 2
        return FaceStats(n_clips=1, n_frames=n, n_groups=1, seconds=n / fps, variance=np.asarray(rs["variance"]),
                         between_variance=np.zeros(N_EXPRESSION), eigenvalues=eig,
                         effective_rank_90=int(rs["effective_rank_90"]), effective_rank_99=int(rs["effective_rank_99"]),
                         mean_abs_correlation=float(rs["mean_abs_correlation"]),
                         autocorrelation={int(k): float(v) for k, v in rs["autocorrelation"].items()},
                         mean_speed=float(rs["mean_speed"]), blink_rate_per_min=None,
                         jaw_coupling_r=rs.get("jaw_coupling_r"))

    # ------------------------------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the parameters and the provenance (JSON in a unicode array) to one ``.npz``, atomically."""
        arrays = {name: np.asarray(getattr(self, name), dtype=np.float64) for name in _ARRAYS}
        arrays["jaw_sd_rad"] = np.float64(self.jaw_sd_rad)
        arrays["provenance"] = np.array(json.dumps(self.provenance, sort_keys=True))
        write_npz(path, arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "FacePrior":
        """Read a prior written by :meth:`save` (never unpickles; UserError naming the file when malformed)."""
        arrays = read_npz(path)
        missing = [k for k in (*_ARRAYS, "jaw_sd_rad", "provenance") if k not in arrays]
        if missing:
            raise UserError(f"not a SynthSign face prior (missing {', '.join(missing)})", file=path)
        prior = cls(**{k: np.asarray(arrays[k], dtype=np.float64) for k in _ARRAYS},
                    jaw_sd_rad=float(arrays["jaw_sd_rad"]), provenance=json.loads(str(arrays["provenance"])))
        k = prior.rank
        shapes = {"mean": (N_EXPRESSION,), "basis": (N_EXPRESSION, k), "timescales": (k, 2), "fast_weight": (k,),
                  "speech_fraction": (k,), "jaw_direction": (k,)}
        for name, shape in shapes.items():
            if getattr(prior, name).shape != shape:
                raise UserError(f"shape {getattr(prior, name).shape}, expected {shape}", file=path, field=name)
        return prior


@lru_cache(maxsize=1)
def default_prior() -> FacePrior:
    """The prior shipped in ``m3t_bench/synth/data/`` (loaded once)."""
    with resources.as_file(resources.files("m3t_bench.synth") / "data" / DEFAULT_PRIOR) as path:
        return FacePrior.load(path)


def default_prior_sha256() -> str:
    """sha256 of the shipped prior file (recorded with every corpus generated from it)."""
    from m3t_bench.fileio import sha256_file
    with resources.as_file(resources.files("m3t_bench.synth") / "data" / DEFAULT_PRIOR) as path:
        return sha256_file(path)


def _matern_transitions(length_s: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact discretisation over ``dt`` seconds of unit-variance Matérn-3/2 processes with length scales
    ``length_s (...)``: transition ``A (..., 2, 2)`` and the Cholesky factor ``(..., 2, 2)`` of the step
    noise covariance, for the state (value, derivative)."""
    lam = np.sqrt(3.0) / np.asarray(length_s, dtype=np.float64)
    e = np.exp(-lam * dt)
    a = np.empty((*lam.shape, 2, 2))
    a[..., 0, 0] = e * (1.0 + lam * dt)
    a[..., 0, 1] = e * dt
    a[..., 1, 0] = -e * lam * lam * dt
    a[..., 1, 1] = e * (1.0 - lam * dt)
    p_inf = np.zeros_like(a)
    p_inf[..., 0, 0] = 1.0
    p_inf[..., 1, 1] = lam * lam
    q = p_inf - a @ p_inf @ np.swapaxes(a, -1, -2)
    q = 0.5 * (q + np.swapaxes(q, -1, -2)) + np.eye(2) * 1e-12 * p_inf.max(axis=(-1, -2), keepdims=True)
    return a, np.linalg.cholesky(q)


def sample_matern_mixture(timescales: np.ndarray, fast_weight: np.ndarray, n: int, fps: float,
                          rng: np.random.Generator) -> np.ndarray:
    """``(n, K)`` unit-variance stationary processes, each ``sqrt(w) f + sqrt(1 - w) s`` with ``f``, ``s``
    independent Matérn-3/2 processes of length scales ``timescales[:, 0]`` and ``[:, 1]`` (seconds).

    Exact in distribution: the state (value, derivative) starts from the stationary law and moves by the
    exact transition ``A`` of one frame; the value is ``(A^t x_0)_0 + sum_{s<=t} (A^(t-s) w_s)_0``, whose
    powers are closed-form (``A^m = exp(-lam m dt) [[1 + lam m dt, m dt], ...]``), so the sum is one FFT
    convolution over time. Draws ``(K, 2, 2)`` then ``(n, K, 2, 2)`` standard normals."""
    timescales = np.asarray(timescales, dtype=np.float64)
    dt = 1.0 / float(fps)
    lam = np.sqrt(3.0) / timescales
    _, chol = _matern_transitions(timescales, dt)
    state = rng.standard_normal((*timescales.shape, 2)) * np.stack([np.ones_like(lam), lam], axis=-1)
    eps = rng.standard_normal((n, *timescales.shape, 2))
    steps_value = chol[..., 0, 0] * eps[..., 0]                       # lower-triangular 2x2 factor
    steps_slope = chol[..., 1, 0] * eps[..., 0] + chol[..., 1, 1] * eps[..., 1]
    m = np.arange(n, dtype=np.float64)[:, None, None] * dt
    decay = np.exp(-lam * m)
    h_value, h_slope = decay * (1.0 + lam * m), decay * m          # (A^m)_00, (A^m)_01
    value = h_value * state[..., 0] + h_slope * state[..., 1]
    if n > 1:
        size = 1 << int(np.ceil(np.log2(2 * n)))
        spectrum = (np.fft.rfft(h_value, size, axis=0) * np.fft.rfft(steps_value[1:], size, axis=0)
                    + np.fft.rfft(h_slope, size, axis=0) * np.fft.rfft(steps_slope[1:], size, axis=0))
        value[1:] += np.fft.irfft(spectrum, size, axis=0)[:n - 1]
    w = np.clip(np.asarray(fast_weight, dtype=np.float64), 0.0, 1.0)
    return np.sqrt(w) * value[..., 0] + np.sqrt(1.0 - w) * value[..., 1]

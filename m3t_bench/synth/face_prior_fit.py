"""Fitting the SynthSign face prior (:mod:`m3t_bench.synth.face_prior`) to a real FLAME sequence.

    python -m m3t_bench.synth.face_prior_fit ../shared/data/flame-motion/beat2_scott_0_1_1.npz \\
        --out m3t_bench/synth/data/face_prior.npz

The source is an ``.npz`` with ``expressions (T, 100)`` FLAME expression coefficients and ``poses (T, 165)``
SMPL-X axis-angles (the jaw is joint 22, so columns 66:69), as in the BEAT2 release; the frame rate is
``mocap_frame_rate`` when present, else ``--fps``. Only the fitted parameters and the provenance (file
name, sha256, licence note) are written; the real data stays where it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from m3t_bench.datasets.face_stats import face_from_flame, face_statistics
from m3t_bench.errors import UserError
from m3t_bench.fileio import sha256_file
from m3t_bench.motion.layout import N_EXPRESSION, SMPLX_JOINT_NAMES
from m3t_bench.motion.npz import read_npz
from m3t_bench.synth.face_prior import FacePrior

RANK_TOLERANCE = 1e-6           # directions with less than this share of the largest variance are dropped
ACF_MAX_LAG_S = 3.0             # autocorrelation fitted up to this lag
SPEECH_BAND_HZ = (2.0, 8.0)     # syllable-rate articulation band
JAW_COLUMNS = slice(3 * SMPLX_JOINT_NAMES.index("jaw"), 3 * SMPLX_JOINT_NAMES.index("jaw") + 3)


def _autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation ``(max_lag + 1, K)`` of the columns of ``x (T, K)`` (biased estimator)."""
    x = x - x.mean(axis=0)
    denom = (x * x).sum(axis=0)
    return np.stack([(x[lag:] * x[:x.shape[0] - lag]).sum(axis=0) / denom for lag in range(max_lag + 1)])


def _fit_kernel_mixture(acf: np.ndarray, fps: float) -> tuple[np.ndarray, float]:
    """Least-squares fit of ``w m(tau; l_fast) + (1 - w) m(tau; l_slow)`` to one autocorrelation ``acf (L+1,)``
    (lags weighted by ``1 / (1 + tau)``); returns ``((l_fast, l_slow) in s, w)``."""
    tau = np.arange(acf.shape[0]) / fps
    weight = 1.0 / (1.0 + tau)

    def kernel(log_l):
        a = np.sqrt(3.0) * tau / np.exp(log_l)
        return (1.0 + a) * np.exp(-a)

    def residual(p):
        w = 1.0 / (1.0 + np.exp(-p[2]))
        return (w * kernel(p[0]) + (1.0 - w) * kernel(p[1]) - acf) * weight

    best = None
    for start in ((0.1, 1.0, 1.0), (0.2, 3.0, 0.0), (0.05, 0.5, 2.0)):
        sol = least_squares(residual, [np.log(start[0]), np.log(start[1]), start[2]])
        if best is None or sol.cost < best.cost:
            best = sol
    lengths = np.exp(best.x[:2])
    w = float(1.0 / (1.0 + np.exp(-best.x[2])))
    if lengths[0] > lengths[1]:
        lengths, w = lengths[::-1], 1.0 - w
    return lengths, w


def fit_face_prior(expressions: np.ndarray, jaw_opening_rad: np.ndarray, fps: float, *,
                   provenance: dict | None = None) -> FacePrior:
    """Fit the prior to ``expressions (T, 100)`` and the jaw-opening angle ``(T,)`` (rad) at ``fps``."""
    x = np.asarray(expressions, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != N_EXPRESSION or x.shape[0] < 4 * int(ACF_MAX_LAG_S * fps):
        raise ValueError(f"expressions of shape {x.shape}; expected (T, {N_EXPRESSION}) with T >= "
                         f"{4 * int(ACF_MAX_LAG_S * fps)} frames")
    mean = x.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(np.cov((x - mean).T))
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = eigval[order], eigvec[:, order]
    rank = int((eigval > RANK_TOLERANCE * eigval[0]).sum())
    basis = eigvec[:, :rank]
    basis *= np.where(basis[np.abs(basis).argmax(axis=0), np.arange(rank)] < 0, -1.0, 1.0)  # sign convention
    scales = np.sqrt(eigval[:rank])
    latent = (x - mean) @ basis / scales
    acf = _autocorrelation(latent, int(round(ACF_MAX_LAG_S * fps)))
    timescales = np.zeros((rank, 2))
    fast_weight = np.zeros(rank)
    for k in range(rank):
        timescales[k], fast_weight[k] = _fit_kernel_mixture(acf[:, k], fps)
    power = np.abs(np.fft.rfft(latent - latent.mean(axis=0), axis=0)) ** 2
    freq = np.fft.rfftfreq(latent.shape[0], 1.0 / fps)
    band = (freq >= SPEECH_BAND_HZ[0]) & (freq < SPEECH_BAND_HZ[1])
    speech_fraction = power[band].sum(axis=0) / power[1:].sum(axis=0)
    jaw = np.asarray(jaw_opening_rad, dtype=np.float64) - np.mean(jaw_opening_rad)
    coef, *_ = np.linalg.lstsq(latent, jaw, rcond=None)
    jaw_direction = coef / max(np.linalg.norm(coef), 1e-12)
    stats = face_statistics([(face_from_flame(x, np.stack([jaw + np.mean(jaw_opening_rad),
                                                           np.zeros_like(jaw), np.zeros_like(jaw)], 1)), fps, "real")])
    record = {**(provenance or {}), "fps": fps, "n_frames": int(x.shape[0]), "rank": rank,
              "rank_tolerance": RANK_TOLERANCE, "acf_max_lag_s": ACF_MAX_LAG_S, "speech_band_hz": list(SPEECH_BAND_HZ),
              "real_statistics": {"variance": stats.variance.round(6).tolist(),
                                  "effective_rank_90": stats.effective_rank_90,
                                  "effective_rank_99": stats.effective_rank_99,
                                  "mean_abs_correlation": round(stats.mean_abs_correlation, 6),
                                  "autocorrelation": {str(k): round(v, 6) for k, v in stats.autocorrelation.items()},
                                  "mean_speed": round(stats.mean_speed, 6),
                                  "jaw_coupling_r": None if stats.jaw_coupling_r is None else round(stats.jaw_coupling_r, 8)}}
    return FacePrior(mean=mean, basis=basis, scales=scales, timescales=timescales, fast_weight=fast_weight,
                     speech_fraction=speech_fraction, jaw_direction=jaw_direction, jaw_sd_rad=float(jaw.std()),
                     provenance=record)


def load_flame_sequence(path: str | Path, fps: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(expressions (T, 100), jaw opening (T,) rad, fps)`` from a BEAT2-style ``.npz`` (see module doc)."""
    arrays = read_npz(path)
    if "expressions" not in arrays:
        raise UserError("no 'expressions' array (expected FLAME expression coefficients (T, 100))", file=path,
                        field="expressions")
    expressions = np.asarray(arrays["expressions"], dtype=np.float64)
    if expressions.ndim != 2 or expressions.shape[1] != N_EXPRESSION:
        raise UserError(f"shape {expressions.shape}, expected (T, {N_EXPRESSION})", file=path, field="expressions")
    poses = arrays.get("poses")
    if poses is not None and (poses.ndim != 2 or poses.shape[0] != expressions.shape[0] or poses.shape[1] < JAW_COLUMNS.stop):
        raise UserError(f"shape {poses.shape}, expected ({expressions.shape[0]}, 165) SMPL-X axis-angles",
                        file=path, field="poses")
    jaw = np.zeros(expressions.shape[0]) if poses is None else np.asarray(poses[:, JAW_COLUMNS][:, 0], np.float64)
    if fps is None:
        if "mocap_frame_rate" not in arrays:
            raise UserError("no 'mocap_frame_rate'; pass --fps", file=path, field="mocap_frame_rate")
        fps = float(arrays["mocap_frame_rate"])
    return expressions, jaw, float(fps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m m3t_bench.synth.face_prior_fit", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="BEAT2-style .npz (expressions, poses, mocap_frame_rate)")
    parser.add_argument("--out", type=Path, required=True, help="prior file to write (.npz)")
    parser.add_argument("--fps", type=float, help="frame rate when the file does not state it")
    parser.add_argument("--licence", default="", help="licence note recorded in the provenance")
    parser.add_argument("--origin", default="", help="where the source file comes from (recorded)")
    args = parser.parse_args(argv)
    try:
        expressions, jaw, fps = load_flame_sequence(args.source, args.fps)
        prior = fit_face_prior(expressions, jaw, fps, provenance={
            "source_file": args.source.name, "source_sha256": sha256_file(args.source), "licence": args.licence,
            "origin": args.origin, "fitted_by": "m3t_bench.synth.face_prior_fit"})
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prior.save(args.out)
    print(f"wrote {args.out}: rank {prior.rank}, real effective rank 90/99% "
          f"{prior.provenance['real_statistics']['effective_rank_90']}/{prior.provenance['real_statistics']['effective_rank_99']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

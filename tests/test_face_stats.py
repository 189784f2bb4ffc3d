"""Face-stream statistics (m3t_bench.datasets.face_stats) on streams whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from m3t_bench.datasets.face_stats import effective_rank, face_from_flame, face_statistics, jaw_opening
from m3t_bench.motion.layout import FACE_EYELIDS


def _face(expr: np.ndarray, jaw: np.ndarray | None = None, eyelids: np.ndarray | None = None) -> np.ndarray:
    aa = None if jaw is None else np.stack([jaw, np.zeros_like(jaw), np.zeros_like(jaw)], axis=1)
    face = face_from_flame(expr, aa)
    if eyelids is not None:
        face[:, FACE_EYELIDS] = eyelids[:, None]
    return face


def test_effective_rank_by_hand():
    assert effective_rank(np.array([5.0, 4.0, 1.0]), 0.90) == 2        # 5 + 4 of 10 is exactly 90%
    assert effective_rank(np.array([6.0, 3.0, 1.0]), 0.90) == 2        # 6, 9 of 10
    assert effective_rank(np.array([1.0, 8.0, 1.0]), 0.80) == 1        # sorted first
    assert effective_rank(np.zeros(4), 0.9) == 0


def test_variance_rank_and_correlation_of_a_known_gaussian():
    rng = np.random.default_rng(0)
    n = 40_000
    scales = np.zeros(100)
    scales[:3] = (3.0, 2.0, 1.0)                 # variances 9, 4, 1 on three components, others still
    expr = rng.standard_normal((n, 100)) * scales
    expr[:, 3] = 0.5 * expr[:, 0] + rng.normal(0.0, 0.01, n)       # correlated with component 0
    s = face_statistics([(_face(expr), 30.0, "a")])
    assert s.variance[:4] == pytest.approx([9.0, 4.0, 1.0, 2.25], rel=0.05)
    # eigenvalues 11.25 (components 0 and 3 together), 4, 1 of 16.25: 69%, 94%, 100%
    assert s.effective_rank_90 == 2 and s.effective_rank_99 == 3
    assert s.mean_abs_correlation > 0
    assert s.n_frames == n and s.seconds == pytest.approx(n / 30.0)
    assert s.blink_rate_per_min is None and s.jaw_coupling_r is None   # eyelids and jaw never move


def test_autocorrelation_of_an_ar1_process_at_each_frame_rate():
    rho = 0.9
    for fps in (30.0, 25.0):
        eps = np.random.default_rng(1).standard_normal((60_000, 100))
        x = lfilter([np.sqrt(1 - rho * rho)], [1.0, -rho], eps, axis=0)
        s = face_statistics([(_face(x), fps, "a")])
        for lag_ms, value in s.autocorrelation.items():
            frames = max(1, round(lag_ms / 1000 * fps))
            assert value == pytest.approx(rho ** frames, abs=0.01), (fps, lag_ms)


def test_figures_are_within_signer_and_pairs_never_cross_clips():
    rng = np.random.default_rng(2)
    clips = []
    for signer, offset in (("a", 5.0), ("b", -5.0)):
        for _ in range(4):
            clips.append((_face(offset + rng.standard_normal((500, 100))), 30.0, signer))
    s = face_statistics(clips)
    assert s.variance.mean() == pytest.approx(1.0, rel=0.03)          # the +-5 signer offsets are not in it
    assert s.between_variance.mean() == pytest.approx(25.0, rel=0.02)
    assert abs(s.autocorrelation[33]) < 0.02                         # white noise within clips
    assert s.n_groups == 2 and s.n_clips == 8


def test_speed_blinks_and_jaw_coupling():
    fps = 30.0
    t = np.arange(600) / fps                                          # 20 s
    expr = np.zeros((600, 100))
    expr[:, 0] = t                                                    # moves 1 unit per second
    jaw = 0.1 + 0.05 * np.sin(t)
    expr[:, 1] = 3.0 * jaw                                            # expression linear in the jaw
    lids = np.zeros(600)
    for start in (30, 200, 400, 550):                                 # four blinks
        lids[start:start + 5] = 1.0
    s = face_statistics([(_face(expr, jaw, lids), fps, "a")])
    speed = np.linalg.norm(np.diff(expr, axis=0), axis=1).mean() * fps
    assert s.mean_speed == pytest.approx(speed)
    assert s.blink_rate_per_min == pytest.approx(4 / (20 / 60))
    assert s.jaw_coupling_r == pytest.approx(1.0, abs=1e-6)
    assert jaw_opening(_face(expr, jaw)) == pytest.approx(jaw, abs=1e-6)


def test_bad_input():
    with pytest.raises(ValueError):
        face_statistics([])
    with pytest.raises(ValueError):
        face_statistics([(np.zeros((10, 100)), 30.0, "a")])

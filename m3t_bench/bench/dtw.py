"""DTW-JPE speed: our exact compiled DTW vs a SOKE-style pure-Python exact DTW vs fastdtw, in one run.

Workload: pairs of smooth synthetic sequences of ~200 frames (180–220) × 42 joints (metres). The
pure-Python loop and fastdtw are timed on a subset and extrapolated to the full set (said in the output);
our values are checked against the pure-Python exact ones on that subset.

Pruning (upper-bound PrunedDTW, exact): the pruned and the unpruned kernels are timed in the same run, best
of 3, on the independent pairs above, on time-warped noisy copies (a prediction close to its reference) and
on a face-like workload (5,023 points), with the fraction of frame costs the pruned kernel computed.
"""

from __future__ import annotations

import time

import numpy as np

from m3t_bench.bench.peers import pure_python_dtw_jpe
from m3t_bench.metrics import dtw_jpe_many
from m3t_bench.metrics.dtw import dtw_points_many

N_JOINTS = 42
N_FACE_POINTS = 5023
REPEATS = 3


def _motion(rng: np.random.Generator, frames: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, frames)[:, None, None]
    base = rng.normal(scale=0.3, size=(1, N_JOINTS, 3))
    amp = rng.normal(scale=0.1, size=(1, N_JOINTS, 3))
    phase = rng.uniform(size=(1, N_JOINTS, 3))
    return (base + amp * np.sin(2 * np.pi * (t * rng.uniform(0.5, 2.0) + phase))).astype(np.float32)


def _warped_copy(rng: np.random.Generator, x: np.ndarray, noise: float) -> np.ndarray:
    """``x`` resampled at sorted random times (0.8–1.25× its length) plus Gaussian noise (metres)."""
    times = np.sort(rng.uniform(0, len(x) - 1, size=int(len(x) * rng.uniform(0.8, 1.25))))
    return (x[np.round(times).astype(int)] + rng.normal(scale=noise, size=(len(times),) + x.shape[1:])
            ).astype(np.float32)


def _face_motion(rng: np.random.Generator, frames: int) -> np.ndarray:
    """A face-like (T, 5023, 3) sequence: a fixed 10 cm point cloud moved by 10 smooth expression fields
    of a few millimetres, in head coordinates."""
    base = rng.normal(scale=0.05, size=(1, N_FACE_POINTS, 3))
    fields = rng.normal(scale=0.003, size=(10, N_FACE_POINTS, 3))
    t = np.linspace(0.0, 1.0, frames)[:, None]
    weights = np.sin(2 * np.pi * (t * rng.uniform(0.5, 3.0, size=10) + rng.uniform(size=10)))
    return (base + np.einsum("tk,kpd->tpd", weights, fields)).astype(np.float32)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _best_of(fn, repeats: int = REPEATS):
    """(best wall time of ``repeats`` runs, output of the last run)."""
    times, out = [], None
    for _ in range(repeats):
        elapsed, out = _timed(fn)
        times.append(elapsed)
    return min(times), out


def _pruning_line(label: str, preds: list, refs: list, kind: str, root: int,
                  jobs: int = 2) -> tuple[str, float]:
    """One line comparing the pruned and unpruned kernels (same run, best of 3) on ``kind`` frame costs;
    checks that both give identical costs and path lengths. Also returns the pruned time."""
    scored = np.arange(preds[0].shape[1])
    if root >= 0:
        scored = scored[scored != root]
    dtw_points_many(preds[:1], refs[:1], kind=kind, root=root, scored=scored, jobs=jobs, prune=True)   # compile
    dtw_points_many(preds[:1], refs[:1], kind=kind, root=root, scored=scored, jobs=jobs, prune=False)
    full_s, full = _best_of(lambda: dtw_points_many(preds, refs, kind=kind, root=root, scored=scored, jobs=jobs,
                                               prune=False))
    pruned_s, pruned = _best_of(lambda: dtw_points_many(preds, refs, kind=kind, root=root, scored=scored, jobs=jobs,
                                                   prune=True))
    same = np.array_equal(full[0], pruned[0]) and np.array_equal(full[1], pruned[1])
    fraction = pruned[2] / full[2]
    return (f"{label}: pruned {pruned_s / len(preds) * 1e3:.3f} ms/pair vs unpruned "
            f"{full_s / len(preds) * 1e3:.3f} ms/pair ({full_s / pruned_s:.2f}x; best of {REPEATS}, "
            f"{jobs} threads); "
            f"frame costs computed: mean {fraction.mean():.0%}, median {np.median(fraction):.0%}, "
            f"max {fraction.max():.0%}; results identical: {same}"), pruned_s


def run(quick: bool) -> list[str]:
    n_pairs = 100 if quick else 1000
    n_python, n_fastdtw = (2, 5) if quick else (5, 30)
    rng = np.random.default_rng(0)
    preds = [_motion(rng, int(rng.integers(180, 221))) for _ in range(n_pairs)]
    refs = [_motion(rng, int(rng.integers(180, 221))) for _ in range(n_pairs)]
    dtw_jpe_many(preds[:2], refs[:2], jobs=2)                       # load the compiled kernels
    dtw_jpe_many(preds[:1], refs[:1], align="procrustes", jobs=2)

    ours_s, ours = _best_of(lambda: dtw_jpe_many(preds, refs, norm="sum", unit="m", jobs=2))
    ours_1_s, _ = _best_of(lambda: dtw_jpe_many(preds, refs, norm="sum", unit="m", jobs=1))
    py_s, py_values = _timed(lambda: [pure_python_dtw_jpe(p, r) for p, r in zip(preds[:n_python], refs)])
    fd_s, fd_values = _timed(lambda: dtw_jpe_many(preds[:n_fastdtw], refs[:n_fastdtw], norm="sum", unit="m",
                                                  backend="fastdtw", fastdtw_radius=1))
    n_pa = 20 if quick else 100
    pa_s, _ = _best_of(lambda: dtw_jpe_many(preds[:n_pa], refs[:n_pa], align="procrustes", jobs=2))

    py_full = py_s / n_python * n_pairs
    fd_full = fd_s / n_fastdtw * n_pairs
    max_rel = float(np.max(np.abs(ours[:n_python] - np.array(py_values)) / np.array(py_values)))
    fd_err = np.abs(fd_values - ours[:n_fastdtw]) / ours[:n_fastdtw]

    warped = [_warped_copy(rng, p, noise=0.01) for p in preds]
    independent_line, _ = _pruning_line("pruning, these independent pairs (l2)", preds, refs, "l2", 0)
    warped_line, warped_s = _pruning_line("pruning, time-warped noisy copies (l2, 1 cm noise)", preds, warped,
                                          "l2", 0)
    pa_line, _ = _pruning_line("pruning, time-warped copies (Procrustes per cell)", preds[:n_pa],
                               warped[:n_pa], "procrustes", -1)
    n_face = 2 if quick else 4
    faces = [_face_motion(rng, int(rng.integers(120, 161))) for _ in range(n_face)]
    face_refs = [_warped_copy(rng, f, 0.001) for f in faces]
    face_line, _ = _pruning_line(f"pruning, face-like {n_face} pairs x {N_FACE_POINTS} points, time-warped "
                                 f"copies (l2, 1 mm noise)", faces, face_refs, "l2", -1)
    face_other, _ = _pruning_line("pruning, face-like independent pairs (l2)", faces, faces[1:] + faces[:1],
                                  "l2", -1)
    warped_full = warped_s / n_pairs
    return [
        f"DTW-JPE, {n_pairs} pairs of 180-220 frames x {N_JOINTS} joints (root-aligned, exact unless said; "
        f"ours: best of {REPEATS} on a shared machine)",
        f"ours, exact numba (pruned), 2 threads: {ours_s:.3f} s ({ours_s / n_pairs * 1e3:.3f} ms/pair); "
        f"1 thread: {ours_1_s:.3f} s",
        f"pure-Python exact loop (SOKE-style): {py_s / n_python * 1e3:.0f} ms/pair on {n_python} pairs, "
        f"extrapolated to {n_pairs}: {py_full:.0f} s -> ours is {py_full / ours_s:,.0f}x faster "
        f"({py_s / n_python / warped_full:,.0f}x on the time-warped copies)",
        f"fastdtw radius 1 (pure Python as pip installs it): {fd_s / n_fastdtw * 1e3:.1f} ms/pair on "
        f"{n_fastdtw} pairs, extrapolated: {fd_full:.1f} s -> ours is {fd_full / ours_s:,.0f}x faster "
        f"({fd_s / n_fastdtw / warped_full:,.0f}x on the time-warped copies); "
        f"fastdtw error vs exact: mean {fd_err.mean():+.2%}, max {fd_err.max():+.2%}",
        f"exactness: ours vs pure-Python exact on {n_python} pairs, max relative difference {max_rel:.1e} "
        f"(float32 frame costs)",
        f"DTW-PA-JPE (Procrustes in every cell), 2 threads: {pa_s / n_pa * 1e3:.1f} ms/pair over {n_pa} pairs",
        independent_line,
        warped_line,
        pa_line,
        face_line,
        face_other,
    ]

"""Bench: scoring a CSL-Daily-sized test split (1,176 sequences) end to end, under protocol ``m3t@1``.

Workload: 1,176 reference sequences with lengths drawn from a log-normal distribution with median 150
frames (5 s at 30 fps) and log-sd 0.35, clipped to [45, 450] frames (CSL-Daily sentences last a few seconds;
its per-clip frame counts are not in the annotation files, so this distribution is an assumption); each
prediction is its reference time-stretched by a random factor in [0.8, 1.25] plus smooth noise. Smooth random
SMPL-FX motion, stand-in body model. Timed: the engine's path (batched body-model forward + parallel exact
DTW) for the joint metrics (DTW-JPE and DTW-PA-JPE on body, lhand, rhand) and for face DTW-VPE over the
face-region vertices, on all samples and all points the protocol names.

In the same run, as ratios: today's path before issue 15 (the reference forward of the mesh rows, the
face DTW pruned by the reference-path upper bound only, no reference cache) against the current path with
no cache, a cold cache (references computed and stored) and a warm one (references read back); the numbers
of all four are compared (max relative difference). Also: the face forward alone (frames/s, fast vs
reference arithmetic) and one small ``dtw_jpe`` call (serial vs inside a parallel region). Targets (issue
15, 2-core CPU): whole split warm <= 30 s, cold <= 60 s, joint metrics <= 5 s.

Compared with (1) the peers' way, SOKE-style: a full SMPL-X-sized forward pass per sample and a pure-Python
exact DTW with a numpy per-cell cost, measured on a subset and extrapolated by sample / cell counts (said in
the output); (2) the arithmetic bound of the unpruned DTW: the number of point-distance evaluations in all
cost matrices divided by the rate a fused numba loop reaches for exactly that arithmetic on this machine.
"""

from __future__ import annotations

import contextlib
import importlib
import hashlib
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from m3t_bench.bench.peers import pure_python_dtw_jpe

N_SAMPLES = 1176
FPS = 30.0
QUICK_SAMPLES = 60


def draw_lengths(n: int, rng: np.random.Generator) -> np.ndarray:
    """Reference lengths in frames: log-normal, median 150, log-sd 0.35, clipped to [45, 450]."""
    return np.clip(np.round(np.exp(rng.normal(np.log(150.0), 0.35, n))), 45, 450).astype(int)


def smooth_motion(n_frames: int, rng: np.random.Generator):
    """A smooth random :class:`MotionSequence`: low-pass axis-angle walks (about ±0.4 rad), smooth expressions."""
    from m3t_bench.motion import MotionSequence, axis_angle_to_rot6d

    def walk(*shape):
        x = np.cumsum(rng.normal(0, 1, (n_frames + 20, *shape)), axis=0)
        kernel = np.ones(20) / 20
        x = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid")[:n_frames], 0, x)
        return x / (np.abs(x).max() + 1e-9)

    rot = lambda j: axis_angle_to_rot6d(torch.from_numpy(0.4 * walk(j, 3))).numpy().astype(np.float32)
    face = np.concatenate([1.5 * walk(102), axis_angle_to_rot6d(torch.from_numpy(0.1 * walk(3))).numpy()], axis=1)
    return MotionSequence(body=rot(12), lhand=rot(15), rhand=rot(15), face=face.astype(np.float32))


def stretched(seq, factor: float, rng: np.random.Generator):
    """``seq`` resampled in time by ``factor`` (nearest frame) with small noise: a plausible prediction."""
    from m3t_bench.motion import MotionSequence
    n = max(1, int(round(seq.n_frames * factor)))
    idx = np.minimum((np.arange(n) / factor).astype(int), seq.n_frames - 1)
    out = {}
    for name, arr in seq.streams().items():
        out[name] = (arr[idx] + rng.normal(0, 0.01, arr[idx].shape)).astype(np.float32)
    return MotionSequence(**out)


def _distance_rate(n_points: int, threads: int) -> float:
    """Point distances per second of a fused numba loop (sum of sqrt of squared differences, float32)."""
    import numba
    from numba import njit, prange

    @njit(parallel=True, cache=False)
    def kernel(a, b):
        out = np.zeros((a.shape[0], b.shape[0]), dtype=np.float32)
        for i in prange(a.shape[0]):
            for j in range(b.shape[0]):
                acc = np.float32(0.0)
                for p in range(a.shape[1]):
                    dx = a[i, p, 0] - b[j, p, 0]
                    dy = a[i, p, 1] - b[j, p, 1]
                    dz = a[i, p, 2] - b[j, p, 2]
                    acc += np.sqrt(dx * dx + dy * dy + dz * dz)
                out[i, j] = acc
        return out

    rng = np.random.default_rng(0)
    frames = int(np.clip(np.sqrt(2e8 / n_points), 100, 4000))  # ~2e8 distances: start-up costs negligible
    a = rng.standard_normal((frames, n_points, 3)).astype(np.float32)
    b = rng.standard_normal((frames, n_points, 3)).astype(np.float32)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        kernel(a[:2], b[:2])
        t0 = time.perf_counter()
        kernel(a, b)
        dt = time.perf_counter() - t0
    finally:
        numba.set_num_threads(previous)
    return frames * frames * n_points / dt


TARGETS = {"warm": 30.0, "cold": 60.0, "joint": 5.0}
RUNS = ("today", "no cache", "cold", "warm")


@contextlib.contextmanager
def todays_path(model):
    """Scoring as before issue 15: the reference forward of the mesh rows and, for many-point costs, the
    reference-path upper-bound pruning (the lower bound from point clusters switched off)."""
    dtw_module = importlib.import_module("m3t_bench.metrics.dtw")   # the package exports a function dtw
    before = dtw_module.MIN_POINTS
    model.fast_mesh, dtw_module.MIN_POINTS = False, 1 << 60
    try:
        yield
    finally:
        model.fast_mesh, dtw_module.MIN_POINTS = True, before


def _workload(n: int):
    rng = np.random.default_rng(0)
    lengths = draw_lengths(n, rng)
    ids = [f"s{i:04d}" for i in range(n)]
    refs = {i: smooth_motion(int(t), rng) for i, t in zip(ids, lengths)}
    preds = {i: stretched(refs[i], float(rng.uniform(0.8, 1.25)), rng) for i in ids}
    return ids, lengths, refs, preds


def _score_timed(items, sub, refs, model, jobs, cache_factory):
    from m3t_bench.scoring.score import point_values
    t0 = time.perf_counter()
    values = point_values(items, sub, refs, model, jobs=jobs, progress=False, skipped=[],
                          reference_cache=cache_factory)
    return time.perf_counter() - t0, values


def _max_relative(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]) / np.maximum(np.abs(b[k]), 1e-12))) for k in b)


def _forward_rates(model, n: int = 2048) -> tuple[float, float]:
    """Frames/s of the face set's forward, fast path and reference arithmetic, best of 3 each."""
    from m3t_bench.motion import identity_rot6d
    g = torch.Generator().manual_seed(0)
    params = {"body": identity_rot6d(n, 12) + 0.2 * torch.randn(n, 12, 6, generator=g),
              "lhand": identity_rot6d(n, 15) + 0.2 * torch.randn(n, 15, 6, generator=g),
              "rhand": identity_rot6d(n, 15) + 0.2 * torch.randn(n, 15, 6, generator=g),
              "face": torch.cat([torch.randn(n, 102, generator=g), identity_rot6d(n)], 1)}
    shape = torch.cat([torch.randn(310, generator=g).repeat(150, 1) for _ in range(n // 150 + 1)])[:n]
    rates = []
    for fast in (True, False):
        model.fast_mesh = fast
        with torch.no_grad():
            model.evaluation_points("face", **params, shape=shape)
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                model.evaluation_points("face", **params, shape=shape)
                best = min(best, time.perf_counter() - t0)
        rates.append(n / best)
    model.fast_mesh = True
    return rates[0], rates[1]


def _single_call() -> tuple[float, float]:
    """Seconds of one ``dtw_jpe`` call on a 200 x 180-frame, 42-joint pair: as it runs now (serial) and
    forced through the parallel region (as every call ran before), best of 20 each."""
    dtw_module = importlib.import_module("m3t_bench.metrics.dtw")   # the package exports a function dtw
    from m3t_bench.metrics import dtw_jpe
    rng = np.random.default_rng(1)
    pred, ref = rng.normal(size=(200, 42, 3)), rng.normal(size=(180, 42, 3))
    out = []
    for threshold in (dtw_module.PARALLEL_MIN_WORK, 0):
        dtw_module.PARALLEL_MIN_WORK, before = threshold, dtw_module.PARALLEL_MIN_WORK
        try:
            with dtw_module.numba_threads(2):
                dtw_jpe(pred, ref)
                best = float("inf")
                for _ in range(20):
                    t0 = time.perf_counter()
                    dtw_jpe(pred, ref)
                    best = min(best, time.perf_counter() - t0)
        finally:
            dtw_module.PARALLEL_MIN_WORK = before
        out.append(best)
    return out[0], out[1]


def _verdict(label: str, seconds: float, target: float) -> str:
    if seconds <= target:
        return f"{label}: {seconds:.1f} s <= {target:.0f} s: target met"
    return (f"{label}: {seconds:.1f} s > {target:.0f} s: target missed by {seconds - target:.1f} s "
            f"({seconds / target:.2f}x)")


def run(quick: bool) -> list[str]:
    from m3t_bench.body import SMPLFX
    from m3t_bench.body.standin import write_standin_assets
    from m3t_bench.protocols import get_protocol
    from m3t_bench.scoring.items import protocol_items
    from m3t_bench.scoring.points import model_points
    from m3t_bench.scoring.reference_cache import open_reference_cache
    from m3t_bench.scoring.submission import Submission

    jobs = min(2, os.cpu_count() or 1)
    n = QUICK_SAMPLES if quick else N_SAMPLES
    ids, lengths, refs, preds = _workload(n)
    sub = Submission(root=Path("."), kind="streams", samples=preds, meta={"system": "bench"})
    with tempfile.TemporaryDirectory() as tmp:
        model = SMPLFX.from_dir(write_standin_assets(Path(tmp)))
    items = protocol_items(get_protocol("m3t@1"), model_id=model.model_id, dataset_id="csl-daily@1", language="zh")
    groups = {"joint": [it for it in items if it.joint_set and it.part != "face"],
              "face": [it for it in items if it.joint_set and it.part == "face"]}
    split = SimpleNamespace(spec=SimpleNamespace(id="bench-csl-daily-sized"), split="test",
                            manifest_sha256=hashlib.sha256(lengths.tobytes()).hexdigest())

    warm_sub = Submission(Path("."), "streams", {ids[0]: preds[ids[0]]})
    for group in groups.values():                                    # compile and build plans, both paths
        _score_timed(group, warm_sub, refs, model, jobs, None)
        with todays_path(model):
            _score_timed(group, warm_sub, refs, model, jobs, None)
    times, values = {}, {}
    with tempfile.TemporaryDirectory() as cache_dir:
        def cache(names):
            return open_reference_cache(cache_dir, split=split, model=model, names=names)
        for run_name in RUNS:
            for label, group in groups.items():
                with todays_path(model) if run_name == "today" else contextlib.nullcontext():
                    dt, v = _score_timed(group, sub, refs, model, jobs, cache if run_name in ("cold", "warm") else None)
                times[run_name, label] = dt
                values[run_name, label] = {f"{it.metric}/{it.part}": x for it, x in v.items()}
    pairs = [(preds[i].n_frames, refs[i].n_frames) for i in ids]
    cells = float(sum(a * b for a, b in pairs))
    lines = [f"workload: {n} sequences (lengths median {np.median(lengths):.0f}, mean {lengths.mean():.0f} frames "
             f"at 30 fps), {cells / 1e6:.1f} M DTW cells per metric, stand-in SMPL-FX, {jobs} threads",
             "seconds per run (today = before issue 15: reference forward, face DTW with upper-bound pruning only, "
             "no reference cache):",
             f"  {'':14}" + "".join(f"{r:>10}" for r in RUNS) + "   today / warm"]
    for label in groups:
        row = [times[r, label] for r in RUNS]
        lines.append(f"  {label + ' metrics':14}" + "".join(f"{t:10.1f}" for t in row) + f"   {row[0] / row[3]:.1f}x")
    total = {r: times[r, "joint"] + times[r, "face"] for r in RUNS}
    lines.append(f"  {'all but BT':14}" + "".join(f"{total[r]:10.1f}" for r in RUNS)
                 + f"   {total['today'] / total['warm']:.1f}x")
    for label in groups:
        lines.append(f"  {label} numbers, max relative difference to today's: no cache "
                     f"{_max_relative(values['no cache', label], values['today', label]):.1e}, cold "
                     f"{_max_relative(values['cold', label], values['today', label]):.1e}, warm "
                     f"{_max_relative(values['warm', label], values['today', label]):.1e} (target <= 1e-6)")
    fast_rate, reference_rate = _forward_rates(model)
    serial, parallel = _single_call()
    lines += [f"face forward (2,048 frames, {torch.get_num_threads()} torch threads): fast {fast_rate:,.0f} frames/s, "
              f"reference arithmetic {reference_rate:,.0f} frames/s -> {fast_rate / reference_rate:.1f}x",
              f"one dtw_jpe call (200 x 180 frames, 42 joints, 2 numba threads): {serial * 1e3:.2f} ms serial, "
              f"{parallel * 1e3:.2f} ms inside a parallel region (before) -> {parallel / serial:.1f}x"]
    lines += [_verdict("whole split, all metrics but back-translation, warm cache", total["warm"], TARGETS["warm"]),
              _verdict("whole split, cold cache", total["cold"], TARGETS["cold"]),
              _verdict("joint metrics alone (warm)", times["warm", "joint"], TARGETS["joint"])]
    lines += _peer_lines(model, groups, ids, refs, preds, cells, times["warm", "joint"], times["warm", "face"],
                         model_points, jobs)
    if quick:
        lines.append(f"(quick run: {n} sequences, not 1,176; figures do not meet or miss targets)")
    return lines


def _peer_lines(model, groups, ids, refs, preds, cells, joint_time, face_time, model_points, jobs) -> list[str]:
    """The peers' way (extrapolated) and the arithmetic bound of the unpruned DTW."""
    from m3t_bench.body.joint_sets import JOINT_SETS
    joint_points = sum(len(JOINT_SETS[it.joint_set].points) for it in groups["joint"])
    face_points = sum(len(JOINT_SETS[it.joint_set].points) for it in groups["face"])
    bound_joint = cells * joint_points / _distance_rate(21, jobs)
    rate_face = _distance_rate(len(JOINT_SETS[groups["face"][0].joint_set].points), jobs)
    bound_face = cells * face_points / rate_face
    k = 3
    t0 = time.perf_counter()
    for i in ids[:k]:
        pts = model_points(model, ("body",), [refs[i]], [refs[i]])["body"][0]
        ppts = model_points(model, ("body",), [preds[i]], [refs[i]])["body"][0]
        pure_python_dtw_jpe(ppts, pts)
    per_cell = (time.perf_counter() - t0) / sum(preds[i].n_frames * refs[i].n_frames for i in ids[:k])
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in ids[:k]:
            s = refs[i]
            model(body=torch.from_numpy(s.body), lhand=torch.from_numpy(s.lhand), rhand=torch.from_numpy(s.rhand),
                  face=torch.from_numpy(s.face))
    per_frame_forward = (time.perf_counter() - t0) / sum(refs[i].n_frames for i in ids[:k])
    total_frames = sum(preds[i].n_frames + refs[i].n_frames for i in ids)
    peer_joint = per_cell * cells * len(groups["joint"]) + per_frame_forward * total_frames
    return [f"  peers' way for the joint metrics (SOKE-style pure-Python exact DTW + full forward per sample; "
            f"measured on {k} pairs, extrapolated): {peer_joint:.0f} s -> {peer_joint / joint_time:.0f}x slower",
            f"  arithmetic bound of the unpruned DTW (point distances at the fused-loop rate): joint "
            f"{bound_joint:.1f} s, face {bound_face:.1f} s at {rate_face / 1e9:.2f} G distances/s; the pruned face "
            f"metric (forward included) runs at {face_time / bound_face:.2f}x that bound"]

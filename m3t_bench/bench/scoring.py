"""Bench: scoring a CSL-Daily-sized test split (1,176 sequences) end to end, under protocol ``m3t@1``.

Workload: 1,176 reference sequences with lengths drawn from a log-normal distribution with median 150
frames (5 s at 30 fps) and log-sd 0.35, clipped to [45, 450] frames (CSL-Daily sentences last a few seconds;
its per-clip frame counts are not in the annotation files, so this distribution is an assumption); each
prediction is its reference time-stretched by a random factor in [0.8, 1.25] plus smooth noise. Smooth random
SMPL-FX motion, stand-in body model. Timed: the engine's path (batched body-model forward + parallel exact
DTW) for the joint metrics (DTW-JPE and DTW-PA-JPE on body, lhand, rhand) and for face DTW-VPE over the
face-region vertices, on all samples and all points the protocol names.

Compared with (1) the peers' way, SOKE-style: a full SMPL-X-sized forward pass per sample and a pure-Python
exact DTW with a numpy per-cell cost, measured on a subset and extrapolated by sample / cell counts (said in
the output); (2) the arithmetic lower bound: the number of point-distance evaluations in all cost matrices
divided by the rate a fused numba loop reaches for exactly that arithmetic on this machine.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

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


def run(quick: bool) -> list[str]:
    from m3t_bench.body import SMPLFX
    from m3t_bench.body.joint_sets import JOINT_SETS
    from m3t_bench.body.standin import write_standin_assets
    from m3t_bench.protocols import get_protocol
    from m3t_bench.scoring.items import protocol_items
    from m3t_bench.scoring.points import chunk_ids, model_points
    from m3t_bench.scoring.score import point_values
    from m3t_bench.scoring.submission import Submission

    jobs = min(2, os.cpu_count() or 1)
    n = QUICK_SAMPLES if quick else N_SAMPLES
    rng = np.random.default_rng(0)
    lengths = draw_lengths(n, rng)
    ids = [f"s{i:04d}" for i in range(n)]
    refs = {i: smooth_motion(int(t), rng) for i, t in zip(ids, lengths)}
    preds = {i: stretched(refs[i], float(rng.uniform(0.8, 1.25)), rng) for i in ids}
    sub = Submission(root=Path("."), kind="streams", samples=preds, meta={"system": "bench"})
    with tempfile.TemporaryDirectory() as tmp:
        model = SMPLFX.from_dir(write_standin_assets(Path(tmp)))
    items = protocol_items(get_protocol("m3t@1"), model_id=model.model_id, dataset_id="csl-daily@1", language="zh")
    joint_items = [it for it in items if it.joint_set and it.part != "face"]
    face_items = [it for it in items if it.joint_set and it.part == "face"]

    point_values(joint_items, Submission(Path("."), "streams", {ids[0]: preds[ids[0]]}), refs, model,
                      jobs=jobs, progress=False, skipped=[])  # compile / warm up
    timings = {}
    for label, group in (("joint metrics", joint_items), ("face DTW-VPE", face_items)):
        t0 = time.perf_counter()
        point_values(group, sub, refs, model, jobs=jobs, progress=False, skipped=[])
        timings[label] = time.perf_counter() - t0

    face_set = face_items[0].joint_set if face_items else None
    t0 = time.perf_counter()
    if face_set is not None:  # the forward passes alone, chunked like the engine does
        for chunk in chunk_ids(ids, sub, refs, len(JOINT_SETS[face_set].points)):
            model_points(model, (face_set,), [refs[i] for i in chunk], [refs[i] for i in chunk])
            model_points(model, (face_set,), [preds[i] for i in chunk], [refs[i] for i in chunk])
    face_forward = time.perf_counter() - t0
    pairs = [(preds[i].n_frames, refs[i].n_frames) for i in ids]
    cells = float(sum(a * b for a, b in pairs))
    lines = [f"workload: {n} sequences (lengths median {np.median(lengths):.0f}, mean {lengths.mean():.0f} frames "
             f"at 30 fps), {cells / 1e6:.1f} M DTW cells per metric, stand-in SMPL-FX, {jobs} threads"]

    # the arithmetic lower bound: point distances in every cost matrix at the fused-loop rate
    sets = {it.joint_set for it in joint_items}
    joint_points = sum(len(JOINT_SETS[it.joint_set].points) for it in joint_items)
    face_points = sum(len(JOINT_SETS[it.joint_set].points) for it in face_items)
    rate_small = _distance_rate(21, jobs)
    rate_face = _distance_rate(len(JOINT_SETS[face_items[0].joint_set].points), jobs) if face_items else 1.0
    bound_joint = cells * joint_points / rate_small
    bound_face = cells * face_points / rate_face

    # the peers' way, on a subset, extrapolated
    k = 3
    sub_ids = ids[:k]
    t0 = time.perf_counter()
    for i in sub_ids:
        pts = model_points(model, ("body",), [refs[i]], [refs[i]])["body"][0]
        ppts = model_points(model, ("body",), [preds[i]], [refs[i]])["body"][0]
        pure_python_dtw_jpe(ppts, pts)
    py_cells = sum(preds[i].n_frames * refs[i].n_frames for i in sub_ids)
    per_cell = (time.perf_counter() - t0) / py_cells
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in sub_ids:
            s = refs[i]
            model(body=torch.from_numpy(s.body), lhand=torch.from_numpy(s.lhand), rhand=torch.from_numpy(s.rhand),
                  face=torch.from_numpy(s.face))
    per_frame_forward = (time.perf_counter() - t0) / sum(refs[i].n_frames for i in sub_ids)
    total_frames = sum(a + b for a, b in pairs)
    peer_joint = per_cell * cells * len(joint_items) + per_frame_forward * total_frames

    lines += [
        f"joint metrics ({len(joint_items)} numbers over {', '.join(sorted(sets))}): {timings['joint metrics']:.2f} s "
        f"(target <= 10 s on 2 cores for 1,176 sequences)",
        f"  peers' way (SOKE-style pure-Python exact DTW + full forward per sample; measured on {k} pairs, "
        f"extrapolated by cells and frames): {peer_joint:.0f} s -> ratio {peer_joint / timings['joint metrics']:.0f}x",
        f"  arithmetic bound (point distances at {rate_small / 1e9:.2f} G/s fused numba loop): {bound_joint:.2f} s "
        f"-> {timings['joint metrics'] / bound_joint:.1f}x the bound (PA's per-cell Procrustes not counted in the bound)",
    ]
    if face_items:
        lines += [
            f"face DTW-VPE ({face_points} points per frame): {timings['face DTW-VPE']:.1f} s; arithmetic bound "
            f"{bound_face:.1f} s at {rate_face / 1e9:.2f} G distances/s -> {timings['face DTW-VPE'] / bound_face:.2f}x "
            f"the bound (target <= 2x); of which body-model forward of the face region {face_forward:.1f} s, "
            f"the rest is the DTW cost matrices",
        ]
    if quick:
        lines.append(f"(quick run: {n} sequences, not 1,176; figures do not meet or miss targets)")
    return lines

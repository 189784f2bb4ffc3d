"""SMPL-FX forward throughput: full mesh vs joints-only vs face-region vertices, one run, same inputs."""

from __future__ import annotations

import tempfile
import time

import torch

from m3t_bench.motion import identity_rot6d


def _rate(fn, frames: int, repeats: int) -> float:
    fn()  # warm-up (and plan building)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return frames / best


def run(quick: bool) -> list[str]:
    """Frames per second of each SMPL-FX path on the stand-in model (CPU unless CUDA is available)."""
    from m3t_bench.body import SMPLFX
    from m3t_bench.body.standin import write_standin_assets
    device = "cuda" if torch.cuda.is_available() else "cpu"
    n, repeats = (64, 2) if quick else (256, 5)
    with tempfile.TemporaryDirectory() as tmp:
        model = SMPLFX.from_dir(write_standin_assets(tmp), device=device)
    g = torch.Generator().manual_seed(0)
    params = {"body": identity_rot6d(n, 12) + 0.2 * torch.randn(n, 12, 6, generator=g),
              "lhand": identity_rot6d(n, 15) + 0.2 * torch.randn(n, 15, 6, generator=g),
              "rhand": identity_rot6d(n, 15) + 0.2 * torch.randn(n, 15, 6, generator=g),
              "face": torch.cat([torch.randn(n, 102, generator=g), identity_rot6d(n)], 1)}
    params = {k: v.to(device) for k, v in params.items()}
    with torch.no_grad():
        full = _rate(lambda: model(**params), n, repeats)
        joints = _rate(lambda: model.joints(**params), n, repeats)
        face = _rate(lambda: model.evaluation_points("face", **params), n, repeats)
        hands = _rate(lambda: model.evaluation_points("lhand", **params), n, repeats)
    return [f"SMPL-FX forward on {device}, batch {n} frames (stand-in model, torch {torch.__version__}):",
            f"  full mesh (10,995 vertices)      {full:10.0f} frames/s",
            f"  joints only (42 joints)          {joints:10.0f} frames/s  ({joints / full:.1f}x full mesh)",
            f"  evaluation_points('lhand')       {hands:10.0f} frames/s  ({hands / full:.1f}x full mesh)",
            f"  evaluation_points('face')        {face:10.0f} frames/s  ({face / full:.1f}x full mesh)"]

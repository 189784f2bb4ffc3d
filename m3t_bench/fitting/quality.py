"""The fitting's quality report: per-clip figures and the summary over a split.

Per clip (``metrics`` of a :class:`~m3t_bench.fitting.optimise.FitResult`):

* ``reprojection_px`` / ``reprojection_px_init``: confidence-weighted mean Euclidean distance (pixels)
  between the detected and the projected fitted keypoints, over mapped keypoints with confidence at least
  ``min_confidence``, after / before the optimisation (before = the tracker or rest-pose start with the
  initial camera); ``reprojection_px_<part>`` per part (body, lhand, rhand, face);
* ``reprojection_rel``: the mean over parts of the same error in percent of the part's image size (what
  the convergence test uses);
* ``joint_acceleration_mm``: mean over frames and the 42 SMPL-FX joints of ``||j[t+1] - 2 j[t] + j[t-1]||``
  in mm per frame^2 (smoothness of the fitted motion);
* ``keypoints_3d_mm`` / ``keypoints_3d_mm_init`` (3D keypoints only): confidence-weighted mean distance to
  the 3D keypoints placed by the per-clip similarity, after / before the optimisation.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from torch import Tensor

from m3t_bench.fitting.layouts import PARTS, ResolvedLayout


def reprojection_summary(px: Tensor, obs: Tensor, conf: Tensor, part_scale: Tensor, resolved: ResolvedLayout,
                         min_confidence: float) -> dict:
    """Pixel errors overall and per part, and the part-size-relative error (see the module docstring)."""
    w = conf * (conf >= min_confidence)
    err = (px - obs).norm(dim=-1)
    out = {"reprojection_px": float((err * w).sum() / w.sum()) if bool(w.sum() > 0) else math.nan}
    rel = []
    for i, part in enumerate(PARTS):
        cols = torch.as_tensor(resolved.part == i, device=px.device) & torch.as_tensor(resolved.mapped, device=px.device)
        wp = w[:, cols]
        if bool(wp.sum() > 0):
            e = float((err[:, cols] * wp).sum() / wp.sum())
            out[f"reprojection_px_{part}"] = e
            rel.append(100.0 * e / float(part_scale[cols][0]))
    out["reprojection_rel"] = float(np.mean(rel)) if rel else math.nan
    return out


def acceleration_mm(joints: Tensor) -> float:
    """Mean ``||j[t+1] - 2 j[t] + j[t-1]||`` over frames and joints of ``joints (T, J, 3)`` metres -> mm/frame^2
    (0 for fewer than 3 frames)."""
    if joints.shape[0] < 3:
        return 0.0
    return float((joints[2:] - 2 * joints[1:-1] + joints[:-2]).norm(dim=-1).mean() * 1000)


def summarise(records: list[dict]) -> dict:
    """Split summary from per-clip records (``{"id", "converged", "reason", "metrics", ...}``): counts, and
    mean / median / 90th percentile of each per-clip figure over the converged clips."""
    ok = [r for r in records if r["converged"]]
    out = {"n_clips": len(records), "n_converged": len(ok), "n_failed": len(records) - len(ok),
           "failed": {r["id"]: r["reason"] for r in records if not r["converged"]}}
    keys = sorted({k for r in ok for k, v in r["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    for key in keys:
        values = np.array([r["metrics"][key] for r in ok if key in r["metrics"] and math.isfinite(r["metrics"][key])])
        if len(values):
            out[key] = {"mean": float(values.mean()), "median": float(np.median(values)),
                        "p90": float(np.percentile(values, 90))}
    frames = sum(r.get("n_frames", 0) for r in records)
    seconds = sum(r["metrics"].get("seconds", 0.0) for r in records)
    out["frames"], out["fit_seconds"] = frames, round(seconds, 3)
    out["frames_per_second"] = round(frames / seconds, 3) if seconds > 0 else None
    return out


def report_markdown(summary: dict, records: list[dict]) -> str:
    """A human-readable report: the summary, then one row per clip."""
    lines = ["# Fitting quality report", "",
             f"{summary['n_converged']} of {summary['n_clips']} clips converged; {summary['frames']} frames fitted "
             f"in {summary['fit_seconds']:.1f} s ({summary['frames_per_second']} frames/s).", "",
             "| figure | mean | median | p90 |", "|---|---|---|---|"]
    for key, value in summary.items():
        if isinstance(value, dict) and "mean" in value:
            lines.append(f"| {key} | {value['mean']:.3f} | {value['median']:.3f} | {value['p90']:.3f} |")
    lines += ["", "| clip | frames | converged | reprojection px (init -> final) | joint acc. mm/frame² | note |",
              "|---|---|---|---|---|---|"]
    for r in records:
        m = r["metrics"]
        before, after = m.get("reprojection_px_init", math.nan), m.get("reprojection_px", math.nan)
        lines.append(f"| {r['id']} | {r.get('n_frames', '')} | {'yes' if r['converged'] else 'no'} | "
                     f"{before:.2f} -> {after:.2f} | {m.get('joint_acceleration_mm', math.nan):.2f} | "
                     f"{r['reason']} |")
    return "\n".join(lines) + "\n"


def dumps(obj) -> str:
    """JSON text without NaN/Infinity (they become null), keys sorted."""
    def clean(x):
        if isinstance(x, float):
            return x if math.isfinite(x) else None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x
    return json.dumps(clean(obj), ensure_ascii=False, sort_keys=True, indent=1) + "\n"

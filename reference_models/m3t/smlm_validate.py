"""Checkpoint selection for the SMLM (paper D.2: "mean DTW-MJPE on the validation set of all datasets"):
the protocol's DTW-JPE numbers (``m3t@1``: body, left hand, right hand; exact DTW, path-normalised, mm)
computed by the toolkit's own metric code (``m3t_bench.metrics.dtw_jpe_many`` on the SMPL-FX model's
evaluation points, with the reference's shape for both sides, as ``m3t-bench score`` does), averaged over
the parts, then over the validation datasets. References are computed once.
"""

from __future__ import annotations

import numpy as np
import torch

from m3t_bench.body.joint_sets import get_joint_set
from m3t_bench.metrics import dtw_jpe_many
from m3t_bench.protocols import get_protocol

SELECTION_METRIC = "dtw-jpe"


def _points(body_model, set_names: tuple[str, ...], seq, shape) -> dict[str, np.ndarray]:
    device = next(iter(body_model.buffers())).device
    streams = {s: torch.as_tensor(np.asarray(getattr(seq, s), np.float32), device=device)
               for s in ("body", "lhand", "rhand", "face")}
    with torch.no_grad():
        points = body_model.evaluation_points_many(set_names, **streams, shape=shape)
    return {name: p.cpu().numpy() for name, p in points.items()}


class ValidationScorer:
    """Mean DTW-JPE of generated sequences against fixed references.

    ``references``: dataset id -> {sample id: ``MotionSequence``}; ``body_model``: an ``SMPLFX``.
    """

    def __init__(self, body_model, references: dict[str, dict], *, protocol: str = "m3t@1"):
        self.body_model = body_model
        self.items = [it for it in get_protocol(protocol).items if it.metric == SELECTION_METRIC]
        self.set_names = tuple(sorted({it.joint_set for it in self.items}))
        self.shapes = {(ds, i): seq.full_shape() for ds, seqs in references.items() for i, seq in seqs.items()}
        self.ref_points = {key: _points(body_model, self.set_names, references[key[0]][key[1]], shape)
                           for key, shape in self.shapes.items()}

    @property
    def keys(self) -> list[tuple[str, str]]:
        """``(dataset id, sample id)`` of every reference."""
        return sorted(self.ref_points)

    def score(self, predictions: dict[tuple[str, str], object], *, jobs: int = 1) -> dict:
        """``predictions``: ``(dataset id, sample id)`` -> ``MotionSequence`` for every reference. Returns
        ``{"mean": float, "datasets": {dataset: {part: mm}}}``."""
        keys = self.keys
        pred_points = {k: _points(self.body_model, self.set_names, predictions[k], self.shapes[k]) for k in keys}
        datasets = sorted({ds for ds, _ in keys})
        table: dict[str, dict[str, float]] = {ds: {} for ds in datasets}
        for it in self.items:
            jset = get_joint_set(it.joint_set)
            torch_threads = torch.get_num_threads()
            try:
                values = dtw_jpe_many([pred_points[k][it.joint_set] for k in keys],
                                      [self.ref_points[k][it.joint_set] for k in keys],
                                      root=jset.root, scored=jset.scored, jobs=jobs, **dict(it.params))
            finally:
                # numba's OpenMP layer shares libgomp with torch: restoring numba's thread count after the
                # DTW also sets torch's, which would leave training on NUMBA_NUM_THREADS threads
                torch.set_num_threads(torch_threads)
            for ds in datasets:
                table[ds][it.part] = float(np.mean([v for (d, _), v in zip(keys, values) if d == ds]))
        mean = float(np.mean([np.mean(list(parts.values())) for parts in table.values()]))
        return {"mean": mean, "datasets": table}

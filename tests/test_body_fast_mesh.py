"""The fast CPU path of evaluation plans (rigid skinning where it is rigid, rows written in place) equals the
reference path bit for bit, on the face set and on every set it serves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from m3t_bench.body import JOINT_SETS
from tests.test_body_model import random_params


def _both_paths(model, names, params, shape):
    """The points of ``names`` through the fast path and through the reference path."""
    with torch.no_grad():
        fast = model.evaluation_points_many(names, **params, shape=shape)
        model.fast_mesh = False
        try:
            reference = model.evaluation_points_many(names, **params, shape=shape)
        finally:
            model.fast_mesh = True
    return fast, reference


def _per_frame_shapes(n, lengths, seed):
    """(n, 310) shape rows: one random shape vector per run of ``lengths`` frames, as the scorer batches."""
    g = torch.Generator().manual_seed(seed)
    rows = [torch.randn(310, generator=g).repeat(k, 1) for k in lengths]
    return torch.cat(rows)[:n]


@pytest.mark.parametrize("shape_kind", ["none", "one", "per-frame"])
def test_fast_face_forward_equals_the_reference_path(smplfx, shape_kind):
    n = 300                                                   # several cache-sized chunks of frames
    params = random_params(n, seed=21)
    shape = {"none": None, "one": torch.randn(310, generator=torch.Generator().manual_seed(3)),
             "per-frame": _per_frame_shapes(n, [7, 150, 1, 60, 200], seed=4)}[shape_kind]
    assert smplfx._plan(("face",)).fast is not None          # the face set takes the fast path
    fast, reference = _both_paths(smplfx, ("face",), params, shape)
    assert fast["face"].shape == (n, 5024, 3)
    np.testing.assert_array_equal(fast["face"], reference["face"])


def test_fast_path_serves_the_large_sets_bit_for_bit(smplfx):
    """The face and region sets through one plan: the fast path, bit for bit."""
    params = random_params(40, seed=22)
    shape = _per_frame_shapes(40, [25, 15], seed=5)
    names = ("face", "region-body", "region-face", "region-hand")
    assert smplfx._plan(names).fast is not None
    fast, reference = _both_paths(smplfx, names, params, shape)
    for name in names:
        np.testing.assert_array_equal(fast[name], reference[name], err_msg=name)


def test_small_or_regressed_plans_keep_the_reference_path(smplfx):
    """Plans of few rows or with regressed points are not fast (nothing to gain / regressor supports)."""
    from m3t_bench.body.fast_mesh import MIN_ROWS
    from m3t_bench.body.joint_sets import point_kind
    for name in sorted(JOINT_SETS):
        kinds = {point_kind(p)[0] for p in smplfx.joint_set(name).points}
        plan = smplfx._plan((name,))
        large = plan.mesh is not None and plan.mesh.rows.numel() >= MIN_ROWS
        assert (plan.fast is not None) == (large and "regressed" not in kinds), name
    assert smplfx._plan(("body", "lhand", "rhand")).fast is None

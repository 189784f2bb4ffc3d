"""FSQ: level grids, mixed-radix indices, reachability, straight-through gradients, precision."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from reference_models.m3t.fsq import FSQ, MODALITY_LEVELS, SATURATION_EDGE

level_sets = st.lists(st.integers(min_value=2, max_value=9), min_size=1, max_size=4)


@given(level_sets)
def test_index_code_index_round_trip(levels):
    fsq = FSQ(levels)
    idx = torch.arange(fsq.codebook_size)
    assert fsq.codebook_size == math.prod(levels)
    assert torch.equal(fsq.codes_to_indices(fsq.indices_to_codes(idx)), idx)


@given(level_sets, st.integers(0, 2**31 - 1))
def test_quantize_then_round_trip_random_latents(levels, seed):
    fsq = FSQ(levels)
    z = torch.randn(64, len(levels), generator=torch.Generator().manual_seed(seed)) * 3
    codes, indices = fsq(z)
    assert indices.min() >= 0 and indices.max() < fsq.codebook_size
    assert torch.equal(fsq.indices_to_codes(indices), codes)
    assert torch.equal(fsq.codes_to_indices(codes), indices)


def test_mixed_radix_first_channel_least_significant():
    # Independent reference: numpy's row-major ravel with the channel order reversed.
    levels = [8, 5, 5, 5]
    fsq = FSQ(levels)
    digits = np.array([3, 1, 4, 2])
    expected = np.ravel_multi_index(tuple(digits[::-1]), tuple(levels[::-1]))
    assert expected == 3 + 1 * 8 + 4 * 40 + 2 * 200
    codes = torch.tensor((digits - np.array([4, 2, 2, 2])) / np.array([4, 2, 2, 2]), dtype=torch.float32)
    assert int(fsq.codes_to_indices(codes)) == expected


@pytest.mark.parametrize("levels, grid", [
    (5, [-1.0, -0.5, 0.0, 0.5, 1.0]),
    (7, [-1.0, -2 / 3, -1 / 3, 0.0, 1 / 3, 2 / 3, 1.0]),
    (4, [-1.0, -0.5, 0.0, 0.5]),              # even: asymmetric, +1 unreachable
    (8, [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75]),
    (2, [-1.0, 1.0]),                          # symmetric binary channel
])
def test_level_grid_per_channel(levels, grid):
    fsq = FSQ([levels])
    assert torch.allclose(fsq.implicit_codebook()[:, 0], torch.tensor(grid))


@given(level_sets)
def test_every_index_reachable_through_the_bound(levels):
    """For every code, a latent exists that FSQ maps onto it: invert the bound at each level."""
    fsq = FSQ(levels)
    codes = fsq.implicit_codebook().double()
    lv = torch.tensor(levels, dtype=torch.float64)
    binary = lv == 2
    hw = torch.floor(lv / 2)
    level_units = torch.where(binary, codes / 2, codes * hw)        # target value of the bound
    half_range = (lv - 1) * 1.001 / 2
    offset = torch.where(lv % 2 == 0, 0.5, 0.0)
    shift = torch.atanh(offset / half_range)
    z = torch.where(binary, torch.atanh(level_units), torch.atanh((level_units + offset) / half_range) - shift)
    _, indices = fsq(z.float())
    assert torch.equal(indices, torch.arange(fsq.codebook_size))


@pytest.mark.parametrize("levels", [[5], [4], [8, 5, 5], [3, 6]])
def test_zero_maps_to_zero_for_levels_above_two(levels):
    codes, _ = FSQ(levels)(torch.zeros(3, len(levels)))
    assert torch.equal(codes, torch.zeros_like(codes))


def test_straight_through_gradient_equals_bound_gradient():
    fsq = FSQ([8, 5, 2])
    z = torch.randn(32, 3, dtype=torch.float32, requires_grad=True)
    weights = torch.randn(32, 3)
    (fsq(z)[0] * weights).sum().backward()
    # d code / d z = d bound / d z divided by the normalisation (half width; 1/2 for L=2)
    z2 = z.detach().clone().requires_grad_(True)
    bound = fsq.bound(z2)
    scale = torch.tensor([4.0, 2.0, 0.5])
    (bound / scale * weights).sum().backward()
    assert torch.allclose(z.grad, z2.grad, atol=1e-6)
    assert (z.grad != 0).all()


def test_binary_channel_keeps_gradient_at_zero():
    z = torch.zeros(1, 1, requires_grad=True)
    FSQ([2])(z)[0].sum().backward()
    assert float(z.grad) == pytest.approx(2.0, rel=1e-5)  # d(2 tanh z)/dz at 0 (times 1 - 1e-6)


def test_no_parameters_and_fp32_inside_autocast():
    fsq = FSQ(MODALITY_LEVELS["face"])
    assert list(fsq.parameters()) == []
    z = torch.randn(200, 3) * 2
    ref_codes, ref_idx = fsq(z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        codes, idx = fsq(z.bfloat16())
    assert codes.dtype == torch.bfloat16
    assert torch.equal(idx, fsq(z.bfloat16().float())[1])  # indices computed in fp32 from the bf16 input
    assert torch.equal(fsq(z)[1], ref_idx) and torch.equal(fsq(z)[0], ref_codes)


def test_modality_codebook_sizes_are_near_sokes():
    sizes = {m: FSQ(lv).codebook_size for m, lv in MODALITY_LEVELS.items()}
    assert sizes == {"body": 100, "hand": 200, "face": 320}
    assert all(len(lv) == 3 for lv in MODALITY_LEVELS.values())


def test_rejects_bad_levels_and_inputs():
    with pytest.raises(ValueError):
        FSQ([1, 5])
    fsq = FSQ([5, 5])
    with pytest.raises(ValueError):
        fsq(torch.zeros(4, 3))
    with pytest.raises(ValueError):
        fsq.indices_to_codes(torch.tensor([25]))


@given(level_sets)
def test_saturation_penalty_is_zero_wherever_a_code_can_change(levels):
    fsq = FSQ(levels)
    z = torch.linspace(-6, 6, 241)[:, None].expand(-1, len(levels)).contiguous()
    shifted = torch.where(fsq._binary, z, z + fsq._shift)
    inside = shifted.abs() <= SATURATION_EDGE
    # past the edge every latent already rounds to its channel's extreme level
    codes = fsq.quantize(z)
    extreme = torch.where(shifted > 0, codes.max(dim=0).values, codes.min(dim=0).values)
    assert torch.equal(codes[~inside], extreme[~inside])
    for i in range(z.shape[0]):                     # a row: the same latent on every channel
        assert (fsq.saturation_penalty(z[i:i + 1]) == 0) == bool(inside[i].all()), (levels, float(z[i, 0]))


def test_saturation_penalty_stops_the_straight_through_drift_under_adam():
    """A target beyond the extreme level keeps pushing a straight-through latent outward (Adam rescales the
    vanishing tanh gradient), so it drifts deeper into the saturated tail for ever; the penalty holds it at
    the saturation edge, with the same code."""
    fsq = FSQ([8])
    target = torch.tensor([[1.5]])                      # beyond the largest code, 0.75

    def train(weight: float, steps: int) -> float:
        z = torch.zeros(1, 1, requires_grad=True)
        opt = torch.optim.Adam([z], lr=0.1)
        for _ in range(steps):
            loss = (fsq(z)[0] - target).pow(2).mean() + weight * fsq.saturation_penalty(z)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return float(z.detach())

    free = [train(0.0, n) for n in (500, 1500)]
    guarded = [train(1.0, n) for n in (500, 1500)]
    assert free[0] > SATURATION_EDGE and free[1] > free[0] + 0.3     # still drifting outward
    assert guarded[1] == pytest.approx(guarded[0], abs=1e-4) and guarded[1] <= SATURATION_EDGE   # stopped
    assert fsq(torch.tensor([guarded[:1]]))[1] == fsq(torch.tensor([free[1:]]))[1]

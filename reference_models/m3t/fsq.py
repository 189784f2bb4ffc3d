"""Finite Scalar Quantization (Mentzer et al., "Finite Scalar Quantization: VQ-VAE Made Simple",
arXiv:2309.15505), as used by the M3T tokenizers (paper §3.2, appendix D.1).

Each of the ``D = len(levels)`` latent channels is bounded, rounded to one of ``L_i`` integer levels and
rescaled; the implicit codebook is the grid of all level combinations, ``prod(levels)`` codes. There is no
learned parameter and no auxiliary loss: gradients pass through the rounding unchanged (straight-through).

Per channel with ``L`` levels (``L >= 3``), in *level units*:

* bound: ``y = tanh(z + s) * h - o`` with ``h = (L - 1)(1 + 1e-3) / 2``, ``o = 0.5`` for even ``L`` and
  ``0`` for odd ``L``, ``s = artanh(o / h)`` so that ``z = 0`` gives ``y = 0``; the ``1e-3`` lets the
  extreme levels be reached by rounding;
* quantise: ``q = round(y)`` (straight-through), an integer in ``[-floor(L/2), ceil(L/2) - 1]``;
* normalise: ``code = q / floor(L/2)``. Odd L: symmetric levels in [-1, 1] (L=5: -1, -.5, 0, .5, 1);
  even L: asymmetric, +1 unreachable (L=4: -1, -.5, 0, .5).

Saturation guard. Past ``|z + s| = SATURATION_EDGE`` (3: tanh > 0.995) every latent already rounds to its
channel's extreme level, so the forward pass cannot change there; but straight-through training keeps
pushing such a latent outward whenever the decoder wants a value beyond the extreme level, and Adam's
per-parameter normalisation turns the vanishing tanh gradient into full-size weight steps. The latents
then drift to |z| of tens, stay saturated, and the codebook collapses onto its corner codes (observed:
a width-64 face tokenizer at 8% use, pre-bound latents with standard deviation 33-58 and 99% of them
saturated, while the same run with another seed stays at |z| ~ 1 and 70%). :meth:`FSQ.saturation_penalty`
(``mean(relu(|z + s| - 3)^2)``) is zero wherever a code can still change; added to the loss it only
stops the drift. It is the one training term FSQ has; it is not a codebook or commitment loss.

``L = 2`` is treated symmetrically: the half-step offset above would need ``s = artanh(0.5 / 0.5005)
≈ 3.8``, which saturates tanh at ``z = 0`` and all but stops the gradient. Instead ``y = tanh(z)``
(kept strictly inside (-1, 1)),
``q = floor(y) + 0.5`` (straight-through) and ``code = 2 q``: levels ``{-1, +1}``, ``z >= 0 ↦ +1``.
A 2-level channel has no zero level, so it is the one case where ``0 ↦ 0`` cannot hold.

Index: channel level ``k_i = code_i * a_i + b_i`` in ``0..L_i-1`` (``a_i = b_i = floor(L_i/2)``; for L=2
``a = b = 1/2``); flat index ``sum_i k_i * prod_{j<i} L_j`` (mixed radix, first channel least significant).

Level sets of the reference tokenizers (three latent channels each, paper appendix D.1: "a final Conv1D
reduces channels to 3"; sizes chosen near SOKE's VQ codebooks, body+face 96 and 192 per hand, with a
larger face codebook for FLAME's 100-d expression space; levels >= 4 so every channel keeps a zero level):

========  ============  =============  ==========================
modality  levels        codebook size  SOKE's size (VQ)
========  ============  =============  ==========================
body      [5, 5, 4]     100            96 (body + face together)
hand      [8, 5, 5]     200            192 (per hand)
face      [8, 8, 5]     320            — (SOKE has no face codebook)
========  ============  =============  ==========================
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

#: Level sets of the reference tokenizers, per modality (see the module docstring).
MODALITY_LEVELS: dict[str, tuple[int, ...]] = {
    "body": (5, 5, 4),
    "hand": (8, 5, 5),
    "face": (8, 8, 5),
}

_BOUND_EPS = 1e-3
#: Pre-bound magnitude past which every latent rounds to its extreme level (see the module docstring).
SATURATION_EDGE = 3.0


def _round_ste(x: Tensor) -> Tensor:
    """Round to the nearest integer in the forward pass; identity gradient."""
    return x + (torch.round(x) - x).detach()


def _floor_ste(x: Tensor) -> Tensor:
    """Floor in the forward pass; identity gradient."""
    return x + (torch.floor(x) - x).detach()


class FSQ(nn.Module):
    """Finite scalar quantizer over the last axis.

    ``FSQ(levels)(z)`` with ``z (..., D)``, ``D = len(levels)``, returns ``(codes, indices)``:
    ``codes (..., D)`` in [-1, 1] (dtype of ``z``; computed in float32 even under autocast) and
    ``indices (...,)`` int64 in ``[0, codebook_size)``.
    """

    def __init__(self, levels: Sequence[int]):
        super().__init__()
        levels = tuple(int(v) for v in levels)
        if not levels or any(v < 2 for v in levels):
            raise ValueError(f"levels must be a non-empty list of integers >= 2, got {list(levels)}")
        self.levels = levels
        self.dim = len(levels)
        self.codebook_size = math.prod(levels)
        lv = torch.tensor(levels, dtype=torch.float64)
        binary = lv == 2
        half_range = (lv - 1) * (1 + _BOUND_EPS) / 2
        offset = torch.where(lv % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_range)
        half_width = torch.floor(lv / 2)
        # code -> level index: k = code * a + b
        index_scale = torch.where(binary, 0.5, half_width)
        basis = torch.cumprod(torch.tensor((1, *levels[:-1]), dtype=torch.int64), dim=0)
        for name, value in (("_binary", binary), ("_half_range", half_range.float()), ("_offset", offset.float()),
                            ("_shift", shift.float()), ("_half_width", half_width.float()),
                            ("_index_scale", index_scale.float()), ("_levels", lv.long()), ("_basis", basis)):
            self.register_buffer(name, value, persistent=False)

    def extra_repr(self) -> str:
        return f"levels={list(self.levels)}, codebook_size={self.codebook_size}"

    def bound(self, z: Tensor) -> Tensor:
        """Bound ``z (..., D)`` (float32) to each channel's level range, in level units (before rounding)."""
        offset_bound = torch.tanh(z + self._shift) * self._half_range - self._offset
        binary_bound = torch.tanh(z) * (1 - 1e-6)  # strictly inside (-1, 1) so floor() gives -1 or 0
        return torch.where(self._binary, binary_bound, offset_bound)

    def saturation_penalty(self, z: Tensor) -> Tensor:
        """``mean(relu(|z + s| - SATURATION_EDGE)^2)`` over latents ``z (..., D)``: zero while every code can
        still change, growing once a latent drifts deep into the saturated tail (module docstring)."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            shifted = torch.where(self._binary, z.float(), z.float() + self._shift)
            return torch.relu(shifted.abs() - SATURATION_EDGE).pow(2).mean()

    def quantize(self, z: Tensor) -> Tensor:
        """Codes ``(..., D)`` in [-1, 1] for latents ``z (..., D)``; straight-through gradient; float32."""
        y = self.bound(z)
        rounded = torch.where(self._binary, _floor_ste(y) + 0.5, _round_ste(y))
        return torch.where(self._binary, rounded * 2.0, rounded / self._half_width)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z (..., D)`` -> ``(codes (..., D) in z's dtype, indices (...,) int64)``."""
        if z.shape[-1] != self.dim:
            raise ValueError(f"FSQ expects a last axis of size {self.dim} (levels {list(self.levels)}), "
                             f"got shape {tuple(z.shape)}")
        with torch.autocast(device_type=z.device.type, enabled=False):
            codes = self.quantize(z.float())
            indices = self.codes_to_indices(codes)
        return codes.to(z.dtype), indices

    def codes_to_indices(self, codes: Tensor) -> Tensor:
        """Codes ``(..., D)`` (on the grid) -> flat indices ``(...,)`` int64 (first channel least significant)."""
        digits = torch.round(codes.float() * self._index_scale + self._index_scale).long()
        return (digits * self._basis).sum(dim=-1)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """Flat indices ``(...,)`` (integers in ``[0, codebook_size)``) -> codes ``(..., D)`` float32.

        Raises ``ValueError`` for an index outside the codebook."""
        indices = torch.as_tensor(indices, device=self._basis.device).long()
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.codebook_size):
            raise ValueError(f"FSQ index out of range [0, {self.codebook_size}): "
                             f"min {int(indices.min())}, max {int(indices.max())}")
        digits = (indices[..., None] // self._basis) % self._levels
        return (digits.float() - self._index_scale) / self._index_scale

    def implicit_codebook(self) -> Tensor:
        """All ``codebook_size`` codes, ``(codebook_size, D)`` float32, row ``i`` = code of index ``i``."""
        return self.indices_to_codes(torch.arange(self.codebook_size, device=self._basis.device))

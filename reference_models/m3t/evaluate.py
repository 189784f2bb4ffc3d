"""Reconstruction quality of a tokenizer through the SMPL-FX forward pass.

A modality's *vertex region* is the set of SMPL-FX vertices its parameters move: found once per body
model by comparing a neutral pose with randomly perturbed values of that modality's streams (body: the
upper body, arms, hands and head; hand: both hands; face: the FLAME face region moved by expression, eyelids
and jaw). Errors are measured on that region, with the other streams at their ground-truth values:

* ``vertex_error_mm``: mean Euclidean vertex distance in mm (root and translation are fixed in SMPL-FX,
  so no alignment) — the checkpoint-selection criterion of training;
* ``pa_vpe_mm``: per-frame Procrustes-aligned vertex error (:func:`m3t_bench.metrics.pa_vpe`);
* ``utilisation_pct``: share of the codebook used over the whole evaluated split
  (:func:`m3t_bench.metrics.codebook_utilisation`), and the standard deviation of token frequencies.
Every figure is computed per sample first, then averaged over samples.
"""

from __future__ import annotations

import numpy as np
import torch

from m3t_bench.motion import MotionSequence, axis_angle_to_rot6d, identity_rot6d
from m3t_bench.motion.layout import FACE_JAW_6D, STREAM_SHAPES
from reference_models.m3t.data import MODALITY_STREAMS, modality_inputs, streams_from_outputs
from reference_models.m3t.vae import MotionTokenizer

#: Vertices displaced by more than this (metres) under a random change of a modality belong to its region.
REGION_THRESHOLD_M = 1e-6
_FRAME_CHUNK = 256


def neutral_streams(n: int) -> dict[str, torch.Tensor]:
    """Rest pose for ``n`` frames: identity rotations, zero expression and eyelids, closed jaw."""
    out = {s: identity_rot6d(n, *STREAM_SHAPES[s][:-1]) for s in ("body", "lhand", "rhand")}
    face = torch.zeros(n, STREAM_SHAPES["face"][0])
    face[:, FACE_JAW_6D] = identity_rot6d(n)
    out["face"] = face
    return out


def _random_rot6d(shape: tuple[int, ...], generator: torch.Generator, scale: float) -> torch.Tensor:
    """Random 6D rotations ``(*shape, 6)``: axis-angle drawn from N(0, scale^2) per component."""
    return axis_angle_to_rot6d(torch.randn(*shape, 3, generator=generator) * scale)


@torch.no_grad()
def modality_vertex_ids(body_model, modality: str, *, seed: int = 0) -> torch.Tensor:
    """Indices ``(P,)`` int64 of the SMPL-FX vertices moved by ``modality``'s streams (see module doc)."""
    n = 4
    gen = torch.Generator().manual_seed(seed)
    rest = neutral_streams(n)
    moved = dict(rest)
    for stream in MODALITY_STREAMS[modality]:
        if stream == "face":
            face = torch.randn(n, STREAM_SHAPES["face"][0], generator=gen)
            face[:, FACE_JAW_6D] = _random_rot6d((n,), gen, 0.3)
            moved["face"] = face
        else:
            moved[stream] = _random_rot6d((n, STREAM_SHAPES[stream][0]), gen, 0.5)
    device = next(iter(body_model.buffers())).device
    v_rest = body_model(**{k: v.to(device) for k, v in rest.items()}).vertices
    v_moved = body_model(**{k: v.to(device) for k, v in moved.items()}).vertices
    displacement = (v_moved - v_rest).norm(dim=-1).amax(dim=0)
    return torch.nonzero(displacement > REGION_THRESHOLD_M).flatten().cpu()


@torch.no_grad()
def region_vertices(body_model, seq: MotionSequence, vertex_ids: torch.Tensor) -> torch.Tensor:
    """SMPL-FX vertices ``(T, P, 3)`` in metres (float32, CPU) of ``seq`` restricted to ``vertex_ids``."""
    device = next(iter(body_model.buffers())).device
    shape = None if seq.shape is None else torch.as_tensor(seq.full_shape(), device=device)
    ids = vertex_ids.to(device)
    chunks = []
    for start in range(0, seq.n_frames, _FRAME_CHUNK):
        part = {s: torch.as_tensor(np.asarray(getattr(seq, s)[start:start + _FRAME_CHUNK], np.float32), device=device)
                for s in ("body", "lhand", "rhand", "face")}
        chunks.append(body_model(**part, shape=shape).vertices[:, ids].float().cpu())
    return torch.cat(chunks)


@torch.no_grad()
def reconstruct_sequence(model: MotionTokenizer, seq: MotionSequence) -> tuple[MotionSequence, dict[str, np.ndarray]]:
    """``seq`` with ``model.modality``'s streams replaced by their reconstructions, and the tokens
    (stream name -> ``(ceil(T/4),)`` int64)."""
    device = model.input_mean.device
    outputs, tokens = {}, {}
    for stream, x in modality_inputs(seq, model.modality).items():
        recon, idx = model.reconstruct(torch.as_tensor(x, device=device)[None])
        outputs[stream] = recon[0].cpu().numpy()
        tokens[stream] = idx[0].cpu().numpy()
    streams = {s: getattr(seq, s) for s in ("body", "lhand", "rhand", "face")}
    streams.update(streams_from_outputs(outputs))
    return MotionSequence(**streams, shape=seq.shape), tokens


def _pa_vpe_mm(pred: torch.Tensor, ref: torch.Tensor) -> float:
    from m3t_bench.metrics.jpe import pa_vpe
    return float(pa_vpe(pred.numpy(), ref.numpy(), unit="mm"))


@torch.no_grad()
def evaluate_tokenizer(model: MotionTokenizer, body_model, sequences: list[MotionSequence], *,
                       vertex_ids: torch.Tensor | None = None, full: bool = True,
                       reference_vertices: list[torch.Tensor] | None = None) -> dict:
    """Reconstruction figures of ``model`` on ``sequences`` (see the module docstring).
    ``reference_vertices`` (optional): the ground-truth ``region_vertices`` of each sequence, precomputed.

    Returns ``{"vertex_error_mm", "n_samples", "n_tokens"}`` and, with ``full``, ``"pa_vpe_mm",
    "utilisation_pct", "token_freq_std"``."""
    was_training = model.training
    model.eval()
    if vertex_ids is None:
        vertex_ids = modality_vertex_ids(body_model, model.modality)
    errors, pa_errors, all_tokens = [], [], []
    for k, seq in enumerate(sequences):
        recon, tokens = reconstruct_sequence(model, seq)
        ref_v = region_vertices(body_model, seq, vertex_ids) if reference_vertices is None else reference_vertices[k]
        pred_v = region_vertices(body_model, recon, vertex_ids)
        errors.append(float((pred_v - ref_v).norm(dim=-1).mean()) * 1000.0)
        if full:
            pa_errors.append(_pa_vpe_mm(pred_v, ref_v))
        all_tokens.extend(tokens.values())
    model.train(was_training)
    out = {"vertex_error_mm": float(np.mean(errors)) if errors else float("nan"),
           "n_samples": len(errors), "n_tokens": int(sum(t.size for t in all_tokens))}
    if full:
        from m3t_bench.metrics.codebook import codebook_utilisation, token_frequency_std
        out.update(pa_vpe_mm=float(np.mean(pa_errors)) if pa_errors else float("nan"),
                   utilisation_pct=codebook_utilisation(all_tokens, model.codebook_size),
                   token_freq_std=token_frequency_std(all_tokens, model.codebook_size))
    return out

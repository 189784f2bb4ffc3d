"""Reconstruction quality of a tokenizer through the SMPL-FX forward pass, under protocol ``tokenizer@1``.

A modality's *vertex region* is the named region set of the joint-set registry (``region-body``: upper
body, arms, hands and head; ``region-hand``: both hands; ``region-face``: the vertices expression, eyelids
and jaw move), resolved on the body model in use. Errors are measured on that region, with the other
streams at their ground-truth values:

* ``vertex_error_mm``: mean Euclidean vertex distance in mm (root and translation are fixed in SMPL-FX,
  so no alignment) — the checkpoint-selection criterion of training, not a protocol metric;
* the protocol's numbers, each signed (``scores``: results entries with value, 95% bootstrap CI, n, unit,
  signature): ``pa-vpe`` (per-frame Procrustes-aligned vertex error, mm), ``pa-jpe`` (the same on the body
  or hand joint sets: body, lhand, rhand), ``codebook-use`` (% of the codebook used over the whole evaluated
  split) and ``token-freq-std`` (standard deviation of token frequencies); the Table 3 figures are also given
  as ``pa_vpe_mm``, ``utilisation_pct`` and ``token_freq_std``.

Every figure is computed per sample first, then aggregated over samples.
"""

from __future__ import annotations

import numpy as np
import torch

from m3t_bench.motion import MotionSequence
from m3t_bench.protocols import get_protocol
from m3t_bench.scoring.items import ScoreItem, protocol_items, summarise
from reference_models.m3t.data import MODALITY_STREAMS, modality_inputs, streams_from_outputs
from reference_models.m3t.vae import MotionTokenizer

#: The protocol tokenizer figures are reported under, and each modality's region set.
PROTOCOL = "tokenizer@1"
REGION_SETS = {"body": "region-body", "hand": "region-hand", "face": "region-face"}
#: Results-entry metric -> the flat key it is also given under (the Table 3 figures).
FLAT_KEYS = {"pa-vpe": "pa_vpe_mm", "codebook-use": "utilisation_pct", "token-freq-std": "token_freq_std"}
STREAM_NAMES = ("body", "lhand", "rhand", "face")


def modality_parts(modality: str) -> tuple[str, ...]:
    """The protocol parts a modality's tokenizer is reported for: the modality and the streams it encodes."""
    return tuple(dict.fromkeys((modality, *MODALITY_STREAMS[modality])))


def point_sets(modality: str) -> tuple[str, ...]:
    """The joint sets a modality's evaluation needs: its region (vertex error, PA-VPE), then the joint sets of
    its ``tokenizer@1`` PA-JPE items."""
    items = get_protocol(PROTOCOL).items
    return tuple(dict.fromkeys([REGION_SETS[modality], *(it.joint_set for it in items
                                                         if it.joint_set and it.part in modality_parts(modality))]))


@torch.no_grad()
def set_points(body_model, seq: MotionSequence, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Points ``(T, P, 3)`` in metres (float32, CPU) of ``seq`` in each joint set of ``names``, one pass."""
    device = body_model.template.device
    streams = {s: torch.as_tensor(np.asarray(getattr(seq, s), np.float32), device=device) for s in STREAM_NAMES}
    shape = None if seq.shape is None else torch.as_tensor(seq.full_shape(), device=device)
    return {n: p.float().cpu() for n, p in body_model.evaluation_points_many(names, **streams, shape=shape).items()}


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
    streams = {s: getattr(seq, s) for s in STREAM_NAMES}
    streams.update(streams_from_outputs(outputs))
    return MotionSequence(**streams, shape=seq.shape), tokens


def tokenizer_items(modality: str, *, body_model_id: str, dataset_id: str | None, seed: int) -> list[ScoreItem]:
    """The ``tokenizer@1`` items of ``modality``, signed for the body model, dataset and bootstrap seed."""
    if dataset_id is None:
        raise ValueError("a full tokenizer evaluation needs the dataset id for its signatures")
    return [it for it in protocol_items(get_protocol(PROTOCOL), model_id=body_model_id, dataset_id=dataset_id,
                                        seed=seed) if it.part in modality_parts(modality)]


@torch.no_grad()
def evaluate_tokenizer(model: MotionTokenizer, body_model, sequences: list[MotionSequence], *, full: bool = True,
                       reference_points: list[dict[str, torch.Tensor]] | None = None, dataset_id: str | None = None,
                       seed: int = 0) -> dict:
    """Reconstruction figures of ``model`` on ``sequences`` (see the module docstring).
    ``reference_points`` (optional): the ground-truth :func:`set_points` of each sequence for
    :func:`point_sets` of the modality, precomputed. ``dataset_id`` (needed with ``full``): recorded in the
    signatures; ``seed``: of the bootstrap CIs.

    Returns ``{"vertex_error_mm", "n_samples", "n_tokens"}`` and, with ``full``, the signed ``"scores"`` of
    the modality's ``tokenizer@1`` items and the Table 3 figures ``"pa_vpe_mm", "utilisation_pct",
    "token_freq_std"``."""
    region = REGION_SETS[model.modality]
    items = tokenizer_items(model.modality, body_model_id=body_model.model_id, dataset_id=dataset_id,
                            seed=seed) if full else []
    sets = point_sets(model.modality) if full else (region,)
    per_sample = {it: [] for it in items if it.spec.inputs == "points"}
    was_training = model.training
    model.eval()
    errors, sample_tokens = [], []
    for k, seq in enumerate(sequences):
        recon, tokens = reconstruct_sequence(model, seq)
        ref = set_points(body_model, seq, sets) if reference_points is None else reference_points[k]
        pred = set_points(body_model, recon, sets)
        errors.append(float((pred[region] - ref[region]).norm(dim=-1).mean()) * 1000.0)
        for it, values in per_sample.items():
            values.extend(it.per_sample([pred[it.joint_set].numpy()], [ref[it.joint_set].numpy()],
                                        scored=body_model.joint_set(it.joint_set).scored))
        sample_tokens.append(np.concatenate([t.reshape(-1) for t in tokens.values()]))
    model.train(was_training)
    out = {"vertex_error_mm": float(np.mean(errors)) if errors else float("nan"),
           "n_samples": len(errors), "n_tokens": int(sum(t.size for t in sample_tokens))}
    if full:
        scores = _signed(items, per_sample, sample_tokens, codebook_size=model.codebook_size, seed=seed)
        out.update({"scores": scores, **{FLAT_KEYS[s["metric"]]: s["value"] for s in scores if s["metric"] in FLAT_KEYS}})
    return out


def _signed(items: list[ScoreItem], per_sample: dict, sample_tokens: list[np.ndarray], *, codebook_size: int,
            seed: int) -> list[dict]:
    """Results entries of the items: the points items from their per-sample values, the token items from each
    sample's tokens."""
    return [summarise(it, np.asarray(per_sample[it]) if it in per_sample
                      else it.per_sample(sample_tokens, codebook_size=codebook_size), seed=seed) for it in items]

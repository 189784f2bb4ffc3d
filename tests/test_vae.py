"""Tokenizer VAEs: shapes for every length, parameter count, hidden states, VQ codebook behaviour,
hand mirroring, and safetensors-only checkpoints. Untrained tiny models: these are structural properties."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from m3t_bench.errors import UserError
from m3t_bench.motion import MotionSequence, axis_angle_to_rot6d, mirror_hand
from reference_models.m3t.checkpoint import WEIGHTS_FILE, load_tokenizer, save_tokenizer
from reference_models.m3t.config import FULL, TINY, TokenizerConfig
from reference_models.m3t.tokenize import detokenize_arrays, tokenize_sequence
from reference_models.m3t.train import build_model
from reference_models.m3t.vae import MODALITY_CHANNELS, MotionTokenizer, pad_to_multiple, parameter_count
from reference_models.m3t.vq import EMAVectorQuantizer


@pytest.mark.parametrize("quantizer", ["fsq", "vq"])
def test_shapes_for_every_length(quantizer):
    model = build_model("hand", TINY, quantizer, seed=0).eval()
    for t in range(1, 21):
        x = torch.randn(2, t, 90)
        recon, tokens = model.reconstruct(x)
        assert recon.shape == (2, t, 90)
        assert tokens.shape == (2, math.ceil(t / 4)) and tokens.dtype == torch.int64
        assert model.hidden_states(x).shape == (2, TINY.width, math.ceil(t / 4))
        assert model.detokenize(tokens, n_frames=t).shape == (2, t, 90)


def test_padding_repeats_the_last_frame_and_crops_back():
    x = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (2, 8, 3)
    assert torch.equal(padded[:, 5:], x[:, 4:5].expand(-1, 3, -1))
    model = build_model("body", TINY, "fsq", seed=0).eval()
    seq = torch.randn(1, 7, 72)
    # a 7-frame sequence tokenizes like its 8-frame replicate-padded version
    assert torch.equal(model.tokenize(seq), model.tokenize(pad_to_multiple(seq, 4)))


def _expected_parameters(cfg: TokenizerConfig, channels: int, latent: int) -> int:
    """Hand count of the architecture: conv weights k*in*out + biases."""
    w, d, s = cfg.width, cfg.depth, cfg.down_stages
    block = (3 * w * w + w) + (w * w + w)
    encoder = (3 * channels * w + w) + s * ((4 * w * w + w) + d * block) + (3 * w * latent + latent)
    decoder = (3 * latent * w + w) + s * (d * block + 3 * w * w + w) + (3 * w * w + w) + (3 * w * channels + channels)
    return encoder + decoder


@pytest.mark.parametrize("modality", ["body", "hand", "face"])
def test_full_config_parameter_count(modality):
    with torch.device("meta"):
        model = MotionTokenizer(modality, FULL)
    count = parameter_count(model)
    assert count == _expected_parameters(FULL, MODALITY_CHANNELS[modality], 3)
    assert 115e6 < count < 125e6  # the paper: "approximately 120M parameters" per FSQ-VAE


def test_hidden_states_feed_the_latent():
    model = build_model("face", TINY, "fsq", seed=1).eval()
    x = torch.randn(1, 16, 108)
    latent = model.encoder.to_latent(model.hidden_states(x))
    codes, _ = model.quantizer(latent.transpose(1, 2))
    assert torch.equal(model.quantizer.codes_to_indices(codes), model.tokenize(x))


def test_normalisation_floor_and_round_trip():
    model = build_model("face", TINY, "fsq", seed=0)
    model.set_normalisation(torch.full((108,), 2.0), torch.zeros(108))
    assert torch.all(model.input_std == TINY.std_floor)
    x = torch.randn(3, 108)
    assert torch.allclose(model.denormalise(model.normalise(x)), x, atol=1e-6)


def test_vq_initialises_from_first_batch_and_updates_by_ema():
    vq = EMAVectorQuantizer(8, 2, decay=1.0, dead_threshold=0.0, seed=0)   # decay 1: the EMA holds still
    z = torch.randn(64, 2)
    vq.train()
    codes, idx, loss = vq(z)
    assert torch.allclose(codes, vq.codebook[idx], atol=1e-6)  # nearest code (the codebook held still)
    # every initial code is one of the batch's vectors
    assert bool(vq.initialised) and (vq.codebook[:, None] == z[None]).all(-1).any(1).all()
    vq.decay = 0.5
    # one more step: each used code moves to decay*old_sum + (1-decay)*batch_sum over its counts
    before_sum, before_count = vq.ema_sum.clone(), vq.ema_count.clone()
    _, idx, _ = vq(z)
    k = int(idx[0])
    members = z[idx == k]
    expect_count = 0.5 * before_count[k] + 0.5 * len(members)
    expect = (0.5 * before_sum[k] + 0.5 * members.sum(0)) / expect_count
    assert torch.allclose(vq.codebook[k], expect, atol=1e-5)
    assert loss > 0


def test_vq_dead_codes_are_reset_to_encoder_outputs():
    vq = EMAVectorQuantizer(16, 3, decay=0.99, dead_threshold=1.0, seed=0).train()
    z = torch.randn(4, 3) + 10.0      # few vectors: most codes get no assignment and die
    vq(z)
    vq(z)
    assert float(torch.cdist(vq.codebook, z).min(dim=1).values.max()) < 0.1


def test_vq_commitment_gradient_and_straight_through():
    vq = EMAVectorQuantizer(4, 2, seed=0).train()
    z = torch.randn(10, 2, requires_grad=True)
    codes, _, loss = vq(z)
    (codes.sum() + loss).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and (z.grad != 1).any()


def _hand_sequence(t: int, seed: int) -> MotionSequence:
    g = torch.Generator().manual_seed(seed)
    rot = lambda j: axis_angle_to_rot6d(torch.randn(t, j, 3, generator=g) * 0.4).numpy()  # noqa: E731
    face = np.zeros((t, 108), np.float32)
    face[:, 102:] = axis_angle_to_rot6d(torch.zeros(t, 3)).numpy()
    return MotionSequence(body=rot(12), lhand=rot(15), rhand=rot(15), face=face)


def test_mirroring_round_trip_through_the_shared_hand_model():
    models = {m: build_model(m, TINY, "fsq", seed=3).eval() for m in ("body", "hand", "face")}
    seq = _hand_sequence(13, 0)
    swapped = MotionSequence(body=seq.body, lhand=mirror_hand(seq.rhand), rhand=mirror_hand(seq.lhand), face=seq.face)
    tokens, tokens_swapped = tokenize_sequence(models, seq), tokenize_sequence(models, swapped)
    # the left hand is mirrored into the right-hand convention, so swapping hands swaps tokens
    assert np.array_equal(tokens["lhand"], tokens_swapped["rhand"])
    assert np.array_equal(tokens["rhand"], tokens_swapped["lhand"])
    assert tokens["n_frames"].tolist() == [13]
    decoded = detokenize_arrays(models, tokens, int(tokens["n_frames"][0]))
    decoded_swapped = detokenize_arrays(models, tokens_swapped, 13)
    # decoding un-mirrors the left hand
    assert np.allclose(decoded.lhand, mirror_hand(decoded_swapped.rhand), atol=1e-6)
    assert decoded.problems() == [] and decoded.n_frames == 13


def test_checkpoint_round_trip_is_safetensors_only(tmp_path):
    model = build_model("body", TINY, "vq", seed=0)
    model.set_normalisation(torch.randn(72), torch.rand(72) + 0.5)
    model.train()(torch.randn(8, 16, 72))           # initialise the codebook
    save_tokenizer(model, tmp_path, {"data": {"manifest_sha256": "abc"}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", WEIGHTS_FILE]
    assert json.loads((tmp_path / "config.json").read_text())["data"]["manifest_sha256"] == "abc"
    loaded, meta = load_tokenizer(tmp_path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.randn(1, 9, 72)
    assert torch.equal(loaded.tokenize(x), model.eval().tokenize(x))
    # a pickled torch file in place of the safetensors weights is refused, not unpickled
    torch.save(model.state_dict(), tmp_path / WEIGHTS_FILE)
    with pytest.raises(UserError, match="safetensors"):
        load_tokenizer(tmp_path)

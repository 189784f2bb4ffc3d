"""Per-modality motion tokenizers: a Conv1D encoder/decoder around FSQ (or the VQ ablation), after the
T2M-GPT / MotionGPT motion VAE as configured in the M3T paper (appendix D.1).

Encoder: Conv1D(k3) from the input channels to width W + ReLU; ``down_stages`` times a stride-2 Conv1D
(k4, padding 1) followed by a ResNet-1D stack of ``depth`` residual blocks (ReLU, dilated Conv1D k3,
ReLU, Conv1D k1, skip) with dilations ``growth**0, growth**1, ...``; a final Conv1D(k3) to the latent width
(``len(levels)`` for FSQ). Decoder: Conv1D(k3) latent -> W + ReLU; ``down_stages`` times a ResNet-1D stack
with the dilations reversed, nearest up-sampling ×2 and Conv1D(k3); Conv1D(k3) + ReLU + Conv1D(k3) to the
input channels. Time is down-sampled ×4 with two stages.

Lengths: a sequence of ``T`` frames is padded to the next multiple of 4 by repeating its last frame,
encoded into ``ceil(T/4)`` tokens, and the decoded ``4 * ceil(T/4)`` frames are cropped back to ``T``.

Inputs are raw SMPL-FX parameters ``(B, T, C)``; the model normalises them with per-channel mean/std
buffers (computed on the training split, saved with the weights) and de-normalises its output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reference_models.m3t.config import TokenizerConfig
from reference_models.m3t.fsq import FSQ, MODALITY_LEVELS
from reference_models.m3t.vq import EMAVectorQuantizer

#: Input channels per modality: body 12x6, one hand 15x6 (both hands share the hand model), face 108.
MODALITY_CHANNELS: dict[str, int] = {"body": 72, "hand": 90, "face": 108}
QUANTIZERS = ("fsq", "vq")


class ResidualBlock1D(nn.Module):
    """``x + Conv1D_k1(ReLU(Conv1D_k3,dilation(ReLU(x))))`` on ``(B, W, T)``; length preserved."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.dilated = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.pointwise = nn.Conv1d(width, width, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.pointwise(F.relu(self.dilated(F.relu(x))))


def resnet1d(width: int, depth: int, growth: int, *, reverse: bool) -> nn.Sequential:
    """``depth`` residual blocks with dilations ``growth**i`` (largest first when ``reverse``)."""
    dilations = [growth ** i for i in range(depth)]
    return nn.Sequential(*(ResidualBlock1D(width, d) for d in (dilations[::-1] if reverse else dilations)))


class Encoder(nn.Module):
    """``(B, C, T)`` with ``T`` a multiple of ``2**down_stages`` -> latent ``(B, latent_dim, T / 2**down_stages)``."""

    def __init__(self, in_channels: int, latent_dim: int, cfg: TokenizerConfig):
        super().__init__()
        w = cfg.width
        layers: list[nn.Module] = [nn.Conv1d(in_channels, w, 3, padding=1), nn.ReLU()]
        for _ in range(cfg.down_stages):
            layers += [nn.Conv1d(w, w, 4, stride=2, padding=1),
                       resnet1d(w, cfg.depth, cfg.dilation_growth, reverse=False)]
        self.hidden = nn.Sequential(*layers)
        self.to_latent = nn.Conv1d(w, latent_dim, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.to_latent(self.hidden(x))


class Decoder(nn.Module):
    """Latent ``(B, latent_dim, T')`` -> ``(B, C, T' * 2**down_stages)``."""

    def __init__(self, out_channels: int, latent_dim: int, cfg: TokenizerConfig):
        super().__init__()
        w = cfg.width
        layers: list[nn.Module] = [nn.Conv1d(latent_dim, w, 3, padding=1), nn.ReLU()]
        for _ in range(cfg.down_stages):
            layers += [resnet1d(w, cfg.depth, cfg.dilation_growth, reverse=True),
                       nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(w, w, 3, padding=1)]
        layers += [nn.Conv1d(w, w, 3, padding=1), nn.ReLU(), nn.Conv1d(w, out_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad ``x (B, T, C)`` along time to a multiple of ``multiple`` frames by repeating the last frame."""
    extra = -x.shape[1] % multiple
    if extra == 0:
        return x
    return torch.cat((x, x[:, -1:].expand(-1, extra, -1)), dim=1)


class MotionTokenizer(nn.Module):
    """One modality's tokenizer: normalisation, encoder, quantizer (FSQ or VQ), decoder.

    Raw parameters are ``(B, T, C)`` float with ``C = MODALITY_CHANNELS[modality]``; tokens are
    ``(B, ceil(T/4))`` int64 in ``[0, codebook_size)``.
    """

    def __init__(self, modality: str, cfg: TokenizerConfig, *, quantizer: str = "fsq",
                 levels: tuple[int, ...] | None = None, seed: int = 0):
        super().__init__()
        if modality not in MODALITY_CHANNELS:
            raise ValueError(f"unknown modality {modality!r}; expected one of {list(MODALITY_CHANNELS)}")
        if quantizer not in QUANTIZERS:
            raise ValueError(f"unknown quantizer {quantizer!r}; expected one of {QUANTIZERS}")
        self.modality, self.cfg, self.quantizer_kind = modality, cfg, quantizer
        self.levels = tuple(MODALITY_LEVELS[modality] if levels is None else levels)
        channels = MODALITY_CHANNELS[modality]
        fsq = FSQ(self.levels)
        if quantizer == "fsq":
            self.quantizer: nn.Module = fsq
            latent_dim = fsq.dim
        else:
            self.quantizer = EMAVectorQuantizer(fsq.codebook_size, cfg.vq_dim, decay=cfg.vq_decay,
                                                dead_threshold=cfg.vq_dead_threshold,
                                                commitment_weight=cfg.vq_commitment, seed=seed)
            latent_dim = cfg.vq_dim
        self.codebook_size = fsq.codebook_size
        self.encoder = Encoder(channels, latent_dim, cfg)
        self.decoder = Decoder(channels, latent_dim, cfg)
        self.register_buffer("input_mean", torch.zeros(channels))
        self.register_buffer("input_std", torch.ones(channels))

    # -- normalisation -------------------------------------------------------------------------
    def set_normalisation(self, mean: Tensor, std: Tensor) -> None:
        """Set per-channel statistics ``(C,)``; std is floored at ``cfg.std_floor``."""
        self.input_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.input_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(self.cfg.std_floor))

    def normalise(self, x: Tensor) -> Tensor:
        return (x - self.input_mean) / self.input_std

    def denormalise(self, x: Tensor) -> Tensor:
        return x * self.input_std + self.input_mean

    # -- building blocks on normalised, padded data -----------------------------------------------
    def _quantize(self, latent: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """latent ``(B, D, T')`` -> codes ``(B, D, T')``, indices ``(B, T')``, auxiliary loss ``()``."""
        z = latent.transpose(1, 2)
        if self.quantizer_kind == "fsq":
            codes, indices = self.quantizer(z)
            aux = (self.cfg.fsq_saturation_weight * self.quantizer.saturation_penalty(z) if self.training
                   and self.cfg.fsq_saturation_weight else latent.new_zeros(()))
        else:
            codes, indices, aux = self.quantizer(z)
        return codes.transpose(1, 2), indices, aux

    def forward(self, x_norm: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Training pass on normalised ``x_norm (B, T, C)``, ``T`` a multiple of 4 ->
        ``(reconstruction (B, T, C) normalised, indices (B, T/4), auxiliary loss ())``."""
        codes, indices, aux = self._quantize(self.encoder(x_norm.transpose(1, 2)))
        return self.decoder(codes).transpose(1, 2), indices, aux

    # -- public inference API on raw parameters -------------------------------------------------
    def _prepare(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[-1] != self.input_mean.shape[0] or x.shape[1] == 0:
            raise ValueError(f"{self.modality} tokenizer expects (B, T>0, {self.input_mean.shape[0]}), "
                             f"got {tuple(x.shape)}")
        return pad_to_multiple(self.normalise(x.float()), self.cfg.downsample).transpose(1, 2)

    def hidden_states(self, x: Tensor) -> Tensor:
        """Pre-quantisation features for the SLR probe: raw ``x (B, T, C)`` -> ``(B, W, ceil(T/4))``
        (the encoder's last width-W activations, before the Conv1D to the latent)."""
        return self.encoder.hidden(self._prepare(x))

    def tokenize(self, x: Tensor) -> Tensor:
        """Raw ``x (B, T, C)`` -> token indices ``(B, ceil(T/4))`` int64."""
        return self._quantize(self.encoder(self._prepare(x)))[1]

    def detokenize(self, indices: Tensor, n_frames: int | None = None) -> Tensor:
        """Token indices ``(B, T')`` -> raw parameters ``(B, n_frames or 4 T', C)``; raises ``ValueError``
        for an index outside ``[0, codebook_size)`` or ``n_frames`` outside ``(4 (T'-1), 4 T']``."""
        t_tokens = indices.shape[1]
        if n_frames is not None and not (self.cfg.downsample * (t_tokens - 1) < n_frames <= self.cfg.downsample * t_tokens):
            raise ValueError(f"n_frames={n_frames} does not match {t_tokens} tokens "
                             f"(expected {self.cfg.downsample * (t_tokens - 1) + 1}..{self.cfg.downsample * t_tokens})")
        codes = self.quantizer.indices_to_codes(indices.to(self.input_mean.device))
        out = self.denormalise(self.decoder(codes.transpose(1, 2).float()).transpose(1, 2))
        return out if n_frames is None else out[:, :n_frames]

    def reconstruct(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Raw ``x (B, T, C)`` -> ``(reconstruction (B, T, C) raw, indices (B, ceil(T/4)))``."""
        codes, indices, _ = self._quantize(self.encoder(self._prepare(x)))
        out = self.denormalise(self.decoder(codes).transpose(1, 2))
        return out[:, : x.shape[1]], indices


def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)

"""The back-translation model: a Sign Language Transformer (Camgoz et al., CVPR 2020, "Sign Language
Transformers: Joint End-to-end Sign Language Recognition and Translation") over SMPL-FX parameters, as the
M3T paper's appendix D.4 adapts it: the CNN feature extractor is replaced by the 360-d per-frame parameter
vector (``MotionSequence.features()``).

- Frame embedding: per-channel standardisation with the training set's mean and standard deviation (our
  addition: 6D finger rotations vary by ~0.1 while expression coefficients span ±2.5, and SL-T's CNN features
  needed none), Linear(360 → d) → batch norm over the real frames → softsign; sinusoidal positions added,
  dropout.
- Encoder: pre-norm transformer layers and a final layer norm; a linear gloss head on its output gives the
  CTC log-probabilities (blank = index 0).
- Decoder: text embedding (Embedding → batch norm over real tokens → softsign) + sinusoidal positions,
  pre-norm transformer layers with causal self-attention and cross-attention to the encoder output, a final
  layer norm and a bias-free output layer over the text vocabulary.

Shapes: ``frames (B, T, 360)`` float32, ``frame_mask (B, T)`` bool (True = a real frame), ``tokens (B, L)``
int64 text ids (``<pad>`` = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from m3t_bench.motion import FRAME_DIM
from reference_models.backtranslation.config import BTConfig


#: Smallest per-channel standard deviation used to standardise the input (channels that barely move in the
#: training data, e.g. the fixed components of a 6D rotation, are not blown up).
STD_FLOOR = 1e-2


class MaskedBatchNorm(nn.Module):
    """``BatchNorm1d`` over the channels of the real positions only (padding never enters the statistics).
    ``x (B, N, C)``, ``mask (B, N)`` bool -> ``(B, N, C)``; padded positions are 0 in training. In eval mode
    every position is normalised with the running statistics, independently of the rest of the batch."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        if not self.training:
            return self.norm(flat).reshape(x.shape)
        keep = mask.reshape(-1)
        out = torch.zeros_like(flat)
        out[keep] = self.norm(flat[keep])
        return out.reshape(x.shape)


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """``(length, dim)`` sine/cosine position encodings of "Attention Is All You Need" (even ``dim``)."""
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    out = torch.zeros(length, dim, device=device)
    out[:, 0::2] = torch.sin(position * freq)
    out[:, 1::2] = torch.cos(position * freq)
    return out


class BackTranslationTransformer(nn.Module):
    """SL-T-style encoder-decoder; see the module doc. ``n_text`` / ``n_gloss``: vocabulary sizes."""

    def __init__(self, cfg: BTConfig, n_text: int, n_gloss: int, *, feature_dim: int = FRAME_DIM):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))
        self.frame_proj = nn.Linear(feature_dim, d)
        self.frame_norm = MaskedBatchNorm(d)
        self.text_embed = nn.Embedding(n_text, d, padding_idx=0)
        self.text_norm = MaskedBatchNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

        def enc_layer():
            return nn.TransformerEncoderLayer(d, cfg.heads, cfg.ff_size, cfg.dropout, batch_first=True,
                                              norm_first=True)

        def dec_layer():
            return nn.TransformerDecoderLayer(d, cfg.heads, cfg.ff_size, cfg.dropout, batch_first=True,
                                              norm_first=True)

        self.encoder = nn.TransformerEncoder(enc_layer(), cfg.encoder_layers, norm=nn.LayerNorm(d),
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec_layer(), cfg.decoder_layers, norm=nn.LayerNorm(d))
        self.gloss_head = nn.Linear(d, n_gloss)
        self.text_head = nn.Linear(d, n_text, bias=False)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Xavier-uniform matrices and embeddings, zero biases (neccam/slt's ``initializer: xavier``); norm
        scales stay 1."""
        for name, p in self.named_parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
        with torch.no_grad():
            self.text_embed.weight[0].zero_()

    def set_feature_statistics(self, mean: torch.Tensor, std: torch.Tensor, *, floor: float = STD_FLOOR) -> None:
        """Per-channel input standardisation ``(x - mean) / max(std, floor)`` from training-set statistics
        ``(feature_dim,)`` (stored in the checkpoint with the weights)."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(floor))

    def encode(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """``(B, T, 360)``, ``(B, T)`` -> encoder output ``(B, T, d)``."""
        x = (frames - self.feature_mean) / self.feature_std
        x = torch.nn.functional.softsign(self.frame_norm(self.frame_proj(x), frame_mask))
        x = self.dropout(x + sinusoidal_positions(x.shape[1], x.shape[2], x.device))
        return self.encoder(x, src_key_padding_mask=~frame_mask)

    def gloss_log_probs(self, memory: torch.Tensor) -> torch.Tensor:
        """CTC log-probabilities ``(B, T, n_gloss)`` (blank = 0) of the encoder output."""
        return torch.log_softmax(self.gloss_head(memory), dim=-1)

    def decode(self, memory: torch.Tensor, frame_mask: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``(B, L, n_text)`` for every prefix of ``tokens (B, L)`` (causal)."""
        length = tokens.shape[1]
        token_mask = tokens != 0
        y = torch.nn.functional.softsign(self.text_norm(self.text_embed(tokens), token_mask))
        y = self.dropout(y + sinusoidal_positions(length, y.shape[2], y.device))
        causal = torch.ones(length, length, dtype=torch.bool, device=tokens.device).triu(1)
        out = self.decoder(y, memory, tgt_mask=causal, tgt_key_padding_mask=~token_mask,
                           memory_key_padding_mask=~frame_mask)
        return self.text_head(out)

    def start_decoding(self, memory: torch.Tensor, frame_mask: torch.Tensor) -> "DecoderCache":
        """A cache for step-by-step decoding (eval mode): the cross-attention keys/values of ``memory`` per
        layer, projected once."""
        if self.training:
            raise RuntimeError("step-by-step decoding needs the model in eval mode (no dropout, running statistics)")
        keys, values = [], []
        for layer in self.decoder.layers:
            k, v = _project(layer.multihead_attn, memory, 1)
            keys.append(k)
            values.append(v)
        return DecoderCache(cross_keys=keys, cross_values=values, memory_mask=frame_mask[:, None, None, :],
                            self_keys=[None] * len(keys), self_values=[None] * len(keys), length=0)

    def decode_next(self, cache: "DecoderCache", tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``(N, n_text)`` after appending ``tokens (N,)`` at position ``cache.length``;
        updates ``cache`` in place. Equals the last row of :meth:`decode` over the whole prefix (eval mode)."""
        y = torch.nn.functional.softsign(self.text_norm(self.text_embed(tokens[:, None]), tokens[:, None] != 0))
        y = y + sinusoidal_positions(cache.length + 1, y.shape[2], y.device)[-1]
        for i, layer in enumerate(self.decoder.layers):
            a = layer.norm1(y)
            q = _project(layer.self_attn, a, 0)
            k, v = _project(layer.self_attn, a, 1)
            if cache.self_keys[i] is not None:
                k, v = torch.cat([cache.self_keys[i], k], dim=2), torch.cat([cache.self_values[i], v], dim=2)
            cache.self_keys[i], cache.self_values[i] = k, v
            y = y + _attend(layer.self_attn, q, k, v, None)
            q = _project(layer.multihead_attn, layer.norm2(y), 0)
            y = y + _attend(layer.multihead_attn, q, cache.cross_keys[i], cache.cross_values[i], cache.memory_mask)
            y = y + layer.linear2(layer.activation(layer.linear1(layer.norm3(y))))
        cache.length += 1
        return self.text_head(self.decoder.norm(y))[:, 0]

    def forward(self, frames: torch.Tensor, frame_mask: torch.Tensor,
                tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(text logits (B, L, n_text), gloss log-probabilities (B, T, n_gloss))`` for teacher forcing."""
        memory = self.encode(frames, frame_mask)
        return self.decode(memory, frame_mask, tokens), self.gloss_log_probs(memory)


@dataclass
class DecoderCache:
    """Step-decoding state: per decoder layer the cross-attention keys/values ``(N, heads, T, d/heads)``,
    the self-attention keys/values of the tokens so far ``(N, heads, length, d/heads)``, the frame mask as
    ``(N, 1, 1, T)`` (True = real), and the number of tokens decoded."""

    cross_keys: list[torch.Tensor]
    cross_values: list[torch.Tensor]
    memory_mask: torch.Tensor
    self_keys: list[torch.Tensor | None]
    self_values: list[torch.Tensor | None]
    length: int

    def select(self, rows: torch.Tensor) -> None:
        """Keep (and reorder to) ``rows`` of every cached tensor (beam search re-ranking)."""
        for name in ("cross_keys", "cross_values", "self_keys", "self_values"):
            setattr(self, name, [None if t is None else t[rows] for t in getattr(self, name)])
        self.memory_mask = self.memory_mask[rows]


def _project(attn: nn.MultiheadAttention, x: torch.Tensor, which):
    """Query (``which`` 0) or key and value (``which`` 1) projections of ``x (N, L, d)`` by ``attn``'s packed
    input projection, split into heads: ``(N, heads, L, d/heads)``."""
    d, heads = attn.embed_dim, attn.num_heads

    def heads_of(t):
        return t.reshape(t.shape[0], t.shape[1], heads, d // heads).transpose(1, 2)

    w, b = attn.in_proj_weight, attn.in_proj_bias
    if which == 0:
        return heads_of(torch.nn.functional.linear(x, w[:d], b[:d]))
    kv = torch.nn.functional.linear(x, w[d:], b[d:])
    return heads_of(kv[..., :d]), heads_of(kv[..., d:])


def _attend(attn: nn.MultiheadAttention, q, k, v, mask) -> torch.Tensor:
    """Scaled dot-product attention of split heads, merged and passed through ``attn``'s output projection."""
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out = out.transpose(1, 2).reshape(q.shape[0], q.shape[2], attn.embed_dim)
    return attn.out_proj(out)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

"""The Sign Motion Language Model (SMLM; M3T paper §3.3 and appendix D.2): text -> four synchronised
streams of motion tokens (body, left hand, right hand, face), on an mBART encoder-decoder.

* Backbone: ``transformers``' ``MBartModel`` built from an ``MBartConfig`` (random initialisation), or the
  encoder-decoder of a local mBART-large-cc25 folder (``--mbart DIR``, never a download). Its embedding
  table holds the text vocabulary only (pruned to the training texts' pieces for cc25, see smlm_text).
* Motion tokens and language-modality prompts (smlm_vocab) have their own embedding table, scaled by the
  backbone's ``embed_scale`` (``sqrt(d)`` in cc25; ``MBartScaledWordEmbedding`` applies it to text ids,
  while ``inputs_embeds`` enter the encoder/decoder unscaled, so the fused input is scaled here).
* Decoder input per step = the equal-weight mean of the four streams' token embeddings (paper §3.3).
* Five linear heads on the decoder's last hidden state, each over its own vocabulary only: text (tied to
  the text embeddings, as mBART's LM head is) and one per stream (``K_m`` codes + EOS).
* Production: text -> encoder; decoder on the fused motion tokens; loss = sum of the four streams'
  cross-entropies. Translation (auxiliary objective): fused motion tokens -> encoder; decoder on text;
  loss = text cross-entropy. Training picks one objective per batch (``p_translate``).

Tensor conventions: ``text_ids (B, S)`` int64 text-vocabulary ids with ``text_mask (B, S)`` (1 = token);
``motion_ids (B, T, 4)`` int64 vocabulary ids, streams in ``MOTION_STREAMS`` order; hidden ``(B, T, d)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m3t_bench.errors import UserError
from reference_models.configuration import JsonConfig
from reference_models.m3t.smlm_vocab import MOTION_STREAMS, Vocabulary

IGNORE_INDEX = -100


@dataclass(frozen=True)
class SMLMConfig(JsonConfig):
    """Architecture and training hyper-parameters of an SMLM.

    Architecture (ignored when ``--mbart`` gives a pre-trained backbone, whose own geometry is used):
    d_model, encoder/decoder layers, attention heads, ffn_dim, dropout, max_positions (learned positions of
    the encoder and decoder). text_vocab_size: upper bound on the pieces of a text tokenizer trained on the
    training texts; max_text_tokens: encoder/decoder text length cap (longer texts are truncated);
    max_motion_tokens: longest motion sequence (tokens per stream) trained on (longer samples are skipped)
    and the default generation limit.
    Training: epochs, batch_size (global), AdamW lr (peak) / min_lr (cosine floor) / weight_decay,
    warmup_fraction of the steps, grad_clip (global norm), p_translate (probability that a batch is a
    translation batch; 0 = production only, the "w/o SLT" ablation), val_every (epochs between
    validations; always after the last), val_samples (per validation dataset; None = all).
    """

    name: str
    d_model: int
    encoder_layers: int
    decoder_layers: int
    heads: int
    ffn_dim: int
    dropout: float = 0.1
    max_positions: int = 1024
    text_vocab_size: int = 32000
    max_text_tokens: int = 128
    max_motion_tokens: int = 400
    epochs: int = 200
    batch_size: int = 32
    lr: float = 2e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    grad_clip: float = 1.0
    p_translate: float = 0.5
    val_every: int = 10
    val_samples: int | None = None
    label = "SMLM"

    def __post_init__(self):
        if min(self.d_model, self.encoder_layers, self.decoder_layers, self.heads, self.ffn_dim, self.epochs,
               self.batch_size, self.val_every) < 1 or self.d_model % self.heads:
            raise ValueError(f"SMLM config {self.name!r}: sizes must be positive and d_model divisible by heads")
        if not 0.0 <= self.p_translate <= 1.0:
            raise ValueError(f"SMLM config {self.name!r}: p_translate {self.p_translate} is not in [0, 1]")
        if self.max_motion_tokens + 3 > self.max_positions or self.max_text_tokens > self.max_positions:
            raise ValueError(f"SMLM config {self.name!r}: max_motion_tokens + 3 and max_text_tokens must fit "
                             f"max_positions {self.max_positions}")


#: mBART-large-cc25 geometry (paper D.2: 12+12 layers, d=1024, 16 heads); 200 epochs at batch 32 (D.2).
#: D.2's learning rates are not legible in our copy: peak 2e-4 (SOKE's language-model stage, AdamW, cosine)
#: decaying to 1e-6; 5% linear warm-up. Motion cap 400 tokens = 1,600 frames (over a minute at 24 fps).
FULL = SMLMConfig(name="full", d_model=1024, encoder_layers=12, decoder_layers=12, heads=16, ffn_dim=4096)

#: CPU-sized: 2+2 layers, d=128; trains on SynthSign small (900 sentences) in minutes. Dropout 0.3 and 80 epochs
#: were chosen on SynthSign small's validation splits (dropout 0.1 overfits: best mean validation DTW-JPE 17.6 mm
#: against 14.8 mm with 0.3, production only; the validation error stops falling after 60-80 epochs).
TINY = SMLMConfig(name="tiny", d_model=128, encoder_layers=2, decoder_layers=2, heads=4, ffn_dim=512, dropout=0.3,
                  max_positions=256, text_vocab_size=4000, max_text_tokens=64, max_motion_tokens=200, epochs=80,
                  batch_size=16, lr=1e-3, min_lr=1e-5, warmup_fraction=0.05, p_translate=0.3, val_every=10,
                  val_samples=20)

CONFIGS: dict[str, SMLMConfig] = {"full": FULL, "tiny": TINY}


def get_smlm_config(name: str) -> SMLMConfig:
    """The named configuration (``full`` or ``tiny``)."""
    if name not in CONFIGS:
        raise UserError(f"unknown SMLM config {name!r}; expected one of {', '.join(CONFIGS)}", field="--config")
    return CONFIGS[name]


def backbone_config(cfg: SMLMConfig, n_text: int):
    """The ``MBartConfig`` of a randomly initialised backbone over ``n_text`` text ids (cc25-style:
    pre-norm layers with final layer norms, GELU, scaled embeddings, learned positions)."""
    from transformers import MBartConfig
    from reference_models.m3t.smlm_text import BOS_ID, EOS_ID, PAD_ID
    return MBartConfig(vocab_size=n_text, d_model=cfg.d_model, encoder_layers=cfg.encoder_layers,
                       decoder_layers=cfg.decoder_layers, encoder_attention_heads=cfg.heads,
                       decoder_attention_heads=cfg.heads, encoder_ffn_dim=cfg.ffn_dim, decoder_ffn_dim=cfg.ffn_dim,
                       dropout=cfg.dropout, attention_dropout=cfg.dropout, activation_dropout=0.0,
                       max_position_embeddings=cfg.max_positions, scale_embedding=True, pad_token_id=PAD_ID,
                       bos_token_id=BOS_ID, eos_token_id=EOS_ID, decoder_start_token_id=EOS_ID)


def load_mbart_backbone(mbart_dir: str | Path, keep: list[int] | None):
    """The ``MBartModel`` of a local mBART folder (``local_files_only``), its text embedding pruned to the
    ``keep`` rows (in that order) when given."""
    from transformers import MBartForConditionalGeneration
    from transformers.models.mbart.modeling_mbart import MBartScaledWordEmbedding
    try:
        backbone = MBartForConditionalGeneration.from_pretrained(str(mbart_dir), local_files_only=True).model
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load mBART weights from this folder ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0]})", file=mbart_dir) from None
    if keep is not None:
        old = backbone.shared
        if max(keep) >= old.num_embeddings:
            raise UserError(f"the weights have {old.num_embeddings} text rows but the sentencepiece model maps "
                            f"to id {max(keep)}; expected the matching mBART files", file=mbart_dir)
        pruned = MBartScaledWordEmbedding(len(keep), old.embedding_dim, old.padding_idx, embed_scale=old.embed_scale)
        pruned.weight.data.copy_(old.weight.data[torch.as_tensor(keep)])
        backbone.set_input_embeddings(pruned)
        backbone.config.vocab_size = len(keep)
    return backbone


class SignMotionLM(nn.Module):
    """The SMLM (see the module docstring). ``backbone``: an ``MBartModel`` whose embedding table has
    exactly ``vocab.n_text`` rows; built from ``cfg`` when not given."""

    def __init__(self, cfg: SMLMConfig, vocab: Vocabulary, backbone=None):
        super().__init__()
        from transformers import MBartModel
        self.cfg, self.vocab = cfg, vocab
        self.backbone = backbone if backbone is not None else MBartModel(backbone_config(cfg, vocab.n_text))
        if self.backbone.shared.num_embeddings != vocab.n_text:
            raise ValueError(f"backbone has {self.backbone.shared.num_embeddings} text rows, vocabulary "
                             f"{vocab.n_text}")
        d, std = self.backbone.config.d_model, self.backbone.config.init_std
        self.motion_embed = nn.Embedding(vocab.n_motion, d)
        self.heads = nn.ModuleDict({s: nn.Linear(d, vocab.blocks[s].head_size) for s in MOTION_STREAMS})
        nn.init.normal_(self.motion_embed.weight, std=std)
        for head in self.heads.values():
            nn.init.normal_(head.weight, std=std)
            nn.init.zeros_(head.bias)

    @property
    def max_positions(self) -> int:
        return int(self.backbone.config.max_position_embeddings)

    # -- embeddings and heads ------------------------------------------------------------------------
    def fuse(self, motion_ids: Tensor) -> Tensor:
        """Equal-weight mean of the four streams' embeddings: ``(B, T, 4)`` ids -> ``(B, T, d)``, scaled by
        the backbone's ``embed_scale`` like its text embeddings."""
        return self.motion_embed(motion_ids - self.vocab.n_text).mean(dim=2) * self.backbone.shared.embed_scale

    def text_logits(self, hidden: Tensor) -> Tensor:
        """``(B, T, d)`` -> ``(B, T, n_text)`` (weights tied to the text embeddings)."""
        return F.linear(hidden, self.backbone.shared.weight)

    def motion_logits(self, hidden: Tensor) -> dict[str, Tensor]:
        """``(B, T, d)`` -> stream -> ``(B, T, K_m + 1)`` (class ``K_m`` = EOS)."""
        return {s: head(hidden) for s, head in self.heads.items()}

    # -- encoder / decoder -----------------------------------------------------------------------------
    def encode_text(self, text_ids: Tensor, text_mask: Tensor) -> Tensor:
        return self.backbone.encoder(input_ids=text_ids, attention_mask=text_mask).last_hidden_state

    def encode_motion(self, motion_ids: Tensor, motion_mask: Tensor) -> Tensor:
        return self.backbone.encoder(inputs_embeds=self.fuse(motion_ids), attention_mask=motion_mask).last_hidden_state

    def decode(self, encoded: Tensor, encoded_mask: Tensor, *, motion_ids: Tensor | None = None,
               text_ids: Tensor | None = None, cache=None) -> Tensor:
        """Decoder hidden states ``(B, T, d)`` for fused ``motion_ids (B, T, 4)`` or ``text_ids (B, T)``,
        attending to ``encoded (B, S, d)``. With ``cache`` (an ``EncoderDecoderCache``), the inputs are the
        new steps only and the cache is extended in place. Inputs are right-padded: causal attention keeps
        padding from reaching earlier positions, so no decoder mask is needed."""
        kwargs = {"inputs_embeds": self.fuse(motion_ids)} if motion_ids is not None else {"input_ids": text_ids}
        out = self.backbone.decoder(**kwargs, encoder_hidden_states=encoded, encoder_attention_mask=encoded_mask,
                                    cache=cache, use_cache=cache is not None)
        return out.last_hidden_state

    # -- objectives ------------------------------------------------------------------------------------
    def production_terms(self, text_ids: Tensor, text_mask: Tensor, motion_in: Tensor,
                         motion_targets: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        """Production objective, per stream ``(sum of cross-entropies, number of targets)``:
        ``motion_in (B, T, 4)`` ids, ``motion_targets (B, T, 4)`` head classes or ``IGNORE_INDEX``."""
        hidden = self.decode(self.encode_text(text_ids, text_mask), text_mask, motion_ids=motion_in)
        logits = self.motion_logits(hidden)
        return {s: _ce_terms(logits[s], motion_targets[..., i]) for i, s in enumerate(MOTION_STREAMS)}

    def translation_terms(self, motion_src: Tensor, motion_mask: Tensor, text_in: Tensor,
                          text_targets: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        """Translation objective ``{"text": (sum of cross-entropies, number of targets)}``: fused
        ``motion_src (B, T, 4)`` -> encoder; ``text_in (B, S)`` -> decoder; ``text_targets (B, S)``."""
        hidden = self.decode(self.encode_motion(motion_src, motion_mask), motion_mask, text_ids=text_in)
        return {"text": _ce_terms(self.text_logits(hidden), text_targets)}

    def forward(self, batch: dict[str, Tensor], objective: str) -> dict[str, tuple[Tensor, Tensor]]:
        """The terms of ``objective`` (``production`` or ``translation``) on a batch from ``smlm_data.collate``."""
        if objective == "production":
            return self.production_terms(batch["text_ids"], batch["text_mask"], batch["motion_in"],
                                         batch["motion_targets"])
        if objective == "translation":
            return self.translation_terms(batch["motion_src"], batch["motion_mask"], batch["text_in"],
                                          batch["text_targets"])
        raise ValueError(f"unknown objective {objective!r}")


def _ce_terms(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """``(sum of cross-entropies over non-ignored targets, their number)`` for ``logits (..., C)``."""
    flat = targets.flatten()
    ce = F.cross_entropy(logits.flatten(0, -2).float(), flat, ignore_index=IGNORE_INDEX, reduction="sum")
    return ce, (flat != IGNORE_INDEX).sum()


def mean_loss(terms: dict[str, tuple[Tensor, Tensor]]) -> Tensor:
    """The objective's loss on one batch: the sum over its terms of the mean cross-entropy (production: the
    sum of the four streams' cross-entropies; translation: the text cross-entropy)."""
    return sum(total / count.clamp_min(1) for total, count in terms.values())

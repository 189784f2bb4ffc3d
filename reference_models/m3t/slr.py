"""The SLR probe (paper §3.4, appendix D.3): a small recognition model on the frozen tokenizer encoders.

Each selected stream (``body``, ``lhand``, ``rhand``, ``face``) of an isolated sign is encoded by its
frozen FSQ-VAE encoder (both hands by the hand encoder, the left one mirrored into the right-hand
convention) into pre-quantisation features ``(S, W)``: the encoder's last width-``W`` activations before
the Conv1D to the FSQ channels, one vector per token step (``S = ceil(T/4)``). The head interleaves them
per step into one sequence ``[CLS], body_0, lhand_0, rhand_0, face_0, body_1, ...`` (only the selected
streams, always in that order), adds a learned modality embedding (per stream) and a learned position
embedding (per token step, shared by the streams of a step), runs a ``layers``-deep transformer encoder
and classifies the ``[CLS]`` output with an MLP (``head_hidden = 0``: one linear layer, the paper's "linear
MLP classification head"). Per modality the features pass a LayerNorm and, when ``W != d_model``, a
linear projection to ``d_model``.

Size: ``full`` (d 1024, 3 layers, 4 heads, feed-forward 2048) on ``W = 1024`` features with 1,067
NMFs-CSL classes has 26.4M trainable parameters (:func:`parameter_count`): 25.2M in the encoder layers,
1.09M in the classifier, the rest embeddings — the paper's "26M".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from m3t_bench.errors import UserError
from m3t_bench.config_bounds import check_bounds, check_name
from reference_models.configuration import JsonConfig
from reference_models.m3t.slr_window import WindowConfig

#: Streams in interleaving order, and the tokenizer modality that encodes each.
STREAM_ORDER = ("body", "lhand", "rhand", "face")
STREAM_MODALITY = {"body": "body", "lhand": "hand", "rhand": "hand", "face": "face"}
#: ``--modalities`` names -> streams.
MODALITY_STREAMS = {"body": ("body",), "hand": ("lhand", "rhand"), "face": ("face",)}
#: Bounds on every probe field (checked before a head is built from a checkpoint); ``full`` sits well inside.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "d_model": (1, 4096), "layers": (1, 32), "heads": (1, 128), "ff": (1, 32768), "head_hidden": (0, 32768),
    "max_steps": (1, 16384), "epochs": (1, 100_000), "batch_size": (1, 65536), "feature_cache_mb": (0, 1 << 20),
}
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "dropout": (0.0, 1.0), "label_smoothing": (0.0, 1.0), "lr": (0.0, 1.0), "min_lr": (0.0, 1.0),
    "warmup_fraction": (0.0, 1.0), "weight_decay": (0.0, 1.0), "val_fraction": (0.0, 1.0),
}
#: Largest trainable parameter count of a probe head (about 20x the paper's 26M ``full`` probe).
MAX_PARAMETERS = 500_000_000


def parse_modalities(text: str) -> tuple[str, ...]:
    """``"body,hand,face"`` -> the selected modalities in canonical order (UserError on unknown or empty)."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in MODALITY_STREAMS]
    if unknown or not names:
        raise UserError(f"modalities {text!r}; expected a comma-separated subset of "
                        f"{','.join(MODALITY_STREAMS)} (e.g. body,hand,face or body,hand)", field="--modalities")
    return tuple(m for m in MODALITY_STREAMS if m in names)


def modality_streams(modalities: tuple[str, ...]) -> tuple[str, ...]:
    """The streams of ``modalities`` in interleaving order."""
    return tuple(s for s in STREAM_ORDER if STREAM_MODALITY[s] in modalities)


@dataclass(frozen=True)
class SLRConfig(JsonConfig):
    """Architecture and training hyper-parameters of the probe head.

    d_model/layers/heads/ff/dropout: transformer encoder; head_hidden: hidden width of the classifier MLP
    (0 = a single linear layer); max_steps: most token steps per modality (4 frames each) after cropping —
    a longer clip is resampled evenly to ``4 * max_steps`` frames before encoding; label_smoothing: of the
    cross-entropy; epochs/batch_size/lr/min_lr/warmup_fraction/weight_decay: Adam (weight decay 0) with a
    cosine schedule from ``lr`` to ``min_lr`` after a linear warm-up over ``warmup_fraction`` of the
    steps; val_fraction: share of the training split held out for checkpoint selection when the dataset
    has no validation split; feature_cache_mb: encoder features kept in memory (computed once; beyond
    this budget they are recomputed per batch); window: active-window cropping thresholds.
    """

    label = "SLR"

    name: str
    d_model: int
    layers: int = 3
    heads: int = 4
    ff: int = 2048
    dropout: float = 0.1
    head_hidden: int = 0
    max_steps: int = 128
    label_smoothing: float = 0.1
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-4
    min_lr: float = 1e-6
    warmup_fraction: float = 0.0
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    feature_cache_mb: int = 1024
    window: WindowConfig = WindowConfig()

    def __post_init__(self):
        check_name(self.name)
        check_bounds(self, INT_BOUNDS, FLOAT_BOUNDS)
        if not isinstance(self.window, WindowConfig):
            raise ValueError(f"window {self.window!r:.60}: expected the active-window thresholds")
        if self.d_model % self.heads:
            raise ValueError(f"SLR config {self.name!r}: d_model must be a positive multiple of heads")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"SLR config {self.name!r}: label smoothing in [0, 1)")
        if not (0.0 <= self.val_fraction < 1.0 and 0.0 <= self.warmup_fraction < 1.0 and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"SLR config {self.name!r}: val_fraction, warmup_fraction and dropout must lie in [0, 1)")
        if not (self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise ValueError(f"SLR config {self.name!r}: lr must be positive, min_lr in [0, lr]")
        check_parameter_count(self)

    @classmethod
    def _from_fields(cls, data: dict) -> "SLRConfig":
        window = data.get("window", {})
        if not isinstance(window, dict):
            raise TypeError("window: expected a JSON object of active-window thresholds")
        return cls(**{**data, "window": WindowConfig(**window)})


def estimated_parameters(cfg: SLRConfig, widths: dict[str, int] | None = None, n_classes: int = 0) -> int:
    """Trainable parameters of :class:`SLRHead` (an upper estimate) from the config, the encoders' feature
    widths and the class count, computed without building it."""
    d, hidden = cfg.d_model, cfg.head_hidden
    layer = 4 * d * d + 4 * d + 2 * d * cfg.ff + cfg.ff + d + 4 * d
    inputs = sum((w + 1) * d + 2 * w for w in (widths or {}).values())
    classifier = (d + 1) * n_classes if hidden == 0 else (d + 1) * hidden + (hidden + 1) * n_classes
    return cfg.layers * layer + (cfg.max_steps + len(STREAM_ORDER) + 1) * d + 2 * d + inputs + classifier


def check_parameter_count(cfg: SLRConfig, widths: dict[str, int] | None = None, n_classes: int = 0) -> None:
    """``ValueError`` when the head of ``cfg`` with these widths and classes would exceed ``MAX_PARAMETERS``."""
    n_params = estimated_parameters(cfg, widths, n_classes)
    if n_params > MAX_PARAMETERS:
        raise ValueError(f"d_model {cfg.d_model}, {cfg.layers} layers, feed-forward {cfg.ff}, {cfg.max_steps} steps "
                         f"and {n_classes:,} classes make about {n_params:,} parameters; expected at most "
                         f"{MAX_PARAMETERS:,}")


#: Paper appendix D.3: d 1024, 3 layers, 4 heads, Adam with cosine annealing, 100 epochs, batch 64,
#: label smoothing (its value is not legible in the paper: 0.1), linear classifier. The learning rates
#: are not legible either: 1e-4 decaying to 1e-6.
FULL = SLRConfig(name="full", d_model=1024)

#: CPU-sized: the same topology at width 64 (feed-forward 128), 40 epochs of batch 32 at lr 1e-3.
TINY = SLRConfig(name="tiny", d_model=64, ff=128, dropout=0.1, epochs=40, batch_size=32, lr=1e-3, min_lr=1e-5,
                 warmup_fraction=0.05, max_steps=64, feature_cache_mb=256)

CONFIGS: dict[str, SLRConfig] = {"full": FULL, "tiny": TINY}


def get_config(name: str) -> SLRConfig:
    """The named probe configuration (``full`` or ``tiny``)."""
    if name not in CONFIGS:
        raise UserError(f"unknown SLR config {name!r}; expected one of {', '.join(CONFIGS)}", field="--config")
    return CONFIGS[name]


class SLRHead(nn.Module):
    """The trainable part of the probe: ``forward(features, mask) -> logits (B, n_classes)``.

    ``features``: stream name -> ``(B, S, W_modality)`` float (padded along S); ``mask``: ``(B, S)`` bool,
    True at real token steps. Streams are those given at construction (interleaving order fixed).
    """

    def __init__(self, cfg: SLRConfig, streams: tuple[str, ...], widths: dict[str, int], n_classes: int):
        super().__init__()
        if not streams or any(s not in STREAM_ORDER for s in streams):
            raise ValueError(f"streams {streams!r}; expected a non-empty subset of {STREAM_ORDER}")
        self.cfg, self.streams, self.n_classes = cfg, tuple(s for s in STREAM_ORDER if s in streams), int(n_classes)
        modalities = sorted({STREAM_MODALITY[s] for s in self.streams})
        self.input_norm = nn.ModuleDict({m: nn.LayerNorm(widths[m]) for m in modalities})
        self.input_proj = nn.ModuleDict({m: nn.Identity() if widths[m] == cfg.d_model else
                                         nn.Linear(widths[m], cfg.d_model) for m in modalities})
        self.modality_embedding = nn.Parameter(torch.zeros(len(self.streams), cfg.d_model))
        self.position_embedding = nn.Parameter(torch.zeros(cfg.max_steps, cfg.d_model))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        for p in (self.modality_embedding, self.position_embedding, self.cls_token):
            nn.init.normal_(p, std=0.02)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.heads, cfg.ff, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, norm=nn.LayerNorm(cfg.d_model),
                                             enable_nested_tensor=False)
        self.classifier = (nn.Linear(cfg.d_model, n_classes) if cfg.head_hidden == 0 else
                           nn.Sequential(nn.Linear(cfg.d_model, cfg.head_hidden), nn.GELU(), nn.Dropout(cfg.dropout),
                                         nn.Linear(cfg.head_hidden, n_classes)))

    def interleave(self, features: dict[str, Tensor], mask: Tensor) -> tuple[Tensor, Tensor]:
        """Embedded token sequence ``(B, 1 + S*M, d)`` ([CLS] first, then step by step the M streams in
        order) and its padding mask ``(B, 1 + S*M)`` (True = padding, as ``nn.TransformerEncoder`` wants)."""
        b, s = mask.shape
        if s > self.cfg.max_steps:
            raise ValueError(f"{s} token steps exceed max_steps={self.cfg.max_steps}")
        missing = [st for st in self.streams if st not in features]
        if missing:
            raise ValueError(f"features for stream(s) {missing} missing; expected {self.streams}")
        per_stream = []
        for k, stream in enumerate(self.streams):
            modality = STREAM_MODALITY[stream]
            x = self.input_proj[modality](self.input_norm[modality](features[stream].float()))
            per_stream.append(x + self.modality_embedding[k] + self.position_embedding[:s])
        tokens = torch.stack(per_stream, dim=2).reshape(b, s * len(self.streams), -1)
        padding = (~mask).repeat_interleave(len(self.streams), dim=1)
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)
        padding = torch.cat([padding.new_zeros(b, 1), padding], dim=1)
        return tokens, padding

    def forward(self, features: dict[str, Tensor], mask: Tensor) -> Tensor:
        tokens, padding = self.interleave(features, mask)
        hidden = self.encoder(tokens, src_key_padding_mask=padding)
        return self.classifier(hidden[:, 0])

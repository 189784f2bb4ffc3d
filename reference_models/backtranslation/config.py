"""Back-translation model configurations (paper appendix D.4) as a dataclass; a checkpoint stores the one
that made it.

``full`` is the Sign Language Transformer's geometry and optimiser from neccam/slt ``configs/sign.yaml``
(3+3 layers, d = 512, feed-forward 2048, 8 heads, dropout 0.1, frame and text embeddings Linear/Embedding +
batch norm + softsign, gloss CTC and translation losses both weight 1, Adam 1e-3 with betas (0.9, 0.998) and
weight decay 1e-3, plateau schedule with factor 0.7 and floor 1e-7, at most 30 output tokens), with the M3T
paper's own choices where they differ: batch 256 and plateau patience 10. ``tiny`` keeps the same shape at a
size that trains in minutes on a CPU (2+2 layers, d = 256, feed-forward 1024, 4 heads: about 3.9M parameters
on SynthSign's vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass

from m3t_bench.errors import unknown_name
from m3t_bench.motion import FRAME_DIM
from m3t_bench.config_bounds import check_bounds, check_name
from reference_models.configuration import JsonConfig

#: Bounds on every architecture/training/decoding field (checked before any model is built, so a checkpoint's
#: ``config.json`` cannot ask for gigabytes of weights or a million layers); ``full`` sits well inside.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "d_model": (1, 4096), "encoder_layers": (1, 32), "decoder_layers": (1, 32), "heads": (1, 128),
    "ff_size": (1, 32768), "batch_size": (1, 65536), "epochs": (1, 100_000), "val_every": (1, 100_000),
    "beam_size": (1, 64), "max_output_length": (1, 1024), "plateau_patience": (1, 100_000),
}
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "dropout": (0.0, 1.0), "translation_weight": (0.0, 1e3), "gloss_weight": (0.0, 1e3), "lr": (0.0, 1.0),
    "weight_decay": (0.0, 1.0), "plateau_factor": (0.0, 1.0), "min_lr": (0.0, 1.0), "beam_alpha": (0.0, 100.0),
}
#: Largest parameter count of one model, vocabularies included (about 20x the ``full`` model on How2Sign's
#: vocabulary).
MAX_PARAMETERS = 500_000_000


@dataclass(frozen=True)
class BTConfig(JsonConfig):
    """Architecture, training and decoding hyper-parameters of one back-translation model.

    Architecture: ``encoder_layers``/``decoder_layers`` pre-norm transformer layers of width ``d_model``
    with ``heads`` attention heads and a ``ff_size`` ReLU feed-forward, ``dropout`` everywhere (embeddings,
    attention, feed-forward).
    Losses: ``translation_weight`` × token cross-entropy (summed over a sentence's tokens, averaged over
    sentences) + ``gloss_weight`` × gloss CTC on the encoder output (summed per sentence, averaged).
    Optimiser: Adam (``lr``, ``betas``, ``weight_decay``); the learning rate is multiplied by
    ``plateau_factor`` when validation BLEU-4 has not improved for more than ``plateau_patience`` validations
    in a row (as torch's ``ReduceLROnPlateau`` counts), and training stops early once it would fall below
    ``min_lr``. ``batch_size`` is the global batch (sentences),
    ``epochs`` the most epochs, ``val_every`` validation every this many epochs (and after the last).
    Decoding: beam search of width ``beam_size`` (1 = greedy) with the GNMT length penalty
    ``((5 + length) / 6) ** beam_alpha`` (``beam_alpha`` 0: none), at most ``max_output_length`` tokens.
    """

    name: str
    d_model: int = 512
    encoder_layers: int = 3
    decoder_layers: int = 3
    heads: int = 8
    ff_size: int = 2048
    dropout: float = 0.1
    translation_weight: float = 1.0
    gloss_weight: float = 1.0
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.998)
    weight_decay: float = 1e-3
    plateau_patience: int = 10
    plateau_factor: float = 0.7
    min_lr: float = 1e-7
    batch_size: int = 256
    epochs: int = 300
    val_every: int = 1
    beam_size: int = 5
    beam_alpha: float = 1.0
    max_output_length: int = 30

    label = "back-translation"

    def __post_init__(self):
        check_name(self.name)
        if not isinstance(self.betas, (list, tuple)) or len(self.betas) != 2:
            raise ValueError(f"betas {self.betas!r:.60}: expected two numbers in [0, 1)")
        object.__setattr__(self, "betas", tuple(self.betas))
        check_bounds(self, INT_BOUNDS, FLOAT_BOUNDS)
        for beta in self.betas:
            if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta < 1.0:
                raise ValueError(f"betas {list(self.betas)!r:.60}: expected two numbers in [0, 1)")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.d_model % self.heads:
            raise ValueError(f"back-translation config {self.name!r}: d_model {self.d_model} is not divisible by "
                             f"{self.heads} heads")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 < self.plateau_factor < 1.0:
            raise ValueError(f"back-translation config {self.name!r}: dropout in [0, 1) and plateau_factor in (0, 1) "
                             f"expected")
        if self.translation_weight <= 0 or self.lr <= 0 or self.min_lr > self.lr:
            raise ValueError(f"back-translation config {self.name!r}: translation_weight and lr must be positive, "
                             f"min_lr at most lr")
        check_parameter_count(self)


def estimated_parameters(cfg: BTConfig, n_text: int = 0, n_gloss: int = 0, feature_dim: int = FRAME_DIM) -> int:
    """Parameters of :class:`~reference_models.backtranslation.model.BackTranslationTransformer` (weights,
    biases, norms, buffers; an upper estimate), computed from the architecture and vocabulary sizes without
    building it."""
    d, ff = cfg.d_model, cfg.ff_size
    attention, feed_forward, norm = 4 * d * d + 4 * d, 2 * d * ff + ff + d, 2 * d
    encoder = cfg.encoder_layers * (attention + feed_forward + 2 * norm)
    decoder = cfg.decoder_layers * (2 * attention + feed_forward + 3 * norm)
    buffers = 4 * feature_dim + 8 * d  # feature statistics, batch-norm running statistics
    return encoder + decoder + (feature_dim + 1) * d + 2 * n_text * d + (d + 1) * n_gloss + 4 * norm + buffers


def check_parameter_count(cfg: BTConfig, n_text: int = 0, n_gloss: int = 0) -> None:
    """``ValueError`` when the model of ``cfg`` with these vocabularies would exceed ``MAX_PARAMETERS``."""
    n_params = estimated_parameters(cfg, n_text, n_gloss)
    if n_params > MAX_PARAMETERS:
        raise ValueError(f"d_model {cfg.d_model}, {cfg.encoder_layers}+{cfg.decoder_layers} layers, feed-forward "
                         f"{cfg.ff_size} and {n_text:,}+{n_gloss:,} vocabulary entries make about {n_params:,} "
                         f"parameters; expected at most {MAX_PARAMETERS:,}")


#: neccam/slt configs/sign.yaml geometry and optimiser; M3T appendix D.4: batch 256, plateau patience 10.
FULL = BTConfig(name="full")

#: CPU-sized: 2+2 layers, d = 256, 4 heads, feed-forward 1024; batch 8, so that a 300-sentence SynthSign
#: split gives 38 updates per epoch (on SynthSign small German, batch 32 had reached validation BLEU-4 6.6
#: after 8 epochs, batch 8 reached 80.6 after 14); greedy validation every epoch.
TINY = BTConfig(name="tiny", d_model=256, encoder_layers=2, decoder_layers=2, heads=4, ff_size=1024,
                batch_size=8, epochs=30, plateau_patience=5)

CONFIGS: dict[str, BTConfig] = {"full": FULL, "tiny": TINY}


def get_config(name: str) -> BTConfig:
    """The named configuration (``full`` or ``tiny``)."""
    if name not in CONFIGS:
        raise unknown_name("back-translation config", name, CONFIGS, field="--config")
    return CONFIGS[name]

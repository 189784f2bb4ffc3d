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
from reference_models.configuration import JsonConfig


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
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        bad = [f for f in ("d_model", "encoder_layers", "decoder_layers", "heads", "ff_size", "batch_size", "epochs",
                           "val_every", "beam_size", "max_output_length", "plateau_patience") if getattr(self, f) < 1]
        if bad:
            raise ValueError(f"back-translation config {self.name!r}: {', '.join(bad)} must be positive")
        if self.d_model % self.heads:
            raise ValueError(f"back-translation config {self.name!r}: d_model {self.d_model} is not divisible by "
                             f"{self.heads} heads")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 < self.plateau_factor < 1.0 or len(self.betas) != 2:
            raise ValueError(f"back-translation config {self.name!r}: dropout in [0, 1), plateau_factor in (0, 1) "
                             f"and two betas expected")
        if self.translation_weight <= 0 or self.gloss_weight < 0:
            raise ValueError(f"back-translation config {self.name!r}: translation_weight must be positive and "
                             f"gloss_weight non-negative")


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

"""Tokenizer configurations (paper appendix D.1) as dataclasses; a checkpoint stores the one that made it.

``full`` is the paper's architecture (width 1024, 6 dilated residual blocks per stage, 2 stride-2 stages;
about 118M parameters per modality, see ``parameter_count``); ``tiny`` keeps the same shape at a width
and depth that train in seconds on a CPU (tests, SynthSign demos).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from m3t_bench.errors import UserError


class ConfigRecord:
    """``replace`` / ``to_dict`` / ``from_dict`` for the frozen config dataclasses of the reference models (a
    checkpoint stores its config as JSON); ``KIND`` names the config in messages."""

    KIND: ClassVar[str] = "config"

    def replace(self, **changes):
        """A copy with some fields changed (``None`` values are ignored); :class:`UserError` if invalid."""
        try:
            return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        except ValueError as exc:
            raise UserError(str(exc), field="config") from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, *, file=None):
        """Rebuild a config from its JSON form; unknown or missing fields are a :class:`UserError`."""
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError(f"unknown {cls.KIND} field(s) {unknown}", file=file, field="config")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise UserError(f"invalid {cls.KIND} ({exc})", file=file, field="config") from None


@dataclass(frozen=True)
class TokenizerConfig(ConfigRecord):
    """Architecture and training hyper-parameters of one tokenizer (the same for every modality).

    width: channels of every hidden Conv1D (the paper's HS); depth: residual blocks per stage;
    down_stages: stride-2 stages (temporal down-sampling ``2**down_stages``); dilation_growth: block ``i``
    of a stage uses dilation ``growth**i`` (reversed in the decoder); window: training crop length in
    frames; batch_size: global batch (sequences); lr/min_lr: Adam peak and final learning rate;
    warmup_fraction: share of the optimisation steps spent on the linear warm-up before cosine decay;
    vq_*: the VQ-VAE ablation's latent width, EMA decay, dead-code threshold (EMA count) and commitment
    weight; std_floor: smallest per-channel standard deviation used for input normalisation; val_every:
    validate (SMPL-FX vertex error) every this many epochs and after the last; val_samples: validate on the
    first this many validation samples (None: all).
    """

    name: str
    width: int
    depth: int = 6
    down_stages: int = 2
    dilation_growth: int = 3
    window: int = 64
    batch_size: int = 16
    epochs: int = 100
    lr: float = 2e-4
    min_lr: float = 1e-6
    warmup_fraction: float = 0.25
    vq_dim: int = 512
    vq_decay: float = 0.99
    vq_dead_threshold: float = 1.0
    vq_commitment: float = 0.02
    std_floor: float = 1e-2
    val_every: int = 1
    val_samples: int | None = None
    KIND: ClassVar[str] = "tokenizer config"

    def __post_init__(self):
        if self.width < 1 or self.depth < 0 or self.down_stages < 1 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError(f"tokenizer config {self.name!r}: width, batch size and epochs must be positive")
        if self.window % self.downsample:
            raise ValueError(f"tokenizer config {self.name!r}: window {self.window} is not a multiple of "
                             f"{self.downsample} frames per token")

    @property
    def downsample(self) -> int:
        """Frames per token (4 for two stages)."""
        return 2 ** self.down_stages


#: Paper appendix D.1: width 1024, 6 blocks per stage, batch 16 (Table 3's best row), 100 epochs,
#: cosine schedule with a 25-epoch warm-up. VQ latent width 512 as in the T2M-GPT/MotionGPT VQ-VAE.
FULL = TokenizerConfig(name="full", width=1024)

#: CPU-sized: same topology, width 32 and 2 blocks per stage (dilations 1, 3), 32-frame crops; validation
#: every 5 epochs on 8 samples (the SMPL-FX forward pass costs ~3 ms per frame on a 2-core CPU).
TINY = TokenizerConfig(name="tiny", width=32, depth=2, window=32, batch_size=8, epochs=30, lr=2e-3,
                       min_lr=1e-4, warmup_fraction=0.1, vq_dim=16, val_every=5, val_samples=8)

CONFIGS: dict[str, TokenizerConfig] = {"full": FULL, "tiny": TINY}


def get_config(name: str) -> TokenizerConfig:
    """The named configuration (``full`` or ``tiny``)."""
    if name not in CONFIGS:
        raise UserError(f"unknown tokenizer config {name!r}; expected one of {', '.join(CONFIGS)}", field="config")
    return CONFIGS[name]

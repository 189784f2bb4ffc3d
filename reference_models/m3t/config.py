"""Tokenizer configurations (paper appendix D.1) as dataclasses; a checkpoint stores the one that made it.

``full`` is the paper's architecture (width 1024, 6 dilated residual blocks per stage, 2 stride-2 stages;
about 118M parameters per modality, see ``parameter_count``); ``tiny`` keeps the same shape at a width
and depth that train in seconds on a CPU (tests, SynthSign demos).
"""

from __future__ import annotations

from dataclasses import dataclass

from m3t_bench.errors import UserError
from m3t_bench.config_bounds import check_bounds, check_name
from reference_models.configuration import JsonConfig

#: Bounds on every architecture/training field (checked before any model is built, so a config.json cannot
#: ask for gigabytes of weights, a million layers or an overflowing dilation). ``full`` sits well inside.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "width": (1, 4096), "depth": (0, 32), "down_stages": (1, 6), "dilation_growth": (1, 16),
    "window": (1, 65536), "batch_size": (1, 65536), "epochs": (1, 100_000), "vq_dim": (1, 4096),
    "val_every": (1, 100_000),
}
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {
    "lr": (0.0, 1.0), "min_lr": (0.0, 1.0), "warmup_fraction": (0.0, 1.0), "vq_decay": (0.0, 1.0),
    "vq_dead_threshold": (0.0, 1e6), "vq_commitment": (0.0, 1e3), "std_floor": (1e-12, 1e3),
}
#: Largest dilation of a residual block (``dilation_growth ** (depth - 1)``).
MAX_DILATION = 4096
#: Largest parameter count of one tokenizer (about 4x the paper's 119M ``full`` model).
MAX_PARAMETERS = 500_000_000
#: Input channels and latent width the parameter estimate assumes at most (face: 108 channels).
_MAX_CHANNELS = 108


def estimated_parameters(width: int, depth: int, down_stages: int, latent_dim: int,
                         channels: int = _MAX_CHANNELS) -> int:
    """Parameters of the Conv1D encoder + decoder of :mod:`reference_models.m3t.vae` (weights and biases),
    computed from the architecture without building it."""
    block = (3 * width + 1) * width + (width + 1) * width                      # dilated k3 + pointwise k1
    encoder = (3 * channels + 1) * width + down_stages * ((4 * width + 1) * width + depth * block) \
        + (3 * width + 1) * latent_dim
    decoder = (3 * latent_dim + 1) * width + down_stages * (depth * block + (3 * width + 1) * width) \
        + (3 * width + 1) * width + (3 * width + 1) * channels
    return encoder + decoder


@dataclass(frozen=True)
class TokenizerConfig(JsonConfig):
    """Architecture and training hyper-parameters of one tokenizer (the same for every modality).

    width: channels of every hidden Conv1D (the paper's HS); depth: residual blocks per stage;
    down_stages: stride-2 stages (temporal down-sampling ``2**down_stages``); dilation_growth: block ``i``
    of a stage uses dilation ``growth**i`` (reversed in the decoder); window: training crop length in
    frames; batch_size: global batch (sequences); lr/min_lr: Adam peak and final learning rate;
    warmup_fraction: share of the optimisation steps spent on the linear warm-up before cosine decay;
    vq_*: the VQ-VAE ablation's latent width, EMA decay, dead-code threshold (EMA count) and commitment
    weight; fsq_saturation_weight: weight of FSQ's saturation guard (``FSQ.saturation_penalty``; 0 turns it
    off, as before it existed); std_floor: smallest per-channel standard deviation used for input
    normalisation; val_every: validate (SMPL-FX vertex error) every this many epochs and after the last;
    val_samples: validate on the first this many validation samples (None: all).
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
    fsq_saturation_weight: float = 1.0
    std_floor: float = 1e-2
    val_every: int = 1
    val_samples: int | None = None

    label = "tokenizer"

    def __post_init__(self):
        check_name(self.name)
        check_bounds(self, INT_BOUNDS, FLOAT_BOUNDS)
        if self.lr <= 0 or self.min_lr > self.lr:
            raise ValueError(f"lr {self.lr!r} / min_lr {self.min_lr!r}: expected 0 < min_lr <= lr")
        if self.val_samples is not None and (isinstance(self.val_samples, bool) or not isinstance(self.val_samples, int)
                                             or self.val_samples < 1):
            raise ValueError(f"val_samples {self.val_samples!r:.40}: expected null or an integer >= 1")
        if self.dilation_growth ** max(self.depth - 1, 0) > MAX_DILATION:
            raise ValueError(f"dilation_growth {self.dilation_growth} over depth {self.depth} reaches dilation "
                             f"{self.dilation_growth ** max(self.depth - 1, 0)}; expected at most {MAX_DILATION}")
        n_params = estimated_parameters(self.width, self.depth, self.down_stages, max(self.vq_dim, 8))
        if n_params > MAX_PARAMETERS:
            raise ValueError(f"width {self.width}, depth {self.depth}, {self.down_stages} stages make about "
                             f"{n_params:,} parameters; expected at most {MAX_PARAMETERS:,}")
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

"""M3T reference models: FSQ, per-modality FSQ-VAE tokenizers, the VQ-VAE ablation, the SMLM and the SLR probe.

Modules: ``fsq`` (quantizer), ``vq`` (EMA vector quantizer), ``vae`` (encoder/decoder, ``MotionTokenizer``),
``config`` (``TokenizerConfig``, ``full``/``tiny``), ``data`` (modality inputs, crops), ``train`` (training
loop, DDP), ``evaluate`` (vertex error, PA-VPE, codebook use), ``checkpoint`` (safetensors + JSON),
``tokenize`` (samples <-> token files), ``ablate`` (paper Table 3); the SLR probe (paper §3.4, Table 4):
``slr_window`` (active-window cropping), ``slr`` (``SLRConfig``, ``SLRHead``), ``slr_data`` (labels, held-out
validation, frozen-encoder features), ``slr_train``, ``slr_checkpoint``, ``slr_eval`` (``slr@1`` numbers);
the Sign Motion Language Model (paper §3.3): ``smlm`` (``SMLMConfig``, the mBART-based model), ``smlm_*``
(vocabulary, text tokenizer, data, training, greedy generation with a KV cache, checkpoints).
"""

from reference_models.m3t.config import CONFIGS, TokenizerConfig, get_config
from reference_models.m3t.fsq import FSQ, MODALITY_LEVELS
from reference_models.m3t.vae import MotionTokenizer

__all__ = ["CONFIGS", "FSQ", "MODALITY_LEVELS", "MotionTokenizer", "TokenizerConfig", "get_config"]

"""M3T reference models: the per-modality FSQ-VAE tokenizers, the VQ-VAE ablation, the Sign Motion Language
Model and the SLR probe on the frozen encoders (``m3t``); the back-translation evaluator (``backtranslation``);
the staged end-to-end pipeline behind ``make reproduce-m3t`` (``reproduce``)."""

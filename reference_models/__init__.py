"""M3T reference models. Built: the per-modality FSQ-VAE tokenizers, the VQ-VAE ablation and the SLR probe on
the frozen encoders (``m3t``). Not built yet: the Sign Motion Language Model and the back-translation evaluator
(``backtranslation``)."""

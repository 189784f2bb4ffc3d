"""M3T reference models. Built: the per-modality FSQ-VAE tokenizers and the VQ-VAE ablation (``m3t``). Not built
yet: the Sign Motion Language Model, the SLR probe and the back-translation evaluator (``backtranslation``)."""

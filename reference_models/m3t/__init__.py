"""M3T reference models: FSQ, FSQ-VAE / VQ-VAE tokenizers."""

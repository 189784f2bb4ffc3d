"""M3T reference models (tokenizers, SMLM, SLR probe) and the back-translation evaluator."""

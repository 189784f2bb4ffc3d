"""The back-translation evaluator: an SL-T-style transformer that translates SMPL-FX motion back into the
spoken-language sentence, one model per dataset, trained on ground truth only (``m3t-bench train bt``), its
checkpoint folder hashed so that the model's identity enters every back-translation signature
(``m3t-bench score --bt-model DIR``, through the ``m3t_bench.backtranslators`` entry point ``slt``)."""

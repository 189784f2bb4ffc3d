"""SL-T style back-translation evaluator."""

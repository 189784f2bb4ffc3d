"""Place of the SL-T style back-translation evaluator, which is not built yet: until it is, back-translation
BLEU-4 / ROUGE-L are scored from hypotheses a user supplies (``m3t-bench score --bt-hyps FILE``, or
:class:`m3t_bench.scoring.BackTranslations` from any producer)."""

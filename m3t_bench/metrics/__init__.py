"""Metric math for m3t_bench: small pure functions on plain arrays/strings (no body model, no I/O).

Shapes and units are in each docstring; every function returns per-sample values or one corpus value, and
:func:`bootstrap_ci` turns per-sample values into a 95% interval. Which parameters a reported number used
is recorded by :mod:`m3t_bench.signature`; named parameter bundles live in :mod:`m3t_bench.protocols`.
"""

from m3t_bench.metrics.bootstrap import bootstrap_ci
from m3t_bench.metrics.codebook import code_counts, codebook_perplexity, codebook_utilisation, token_frequency_std
from m3t_bench.metrics.dtw import DTWBatch, DTWResult, dtw, dtw_points_many, frame_cost_matrix
from m3t_bench.metrics.jpe import dtw_jpe, dtw_jpe_many, dtw_vpe, mpjpe, pa_jpe, pa_vpe
from m3t_bench.metrics.joints import similarity_procrustes
from m3t_bench.metrics.recognition import recognition_accuracy, topk_correct
from m3t_bench.metrics.text import (bleu, bleu_from_statistics, bleu_statistics, rouge_l, rouge_l_per_sentence,
                                    tokenize, tokenizer_id)

__all__ = [
    "DTWBatch", "DTWResult", "bleu", "bleu_from_statistics", "bleu_statistics", "bootstrap_ci", "code_counts",
    "codebook_perplexity", "codebook_utilisation", "dtw", "dtw_jpe", "dtw_jpe_many", "dtw_points_many", "dtw_vpe",
    "frame_cost_matrix", "mpjpe", "pa_jpe", "pa_vpe", "recognition_accuracy", "rouge_l",
    "rouge_l_per_sentence", "similarity_procrustes", "token_frequency_std", "tokenize", "tokenizer_id",
    "topk_correct",
]

"""Metric math for m3t_bench: small pure functions on plain arrays/strings (no body model, no I/O).

Shapes and units are in each docstring; every function returns per-sample values (or per-sample sufficient
statistics) or one corpus value, and :func:`bootstrap_ci` turns per-sample values into a 95% interval.
Which function computes a metric id, how its values are aggregated and which parameters a reported number
used are declared once, in :mod:`m3t_bench.protocols`; :mod:`m3t_bench.signature` records them.
"""

from m3t_bench.metrics.bootstrap import bootstrap_ci, sample_mean
from m3t_bench.metrics.codebook import (code_count_rows, code_counts, codebook_perplexity, codebook_utilisation,
                                        frequency_std_from_counts, token_frequency_std, utilisation_from_counts)
from m3t_bench.metrics.dtw import DTWBatch, DTWResult, dtw, dtw_points_many, frame_cost_matrix
from m3t_bench.metrics.jpe import dtw_jpe, dtw_jpe_many, dtw_vpe, mpjpe, pa_jpe, pa_jpe_many, pa_vpe, pa_vpe_many
from m3t_bench.metrics.joints import similarity_procrustes
from m3t_bench.metrics.recognition import recognition_accuracy, top1_per_sample, top5_per_sample, topk_correct
from m3t_bench.metrics.text import (bleu, bleu_from_statistics, bleu_statistics, rouge_l, rouge_l_per_sentence,
                                    tokenize, tokenizer_id)

__all__ = [
    "DTWBatch", "DTWResult", "bleu", "bleu_from_statistics", "bleu_statistics", "bootstrap_ci", "code_count_rows",
    "code_counts", "codebook_perplexity", "codebook_utilisation", "dtw", "dtw_jpe", "dtw_jpe_many",
    "dtw_points_many", "dtw_vpe", "frame_cost_matrix", "frequency_std_from_counts", "mpjpe", "pa_jpe",
    "pa_jpe_many", "pa_vpe", "pa_vpe_many", "recognition_accuracy", "rouge_l", "rouge_l_per_sentence",
    "sample_mean", "similarity_procrustes", "token_frequency_std", "tokenize", "tokenizer_id", "top1_per_sample",
    "top5_per_sample", "topk_correct", "utilisation_from_counts",
]

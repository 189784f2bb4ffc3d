"""Scoring a submission: the submission format and validator, the scoring engine, the CLI commands.

Public API: :func:`check_submission`, :func:`validate_against_split`, :func:`score_submission`,
:class:`ScoreReport`, :class:`BackTranslations`; the printed table is :func:`m3t_bench.report.scores.format_scores`
(also importable from here).
"""

from __future__ import annotations

import importlib

from m3t_bench.scoring.submission import Submission, check_submission

_ENGINE = {"score_submission": "m3t_bench.scoring.score", "validate_against_split": "m3t_bench.scoring.score",
           "ScoreReport": "m3t_bench.scoring.score", "BackTranslations": "m3t_bench.scoring.backtranslation",
           "format_scores": "m3t_bench.report.scores"}


def __getattr__(name: str):
    # The engine imports torch and the body model; load it on first use so `validate` stays light.
    if name in _ENGINE:
        return getattr(importlib.import_module(_ENGINE[name]), name)
    raise AttributeError(name)


__all__ = ["BackTranslations", "ScoreReport", "Submission", "check_submission", "format_scores", "score_submission",
           "validate_against_split"]

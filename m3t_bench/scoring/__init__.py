"""Scoring a submission: the submission format and validator, the scoring engine, the CLI commands.

Public API: :func:`check_submission`, :func:`validate_against_split`, :func:`score_submission`,
:func:`format_scores`.
"""

from __future__ import annotations

from m3t_bench.scoring.submission import Submission, check_submission


def __getattr__(name: str):
    # The engine imports torch and the body model; load it on first use so `validate` stays light.
    if name in ("score_submission", "format_scores", "validate_against_split", "ScoreReport"):
        from m3t_bench.scoring import score
        return getattr(score, name)
    raise AttributeError(name)


__all__ = ["ScoreReport", "Submission", "check_submission", "format_scores", "score_submission",
           "validate_against_split"]

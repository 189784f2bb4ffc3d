"""Preference statistics of a pairwise study: shares with binomial 95% intervals and a sign test.

For each question, with ``a``, ``b`` and ``none`` the votes preferring system A, system B and neither
(``n = a + b + none``):

- **shares of all votes** ``a/n``, ``none/n``, ``b/n``, each with a **Wilson score** 95% interval (no
  continuity correction; Wilson, 1927). Wilson rather than Clopper-Pearson: the exact Clopper-Pearson
  interval is conservative (its coverage exceeds 95%, so it is wider: at 33 of 48, Wilson [54.7, 80.1]%,
  Clopper-Pearson [53.7, 81.3]%), Wilson's coverage is close to nominal at these sample sizes. Computed by
  ``scipy.stats.binomtest(...).proportion_ci``.
- **A's share of decided votes** ``a / (a + b)`` with its Wilson interval, and the **sign test**: the
  two-sided exact binomial test of ``a`` successes in ``a + b`` trials against p = 0.5. "No preference" votes
  are ties and are left out of the sign test, as is usual for the sign test.

The paper reports "favoured in 68.8% of comparisons" without saying how ties were counted; the report
therefore gives both shares.
"""

from __future__ import annotations

from dataclasses import dataclass

CONFIDENCE = 0.95
INTERVAL = "wilson"


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval of ``successes / trials`` (``None`` when ``trials`` is 0)."""
    from scipy.stats import binomtest
    if trials == 0:
        return None
    ci = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method=INTERVAL)
    return float(ci.low), float(ci.high)


def sign_test(a: int, b: int) -> float | None:
    """Two-sided exact sign test p-value of ``a`` preferences for A against ``b`` for B (``None`` when no
    vote was decided)."""
    from scipy.stats import binomtest
    if a + b == 0:
        return None
    return float(binomtest(a, a + b, 0.5, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class QuestionSummary:
    """The statistics of one question (see the module docstring). Shares are fractions (0-1)."""

    question: str
    a: int
    b: int
    none: int
    share_a: float | None
    share_none: float | None
    share_b: float | None
    ci_a: tuple[float, float] | None
    ci_none: tuple[float, float] | None
    ci_b: tuple[float, float] | None
    decided_share_a: float | None
    decided_ci_a: tuple[float, float] | None
    sign_test_p: float | None

    @property
    def n(self) -> int:
        return self.a + self.b + self.none

    def as_dict(self) -> dict:
        return {"question": self.question, "n": self.n, "a": self.a, "b": self.b, "none": self.none,
                "share_a": self.share_a, "share_none": self.share_none, "share_b": self.share_b,
                "ci95_a": self.ci_a, "ci95_none": self.ci_none, "ci95_b": self.ci_b,
                "decided_share_a": self.decided_share_a, "decided_ci95_a": self.decided_ci_a,
                "sign_test_p": self.sign_test_p}


def summarize(question: str, a: int, b: int, none: int) -> QuestionSummary:
    """:class:`QuestionSummary` of the counts of one question."""
    n, decided = a + b + none, a + b
    share = (lambda k: k / n) if n else (lambda k: None)
    return QuestionSummary(
        question=question, a=a, b=b, none=none, share_a=share(a), share_none=share(none), share_b=share(b),
        ci_a=wilson_interval(a, n), ci_none=wilson_interval(none, n), ci_b=wilson_interval(b, n),
        decided_share_a=a / decided if decided else None, decided_ci_a=wilson_interval(a, decided),
        sign_test_p=sign_test(a, b))


__all__ = ["CONFIDENCE", "INTERVAL", "QuestionSummary", "sign_test", "summarize", "wilson_interval"]

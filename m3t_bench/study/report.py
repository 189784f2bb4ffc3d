"""``m3t-bench study report``: the votes of a study database as a table, a JSON summary and a bar chart.

Per question (:data:`~m3t_bench.study.questions.QUESTIONS`): votes for system A, no preference, system B,
their shares with Wilson 95% intervals, A's share of the decided votes and the two-sided sign test
(:mod:`m3t_bench.study.stats`). A position-bias line says how often the left clip won among decided votes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write, atomic_write_text
from m3t_bench.study.questions import NO_PREFERENCE, QUESTIONS
from m3t_bench.study.stats import INTERVAL, QuestionSummary, summarize
from m3t_bench.study.store import StudyStore


@dataclass(frozen=True)
class StudyReport:
    """Systems (A, B), one :class:`QuestionSummary` per question, raters, pairs, and the left clip's share of
    decided answers (all questions pooled; 0.5 = no position bias)."""

    systems: tuple[str, str]
    questions: tuple[QuestionSummary, ...]
    n_votes: int
    n_raters: int
    n_pairs_rated: int
    left_share: float | None

    def as_dict(self) -> dict:
        return {"systems": list(self.systems), "n_votes": self.n_votes, "n_raters": self.n_raters,
                "n_pairs_rated": self.n_pairs_rated, "interval": f"{INTERVAL} 95%", "left_share": self.left_share,
                "questions": [q.as_dict() for q in self.questions]}


def build_report(db: str | Path) -> StudyReport:
    """Tally the votes of the study database ``db``."""
    store = StudyStore(db)
    facts = store.facts()
    try:
        systems = tuple(json.loads(facts["systems"]))
    except (KeyError, json.JSONDecodeError):
        raise UserError("has no study description; expected a database written by m3t-bench study serve",
                        file=db) from None
    votes = store.votes()
    summaries, left, decided = [], 0, 0
    for key, label, _ in QUESTIONS:
        counts = {systems[0]: 0, systems[1]: 0, NO_PREFERENCE: 0}
        for v in votes:
            answer = v[key]
            if answer == NO_PREFERENCE:
                counts[NO_PREFERENCE] += 1
                continue
            counts[v["left_system"] if answer == "left" else v["right_system"]] += 1
            left += answer == "left"
            decided += 1
        summaries.append(summarize(label, counts[systems[0]], counts[systems[1]], counts[NO_PREFERENCE]))
    return StudyReport(systems=systems, questions=tuple(summaries), n_votes=len(votes),
                       n_raters=len({v["rater"] for v in votes}), n_pairs_rated=len({v["pair_id"] for v in votes}),
                       left_share=left / decided if decided else None)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _ci(ci: tuple[float, float] | None) -> str:
    return "–" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def render_markdown(report: StudyReport) -> str:
    """The report as a GitHub markdown table with a short explanation."""
    a, b = report.systems
    lines = [f"### Preference study: {a} vs {b}", "",
             f"{report.n_votes} votes from {report.n_raters} rater(s) on {report.n_pairs_rated} pair(s).", "",
             f"| question | n | prefer {a} | no preference | prefer {b} | {a} of decided [95% CI] | sign test p |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for q in report.questions:
        lines.append(f"| {q.question} | {q.n} | {_pct(q.share_a)} {_ci(q.ci_a)} | {_pct(q.share_none)} "
                     f"{_ci(q.ci_none)} | {_pct(q.share_b)} {_ci(q.ci_b)} | {_pct(q.decided_share_a)} "
                     f"{_ci(q.decided_ci_a)} | {'–' if q.sign_test_p is None else f'{q.sign_test_p:.3g}'} |")
    lines += ["", f"Shares are of all votes; intervals are Wilson score 95% intervals (binomial). The sign test is "
                  f"the two-sided exact binomial test of {a} vs {b} preferences against 50%, \"no preference\" "
                  f"votes left out.",
              f"Position check: the left clip won {_pct(report.left_share)} of decided answers (50% = no bias)."]
    return "\n".join(lines) + "\n"


def chart_bars(report: StudyReport):
    from m3t_bench.report.figures import PreferenceBar
    return [PreferenceBar(question=q.question, shares=(q.share_a or 0.0, q.share_none or 0.0, q.share_b or 0.0),
                          a_ci95=q.ci_a, n=q.n) for q in report.questions]


def write_report(report: StudyReport, out_dir: str | Path) -> list[Path]:
    """``preference.md``, ``preference.json`` and the bar chart ``preference.png`` in ``out_dir`` (atomic
    writes); returns the paths."""
    from m3t_bench.report.figures import preference_chart
    out_dir = Path(out_dir)
    png = preference_chart(chart_bars(report), *report.systems)
    paths = [atomic_write_text(out_dir / "preference.md", render_markdown(report)),
             atomic_write_text(out_dir / "preference.json",
                               json.dumps(report.as_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"),
             atomic_write(out_dir / "preference.png", lambda tmp: tmp.write_bytes(png))]
    return paths


__all__ = ["StudyReport", "build_report", "render_markdown", "write_report"]

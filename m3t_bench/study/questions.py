"""The questions a rater answers for every pair (paper appendix A.1: "which sequence they preferred on two
axes: facial expressivity and overall motion quality"), and the accepted answers."""

from __future__ import annotations

#: (key, short label, question shown to the rater), in display order.
QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("expressivity", "Facial expressivity", "Which sequence has the more expressive face?"),
    ("overall", "Overall quality", "Which sequence has the better overall motion quality?"),
)
QUESTION_KEYS = tuple(q[0] for q in QUESTIONS)
#: Answers: the left clip, the right clip, or no preference.
CHOICES = ("left", "right", "none")
NO_PREFERENCE = "none"

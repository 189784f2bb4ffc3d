"""What every baseline shares: text tokens; the submission writer (from ``m3t_bench.scoring``)."""

from __future__ import annotations

import re

from m3t_bench.scoring.submission import write_submission  # noqa: F401  (the baselines' writer)

_WORD_RE = re.compile(r"\w+", re.UNICODE)


def text_tokens(text: str, tokenization: str) -> list[str]:
    """Word tokens of ``text`` for retrieval / length prediction: ``jieba`` segments Chinese (punctuation and
    spaces dropped); every other setting lower-cases and keeps runs of word characters (umlauts kept)."""
    if tokenization == "jieba":
        import jieba
        jieba.setLogLevel(60)
        return [t for t in jieba.lcut(text) if _WORD_RE.search(t)]
    return _WORD_RE.findall(text.lower())

"""Back-translation text metrics: corpus BLEU-4 (sacrebleu's formula) and sentence ROUGE-L F (rouge-score),
both 0–100, with one language-aware tokenisation shared by the two.

Tokenisation (everything lower-cased first; the name goes into signatures as ``tok:<id>``):

- ``en``/``de``: sacrebleu's ``13a`` tokenizer (splits ASCII punctuation, keeps letters such as German
  umlauts and ß inside words) → id ``13a-lc``;
- ``zh``, ``zh_tokenize="jieba"`` (default): jieba word segmentation (precise mode, HMM on; whitespace
  tokens dropped) → id ``jieba-<version>-lc``;
- ``zh``, ``zh_tokenize="char"``: sacrebleu's ``zh`` tokenizer (every CJK character is a token, other runs
  tokenised like 13a) → id ``zh-char-lc``.

A non-empty string that yields no token raises :class:`UserError` (never a silent zero).
BLEU: clipped n-gram matches (n = 1..4) per sentence are sufficient statistics; the corpus score sums them
and applies sacrebleu's ``compute_bleu`` (brevity penalty, ``exp`` smoothing, as sacrebleu's default).
ROUGE-L: rouge-score's LCS F-measure (β = 1) per sentence on our tokens, ×100, averaged over sentences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from m3t_bench.errors import UserError

LANGUAGES = ("en", "de", "zh")
ZH_TOKENIZERS = ("jieba", "char")
MAX_ORDER = 4
#: Columns of the BLEU statistics: hypothesis length, reference length, matches[1..4], totals[1..4].
BLEU_STAT_COLUMNS = 2 + 2 * MAX_ORDER


@lru_cache(maxsize=None)
def _sacrebleu_tokenizer(name: str):
    if name == "13a":
        from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
        return Tokenizer13a()
    from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh
    return TokenizerZh()


@lru_cache(maxsize=1)
def _jieba():
    import jieba
    return jieba.Tokenizer()


def _check_language(lang: str, zh_tokenize: str) -> None:
    if lang not in LANGUAGES:
        raise UserError(f"language {lang!r} is not one of {', '.join(LANGUAGES)}", field="lang")
    if zh_tokenize not in ZH_TOKENIZERS:
        raise UserError(f"zh_tokenize {zh_tokenize!r} is not one of {', '.join(ZH_TOKENIZERS)}",
                        field="zh_tokenize")


def tokenizer_id(lang: str, zh_tokenize: str = "jieba") -> str:
    """The tokenisation's name as recorded in signatures (``tok:<id>``).

    >>> tokenizer_id("en"), tokenizer_id("zh", "char")
    ('13a-lc', 'zh-char-lc')
    """
    _check_language(lang, zh_tokenize)
    if lang != "zh":
        return "13a-lc"
    if zh_tokenize == "char":
        return "zh-char-lc"
    import jieba
    return f"jieba-{jieba.__version__}-lc"


def tokenize(text: str, lang: str, zh_tokenize: str = "jieba") -> list[str]:
    """Lower-cased tokens of ``text`` for language ``lang`` (en|de|zh); see the module doc.

    >>> tokenize("Guten Tag, schöne Welt!", "de")
    ['guten', 'tag', ',', 'schöne', 'welt', '!']
    >>> tokenize("我有3个苹果", "zh", zh_tokenize="char")
    ['我', '有', '3', '个', '苹', '果']
    """
    _check_language(lang, zh_tokenize)
    lowered = text.lower()
    if lang == "zh" and zh_tokenize == "jieba":
        tokens = [t for t in _jieba().lcut(lowered) if t.strip()]
    else:
        tokens = _sacrebleu_tokenizer("13a" if lang != "zh" else "zh")(lowered).split()
    if not tokens and lowered.strip():
        raise UserError(f"tokenisation {tokenizer_id(lang, zh_tokenize)} found no token in {text!r}",
                        field="text")
    return tokens


def _check_corpus(hyps: Sequence[str], refs: Sequence[str]) -> None:
    if len(hyps) != len(refs):
        raise UserError(f"{len(hyps)} hypotheses for {len(refs)} references; expected one per reference",
                        field="hyps")
    if not all(isinstance(s, str) for s in [*hyps, *refs]):
        raise UserError("hypotheses and references must be strings", field="hyps")


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[k:k + n]) for k in range(len(tokens) - n + 1))


def bleu_statistics(hyps: Sequence[str], refs: Sequence[str], lang: str, *,
                    zh_tokenize: str = "jieba") -> np.ndarray:
    """Per-sentence BLEU sufficient statistics, (N, 10) int64: hypothesis length, reference length, clipped
    n-gram matches for n = 1..4, hypothesis n-gram counts for n = 1..4 (one reference per sentence).

    >>> bleu_statistics(["the cat sat"], ["the cat sat down"], "en").tolist()
    [[3, 4, 3, 2, 1, 0, 3, 2, 1, 0]]
    """
    _check_corpus(hyps, refs)
    stats = np.zeros((len(hyps), BLEU_STAT_COLUMNS), dtype=np.int64)
    for row, (hyp, ref) in enumerate(zip(hyps, refs)):
        h, r = tokenize(hyp, lang, zh_tokenize), tokenize(ref, lang, zh_tokenize)
        stats[row, 0], stats[row, 1] = len(h), len(r)
        for n in range(1, MAX_ORDER + 1):
            hyp_ngrams, ref_ngrams = _ngrams(h, n), _ngrams(r, n)
            stats[row, 1 + n] = sum(min(c, ref_ngrams[g]) for g, c in hyp_ngrams.items())
            stats[row, 1 + MAX_ORDER + n] = max(len(h) - n + 1, 0)
    return stats


def bleu_from_statistics(stats: np.ndarray) -> float:
    """Corpus BLEU-4 (0–100) from (N, 10) statistics rows (summed first), with sacrebleu's formula and
    default ``exp`` smoothing.

    >>> round(bleu_from_statistics(bleu_statistics(["a b c d e"], ["a b c d e"], "en")), 6)
    100.0
    """
    from sacrebleu.metrics import BLEU

    total = np.asarray(stats, dtype=np.int64).sum(axis=0)
    score = BLEU.compute_bleu(correct=[int(v) for v in total[2:2 + MAX_ORDER]],
                              total=[int(v) for v in total[2 + MAX_ORDER:]], sys_len=int(total[0]),
                              ref_len=int(total[1]), smooth_method="exp", max_ngram_order=MAX_ORDER)
    return float(score.score)


def bleu(hyps: Sequence[str], refs: Sequence[str], lang: str, *, zh_tokenize: str = "jieba") -> float:
    """Corpus BLEU-4, 0–100 like sacrebleu, of hypotheses against one reference each (language-aware
    tokenisation, see the module doc).

    >>> round(bleu(["the cat sat on the mat"], ["the cat sat on the mat"], "en"), 6)
    100.0
    >>> bleu(["today it rains"], ["tomorrow sun"], "en") < 1.0
    True
    """
    return bleu_from_statistics(bleu_statistics(hyps, refs, lang, zh_tokenize=zh_tokenize))


class _RougeTokens:
    """The tokenizer object rouge-score calls (its default deletes every non-ASCII character)."""

    def __init__(self, lang: str, zh_tokenize: str):
        self.lang, self.zh_tokenize = lang, zh_tokenize

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.lang, self.zh_tokenize)


def rouge_l_per_sentence(hyps: Sequence[str], refs: Sequence[str], lang: str, *,
                         zh_tokenize: str = "jieba") -> np.ndarray:
    """(N,) sentence ROUGE-L F-measures ×100 (0–100), from rouge-score's scorer on our tokens.

    >>> rouge_l_per_sentence(["a b c", "x"], ["a b c", "y"], "en").round(6).tolist()
    [100.0, 0.0]
    """
    from rouge_score.rouge_scorer import RougeScorer

    _check_corpus(hyps, refs)
    _check_language(lang, zh_tokenize)
    scorer = RougeScorer(["rougeL"], tokenizer=_RougeTokens(lang, zh_tokenize))
    return np.array([scorer.score(ref, hyp)["rougeL"].fmeasure * 100.0 for hyp, ref in zip(hyps, refs)],
                    dtype=np.float64)


def rouge_l(hyps: Sequence[str], refs: Sequence[str], lang: str, *, zh_tokenize: str = "jieba") -> float:
    """ROUGE-L: sentence F-measure (β = 1) averaged over sentences, ×100 (0–100).

    >>> round(rouge_l(["我 有 三个 苹果"], ["我 有 苹果"], "zh"), 4)          # LCS 3 of 4 and 3 tokens
    85.7143
    """
    values = rouge_l_per_sentence(hyps, refs, lang, zh_tokenize=zh_tokenize)
    return float(values.mean()) if values.size else 0.0

"""What the back-translation model reads and writes as text: tokens per dataset spec, vocabularies, glosses.

Tokenisation follows the dataset spec's ``text_tokenization`` (``m3t_bench.datasets.specs``), lower-cased:
``13a`` (English) → sacrebleu's 13a tokens, ``jieba`` (Chinese) → jieba words, both through
:func:`m3t_bench.metrics.text.tokenize` (the same tokens the BLEU/ROUGE scorer counts); ``none`` (Phoenix14T's
already tokenised German) → the text split on whitespace. A decoded token sequence becomes a sentence by
joining with a space, or with nothing for ``jieba`` (Chinese is written without spaces; the scorer segments
it again).

Glosses for the CTC head (:func:`gloss_targets`), per training split:

1. every row has a non-empty ``gloss``: those glosses, split on whitespace (``gloss_source`` ``manifest``);
2. otherwise, English text: *pseudo-glosses* = the sentence's content words — lower-cased word tokens minus
   a fixed list of English function words, apostrophe suffixes dropped, in sentence order
   (:func:`m3t_bench.synth.annotations.pseudo_glosses`, the rule SynthSign uses for How2Sign text). The
   M3T paper derives How2Sign pseudo-glosses from part-of-speech tags (Sign2GPT's method); no tagger that
   installs from PyPI and runs offline was available, so this content-word rule stands in
   (``gloss_source`` ``pseudo-gloss``);
3. otherwise no gloss supervision: the CTC head is not trained (``gloss_source`` ``none``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from m3t_bench.errors import UserError
from m3t_bench.safe_read import read_json_object

TOKENIZATIONS = ("13a", "jieba", "none")
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
TEXT_SPECIALS = (PAD, UNK, BOS, EOS)
BLANK = "<blank>"
GLOSS_SPECIALS = (BLANK, UNK)
GLOSS_SOURCES = ("manifest", "pseudo-gloss", "none")
#: Limits of a vocabulary file read from a checkpoint (How2Sign's text vocabulary has about 16k tokens).
MAX_VOCAB_BYTES = 64 << 20
MAX_VOCAB_TOKENS = 1_000_000
MAX_TOKEN_CHARS = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def text_tokens(text: str, tokenization: str, language: str) -> list[str]:
    """Lower-cased tokens of ``text`` under the dataset's ``tokenization`` (see the module doc)."""
    if tokenization == "none":
        return text.lower().split()
    if tokenization not in TOKENIZATIONS:
        raise UserError(f"text tokenisation {tokenization!r}; expected one of {', '.join(TOKENIZATIONS)}",
                        field="text_tokenization")
    from m3t_bench.metrics.text import tokenize
    return tokenize(text, language, "jieba") if tokenization == "jieba" else tokenize(text, language)


def detokenize(tokens: Sequence[str], tokenization: str) -> str:
    """A sentence from decoded tokens: joined with nothing for ``jieba`` (Chinese), else with spaces."""
    return ("" if tokenization == "jieba" else " ").join(tokens)


@dataclass(frozen=True)
class Vocabulary:
    """Token list with the special tokens first; ``index`` maps a token to its id (unknown -> ``<unk>``)."""

    tokens: tuple[str, ...]
    specials: tuple[str, ...]

    def __post_init__(self):
        if self.tokens[:len(self.specials)] != self.specials or len(set(self.tokens)) != len(self.tokens):
            raise ValueError("vocabulary must start with its special tokens and hold each token once")
        object.__setattr__(self, "_ids", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, sentences: Sequence[Sequence[str]], specials: tuple[str, ...]) -> "Vocabulary":
        """Every token of ``sentences`` (most frequent first, ties alphabetical) after ``specials``."""
        counts = Counter(t for s in sentences for t in s if t not in specials)
        return cls(specials + tuple(sorted(counts, key=lambda t: (-counts[t], t))), specials)

    def __len__(self) -> int:
        return len(self.tokens)

    def index(self, token: str) -> int:
        return self._ids.get(token, self._ids[UNK])

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.index(t) for t in tokens]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Tokens of ``ids``, special tokens left out."""
        return [self.tokens[i] for i in ids if i >= len(self.specials)]

    def to_json(self) -> str:
        return json.dumps({"specials": list(self.specials), "tokens": list(self.tokens)}, ensure_ascii=False,
                          indent=0) + "\n"

    @classmethod
    def read(cls, path: Path, specials: tuple[str, ...]) -> "Vocabulary":
        """A vocabulary file written by :meth:`to_json` (read through :mod:`m3t_bench.safe_read`: a regular
        file of at most ``MAX_VOCAB_BYTES``, at most ``MAX_VOCAB_TOKENS`` tokens without control characters such as newlines); :class:`UserError`
        naming the file otherwise."""
        data = read_json_object(path, max_bytes=MAX_VOCAB_BYTES, what="vocabulary file")
        tokens = data.get("tokens")
        if data.get("specials") != list(specials) or not isinstance(tokens, list) \
                or not all(valid_token(t) for t in tokens):
            raise UserError(f"not a vocabulary file; expected specials {list(specials)} and a list of tokens of "
                            f"1-{MAX_TOKEN_CHARS} characters without control characters", file=path, field="tokens")
        if len(tokens) > MAX_VOCAB_TOKENS:
            raise UserError(f"{len(tokens):,} tokens; expected at most {MAX_VOCAB_TOKENS:,}", file=path, field="tokens")
        try:
            return cls(tuple(tokens), specials)
        except ValueError as exc:
            raise UserError(f"not a vocabulary file ({exc})", file=path, field="tokens") from None


def valid_token(token) -> bool:
    """Whether ``token`` can be stored in a vocabulary file: 1-``MAX_TOKEN_CHARS`` characters without control
    characters (a newline in a token would break the one-line-per-sample hypotheses file)."""
    return isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_CHARS and not _CONTROL.search(token)


def gloss_targets(entries: Sequence[dict], language: str) -> tuple[list[list[str]], str]:
    """Per-row gloss sequences of a training split and where they came from (``GLOSS_SOURCES``); see the
    module doc for the rule. With source ``none`` every sequence is empty."""
    glosses = [str(e.get("gloss") or "").split() for e in entries]
    if entries and all(glosses):
        return glosses, "manifest"
    if language == "en":
        from m3t_bench.synth.annotations import pseudo_glosses
        derived = [[g.upper() for g in pseudo_glosses(str(e["text"]))] for e in entries]
        if any(derived):
            return derived, "pseudo-gloss"
    return [[] for _ in entries], "none"

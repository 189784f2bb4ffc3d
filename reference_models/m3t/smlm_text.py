"""The SMLM's text tokenizer: a sentencepiece model and the mapping of its pieces to text-vocabulary ids.

Two kinds, one id convention (mBART's, so the same code serves both): ``<s>=0, <pad>=1, </s>=2, <unk>=3``,
then the pieces, then spoken-language codes (``en_XX``, ``zh_CN``, ``de_DE``, ... as in mBART-cc25).

* ``trained``: a BPE sentencepiece model trained on the training texts (no mBART files given). It is
  trained with those four special ids, so a piece id *is* its text id; the language codes of the training
  languages follow the pieces. Chinese text is segmented into words with jieba before training and
  encoding (pieces then never cross a word boundary). Deterministic for a seed (one thread, fixed order).
* ``mbart``: the ``sentencepiece.bpe.model`` of a local mBART-large-cc25 folder, read with
  ``SentencePieceProcessor`` (which applies the model's own normalisation; ``MBartTokenizer`` skips it and
  needs ``protobuf``) and mapped to mBART's ids: piece ``i >= 3`` -> ``i + 1``, sentencepiece's ``<unk>``
  (0) -> 3, language code ``c`` -> ``len(pieces) + 1 + index(c)`` in mBART's language list, ``<mask>`` last.
  ``keep`` (optional) prunes the vocabulary to the listed mBART ids (the training texts' pieces, the
  specials and the used language codes); other pieces map to ``<unk>``.

Sequences (mBART's format): encoder source ``pieces </s> <lang>``; decoder input ``<lang> pieces`` with
labels ``pieces </s>`` (the language code is the decoder start token).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write, atomic_write_text

BOS_ID, PAD_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
N_SPECIAL = 4
MODEL_FILE = "text.model"
META_FILE = "text.json"
MBART_SPM_FILE = "sentencepiece.bpe.model"
KINDS = ("trained", "mbart")
_HAN = re.compile(r"[\u3400-\u9fff]")


def mbart_language_codes() -> list[str]:
    """mBART-cc25's 25 language codes in its id order (``ar_AR`` ... ``zh_CN``)."""
    from transformers.models.mbart.tokenization_mbart import FAIRSEQ_LANGUAGE_CODES
    return list(FAIRSEQ_LANGUAGE_CODES)


def language_code(language: str) -> str:
    """mBART's code for a spoken ``language`` (``en`` -> ``en_XX``, ``zh`` -> ``zh_CN``); ``xx_XX`` if none."""
    return next((c for c in mbart_language_codes() if c.split("_")[0] == language), f"{language}_XX")


def segment(text: str, language: str) -> str:
    """Chinese text split into jieba words joined by spaces (other text unchanged)."""
    if language != "zh" and not _HAN.search(text):
        return text
    import jieba
    jieba.setLogLevel(60)
    return " ".join(w for w in jieba.lcut(text) if w.strip())


class TextTokenizer:
    """Text -> text-vocabulary ids (see the module docstring). ``languages``: spoken-language codes this
    tokenizer has language tokens for (trained kind: exactly the training languages)."""

    def __init__(self, model_proto: bytes, kind: str, languages: list[str], keep: list[int] | None = None):
        import sentencepiece as spm
        if kind not in KINDS:
            raise ValueError(f"unknown text tokenizer kind {kind!r}; expected one of {KINDS}")
        self.model_proto, self.kind = bytes(model_proto), kind
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        n_pieces = len(self.sp)
        if kind == "trained":
            self.languages = sorted(set(languages))
            self.lang_full_ids = {lang: n_pieces + i for i, lang in enumerate(self.languages)}
            self.full_size = n_pieces + len(self.languages)
        else:
            codes = mbart_language_codes()
            self.languages = sorted(set(languages))
            unknown = [lang for lang in self.languages if language_code(lang) not in codes]
            if unknown:
                raise UserError(f"mBART-cc25 has no language code for {unknown}", field="--mbart")
            self.lang_full_ids = {lang: n_pieces + 1 + codes.index(language_code(lang)) for lang in self.languages}
            self.full_size = n_pieces + 1 + len(codes) + 1  # pieces (shifted by one), language codes, <mask>
        self.keep = None if keep is None else sorted(int(i) for i in keep)
        if self.keep is not None:
            if self.keep[:N_SPECIAL] != list(range(N_SPECIAL)) or self.keep[-1] >= self.full_size:
                raise ValueError("a pruned text vocabulary must keep ids 0-3 and stay within the full vocabulary")
            self.remap = np.full(self.full_size, UNK_ID, dtype=np.int64)
            self.remap[self.keep] = np.arange(len(self.keep))
        else:
            self.remap = None

    # -- ids ---------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Rows of the text vocabulary (after pruning)."""
        return self.full_size if self.keep is None else len(self.keep)

    def full_piece_ids(self, text: str, language: str) -> list[int]:
        """The pieces of ``text`` as ids of the full (unpruned) vocabulary."""
        if self.kind == "trained":
            return list(self.sp.encode(segment(text, language)))
        return [UNK_ID if i == self.sp.unk_id() else i + 1 for i in self.sp.encode(text)]

    def _map(self, full_ids: list[int]) -> list[int]:
        return full_ids if self.remap is None else [int(i) for i in self.remap[full_ids]]

    def language_id(self, language: str) -> int:
        if language not in self.lang_full_ids:
            raise UserError(f"the text tokenizer has no language code for {language!r} (knows "
                            f"{', '.join(self.languages)})", field="language")
        return self._map([self.lang_full_ids[language]])[0]

    def piece_ids(self, text: str, language: str, max_pieces: int | None = None) -> list[int]:
        """The pieces of ``text`` as text-vocabulary ids (at most ``max_pieces``)."""
        return self._map(self.full_piece_ids(text, language))[:max_pieces]

    def source_ids(self, text: str, language: str, max_len: int) -> list[int]:
        """Encoder input ``pieces </s> <lang>``, at most ``max_len`` ids (pieces truncated)."""
        return [*self.piece_ids(text, language, max_len - 2), EOS_ID, self.language_id(language)]

    def target_ids(self, text: str, language: str, max_len: int) -> tuple[list[int], list[int]]:
        """Decoder ``(input <lang> pieces, labels pieces </s>)``, each at most ``max_len`` ids."""
        pieces = self.piece_ids(text, language, max_len - 1)
        return [self.language_id(language), *pieces], [*pieces, EOS_ID]

    def decode(self, ids: list[int], language: str) -> str:
        """Text of text-vocabulary ids (special and language ids dropped; Chinese without spaces)."""
        full = [self.keep[i] for i in ids] if self.keep is not None else list(ids)
        piece_full = [i for i in full if i >= N_SPECIAL and i not in self.lang_full_ids.values()
                      and i < self.full_size - (1 if self.kind == "mbart" else 0)]
        spm_ids = piece_full if self.kind == "trained" else [i - 1 for i in piece_full]
        text = self.sp.decode([i for i in spm_ids if i < len(self.sp)])
        return text.replace(" ", "") if language == "zh" else text

    def used_full_ids(self, texts: list[tuple[str, str]]) -> list[int]:
        """Full ids a pruned vocabulary must keep for ``(text, language)`` pairs: specials, their pieces,
        their language codes (sorted)."""
        used = set(range(N_SPECIAL))
        for text, language in texts:
            used.update(self.full_piece_ids(text, language))
            used.add(self.lang_full_ids[language])
        return sorted(used)

    def pruned(self, keep: list[int]) -> "TextTokenizer":
        return TextTokenizer(self.model_proto, self.kind, self.languages, keep)

    # -- persistence -------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        atomic_write(folder / MODEL_FILE, lambda tmp: Path(tmp).write_bytes(self.model_proto))
        atomic_write_text(folder / META_FILE, json.dumps(
            {"kind": self.kind, "languages": self.languages, "keep": self.keep}, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: Path) -> "TextTokenizer":
        meta_path = folder / META_FILE
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            return cls((folder / MODEL_FILE).read_bytes(), meta["kind"], meta["languages"], meta["keep"])
        except FileNotFoundError as exc:
            raise UserError("missing text tokenizer file (expected text.model and text.json in the checkpoint)",
                            file=exc.filename) from None
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise UserError(f"unreadable text tokenizer ({type(exc).__name__}: {exc})", file=meta_path) from None


def train_text_tokenizer(texts: list[tuple[str, str]], vocab_size: int, *, seed: int = 0) -> TextTokenizer:
    """A BPE sentencepiece model trained on ``(text, language)`` pairs (duplicates kept, order as given);
    ``vocab_size`` is an upper bound (smaller corpora give fewer pieces)."""
    import sentencepiece as spm
    if not texts:
        raise UserError("no training texts for the text tokenizer", field="--data")
    spm.set_random_generator_seed(int(seed))
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([segment(t, lang) for t, lang in texts]), model_writer=buffer,
        vocab_size=int(vocab_size), hard_vocab_limit=False, model_type="bpe", character_coverage=1.0,
        num_threads=1, shuffle_input_sentence=False, bos_id=BOS_ID, pad_id=PAD_ID, eos_id=EOS_ID, unk_id=UNK_ID,
        minloglevel=2)
    return TextTokenizer(buffer.getvalue(), "trained", sorted({lang for _, lang in texts}))


def load_mbart_text_tokenizer(mbart_dir: Path, languages: list[str]) -> TextTokenizer:
    """The sentencepiece model of a local mBART-cc25 folder with mBART's id mapping (not pruned)."""
    path = Path(mbart_dir) / MBART_SPM_FILE
    if not path.is_file():
        raise UserError(f"no {MBART_SPM_FILE} in the mBART folder (expected mBART-large-cc25's files)", file=path)
    try:
        return TextTokenizer(path.read_bytes(), "mbart", languages)
    except RuntimeError as exc:
        raise UserError(f"not a sentencepiece model ({exc})", file=path) from None

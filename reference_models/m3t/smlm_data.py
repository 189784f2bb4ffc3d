"""What the SMLM trains on: (text, four token streams) examples from dataset splits, and batches of them.

An :class:`Example` holds a sample's text, its language and its motion tokens ``(T', 4)`` (code indices per
stream, ``MOTION_STREAMS`` order) from the frozen FSQ-VAE tokenizers. Tokens of a split are cached in
``<cache_dir>/<dataset>-<split>.npz``, keyed by the split's manifest hash and the tokenizer weights' hashes
(a stale cache is recomputed, never used).

:func:`collate` pads a list of examples into the tensors of both objectives (see ``smlm``):
production ``text_ids/text_mask`` (encoder source ``pieces </s> <lang>``), ``motion_in`` (decoder input
``<L_m> <BOS_m> c_1 .. c_n``) and ``motion_targets`` (head classes ``ignore, c_1 .. c_n, EOS``);
translation ``motion_src/motion_mask`` (encoder input ``<L_m> <BOS_m> c_1 .. c_n <EOS_m>``), ``text_in``
(``<lang> pieces``) and ``text_targets`` (``pieces </s>``). Padding: text ``<pad>``, each stream its
``<PAD_m>``; ignored targets are ``IGNORE_INDEX``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from m3t_bench.fileio import atomic_write
from reference_models.m3t.smlm import IGNORE_INDEX
from reference_models.m3t.smlm_text import PAD_ID, TextTokenizer
from reference_models.m3t.smlm_vocab import MOTION_STREAMS, Vocabulary

CACHE_FORMAT = "m3t-smlm-tokens@1"


@dataclass(frozen=True)
class Example:
    """One sample: ``dataset`` (id, e.g. ``synthsign-asl@1``), ``sample_id``, spoken ``language``, ``text`` and
    ``tokens (T', 4)`` int64 code indices (``MOTION_STREAMS`` order)."""

    dataset: str
    sample_id: str
    language: str
    text: str
    tokens: np.ndarray

    @property
    def n_tokens(self) -> int:
        return int(self.tokens.shape[0])


def _cache_key(split, tokenizer_hashes: dict[str, str]) -> str:
    return "|".join([CACHE_FORMAT, split.spec.id, split.split, split.manifest_sha256,
                     *(f"{m}:{h}" for m, h in sorted(tokenizer_hashes.items()))])


def _read_cache(path: Path, key: str) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["key"]) != key:
                return None
            ids, lengths, tokens = npz["ids"], npz["lengths"], npz["tokens"]
    except (OSError, ValueError, KeyError):
        return None
    parts = np.split(tokens, np.cumsum(lengths)[:-1])
    return {str(i): p for i, p in zip(ids, parts)}


def _write_cache(path: Path, key: str, tokens: dict[str, np.ndarray]) -> None:
    ids = sorted(tokens)
    arrays = {"key": np.asarray(key), "ids": np.asarray(ids),
              "lengths": np.asarray([len(tokens[i]) for i in ids], dtype=np.int64),
              "tokens": np.concatenate([tokens[i] for i in ids]).astype(np.int64)}
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    atomic_write(path, write)


def split_examples(split, tokenizers: dict, tokenizer_hashes: dict[str, str], *, cache_dir: Path | None = None,
                   ids: list[str] | None = None) -> list[Example]:
    """Examples of a dataset split (``m3t_bench.datasets.Split``) in manifest order (or of ``ids``), tokens
    from ``tokenizers`` (modality -> ``MotionTokenizer``) or from the cache when it matches."""
    from reference_models.m3t.tokenize import tokenize_sequence
    key = _cache_key(split, tokenizer_hashes)
    cache_path = None if cache_dir is None else Path(cache_dir) / f"{split.spec.name}-{split.split}.npz"
    cached = None if cache_path is None else _read_cache(cache_path, key)
    if cached is None:
        cached = {}
        for sample_id in split.ids:
            arrays = tokenize_sequence(tokenizers, split.load(sample_id))
            cached[sample_id] = np.stack([arrays[s] for s in MOTION_STREAMS], axis=1)
        if cache_path is not None:
            _write_cache(cache_path, key, cached)
    wanted = split.ids if ids is None else ids
    return [Example(split.spec.id, i, split.entry(i).get("language", split.spec.language), split.entry(i)["text"],
                    cached[i]) for i in wanted]


def epoch_batches(n: int, batch_size: int, *, seed: int, epoch: int) -> list[np.ndarray]:
    """Index batches of one epoch: a permutation of ``range(n)`` drawn from ``(seed, epoch)``, cut into
    full batches of ``batch_size`` (the remainder is left out this epoch)."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def _pad(rows: list[list], value) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def _pad_streams(rows: list[np.ndarray], pad_ids: list[int]) -> torch.Tensor:
    """Rows ``(T_i, 4)`` -> ``(B, max T, 4)``, stream ``k`` padded with ``pad_ids[k]``."""
    width = max(len(r) for r in rows)
    out = torch.tensor(pad_ids, dtype=torch.long).repeat(len(rows), width, 1)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.from_numpy(np.asarray(r, dtype=np.int64))
    return out


def stream_ids(example: Example, vocab: Vocabulary) -> np.ndarray:
    """``(T' + 3, 4)`` vocabulary ids ``<L_m> <BOS_m> c_1 .. c_n <EOS_m>`` per stream."""
    return np.stack([vocab.stream_sequence(s, example.tokens[:, k], example.language)
                     for k, s in enumerate(MOTION_STREAMS)], axis=1)


def collate(examples: list[Example], vocab: Vocabulary, text: TextTokenizer, max_text_tokens: int) -> dict[str, torch.Tensor]:
    """The padded tensors of both objectives for ``examples`` (see the module docstring)."""
    pads = [vocab.blocks[s].pad for s in MOTION_STREAMS]
    offsets = np.array([vocab.blocks[s].offset for s in MOTION_STREAMS])
    eos_class = [vocab.blocks[s].codebook_size for s in MOTION_STREAMS]
    sources, text_in, text_targets, motion_full, targets = [], [], [], [], []
    for ex in examples:
        sources.append(text.source_ids(ex.text, ex.language, max_text_tokens))
        dec_in, labels = text.target_ids(ex.text, ex.language, max_text_tokens)
        text_in.append(dec_in)
        text_targets.append(labels)
        ids = stream_ids(ex, vocab)
        motion_full.append(ids)
        classes = np.concatenate([np.full((1, 4), IGNORE_INDEX), ids[2:-1] - offsets, [eos_class]])
        targets.append(classes)
    text_ids = _pad(sources, PAD_ID)
    full = _pad_streams(motion_full, pads)
    motion_mask = torch.tensor([[1] * len(m) + [0] * (full.shape[1] - len(m)) for m in motion_full])
    return {
        "text_ids": text_ids, "text_mask": (text_ids != PAD_ID).long(),
        "motion_in": _pad_streams([m[:-1] for m in motion_full], pads),
        "motion_targets": _pad_streams(targets, [IGNORE_INDEX] * 4),
        "motion_src": full, "motion_mask": motion_mask,
        "text_in": _pad(text_in, PAD_ID), "text_targets": _pad(text_targets, IGNORE_INDEX),
    }


def text_batch(texts: list[tuple[str, str]], text: TextTokenizer, max_text_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder source ids and mask ``(B, S)`` for ``(text, language)`` pairs (generation)."""
    ids = _pad([text.source_ids(t, lang, max_text_tokens) for t, lang in texts], PAD_ID)
    return ids, (ids != PAD_ID).long()

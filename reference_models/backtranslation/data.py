"""Training data of the back-translation model: (360-d frames, text ids, gloss ids) per sentence, length-
bucketed batches that depend only on (seed, epoch), and padding into tensors.

Frames are read from the split on first use and kept while they fit ``cache_bytes`` (the rest is read from
disk every epoch), so memory stays bounded for any corpus size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reference_models.backtranslation.decode import BOS_ID, EOS_ID, PAD_ID, pad_frames
from reference_models.backtranslation.text import Vocabulary, gloss_targets, text_tokens

#: Batches are formed inside pools of this many batches, each sorted by length (less padding).
POOL_BATCHES = 50
DEFAULT_CACHE_BYTES = 2 << 30


@dataclass
class Corpus:
    """One split as the model sees it: ``ids``, frame counts, text ids and gloss ids per sentence, and the
    split to read frames from."""

    split: object  # m3t_bench.datasets Split
    ids: list[str]
    lengths: list[int]
    text_ids: list[list[int]]
    gloss_ids: list[list[int]]
    cache_bytes: int = DEFAULT_CACHE_BYTES

    def __post_init__(self):
        self._cache: dict[int, np.ndarray] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self.ids)

    def features(self, i: int) -> np.ndarray:
        """``(T, 360)`` float32 frames of sentence ``i`` (the sample's contract and hash checked on read)."""
        if i in self._cache:
            return self._cache[i]
        feats = self.split.load(self.ids[i]).features()
        if self._cached_bytes + feats.nbytes <= self.cache_bytes:
            self._cache[i] = feats
            self._cached_bytes += feats.nbytes
        return feats


def feature_statistics(corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation ``(360,)`` over every frame of ``corpus`` (float64 sums,
    one pass)."""
    total, total_sq, n = 0.0, 0.0, 0
    for i in range(len(corpus)):
        f = corpus.features(i).astype(np.float64)
        total, total_sq, n = total + f.sum(axis=0), total_sq + (f * f).sum(axis=0), n + f.shape[0]
    mean = total / n
    return mean, np.sqrt(np.maximum(total_sq / n - mean * mean, 0.0))


def build_vocabularies(split) -> tuple[Vocabulary, Vocabulary, str]:
    """Text and gloss vocabularies of a training split, and the gloss source (``text.GLOSS_SOURCES``)."""
    from reference_models.backtranslation.text import GLOSS_SPECIALS, TEXT_SPECIALS
    spec = split.spec
    texts = [text_tokens(str(e["text"]), spec.text_tokenization, spec.language) for e in split.entries]
    glosses, source = gloss_targets(split.entries, spec.language)
    return Vocabulary.build(texts, TEXT_SPECIALS), Vocabulary.build(glosses, GLOSS_SPECIALS), source


def corpus_of(split, text_vocab: Vocabulary, gloss_vocab: Vocabulary, gloss_source: str, *,
              cache_bytes: int = DEFAULT_CACHE_BYTES) -> Corpus:
    """The split's sentences encoded with the vocabularies (glosses from the same source as in training;
    none when that source is ``none``)."""
    spec = split.spec
    texts = [text_vocab.encode(text_tokens(str(e["text"]), spec.text_tokenization, spec.language))
             for e in split.entries]
    glosses, _ = gloss_targets(split.entries, spec.language) if gloss_source != "none" else (
        [[] for _ in split.entries], "none")
    return Corpus(split=split, ids=list(split.ids), lengths=[int(e["n_frames"]) for e in split.entries],
                  text_ids=texts, gloss_ids=[gloss_vocab.encode(g) for g in glosses], cache_bytes=cache_bytes)


def epoch_batches(lengths: list[int], batch_size: int, *, seed: int, epoch: int) -> list[list[int]]:
    """Global batches of one epoch: a permutation drawn from ``(seed, epoch)``, cut into pools of
    ``POOL_BATCHES`` batches, each pool sorted by length and cut into batches, the batch order shuffled.
    The last batch may be smaller."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths)).tolist()
    pool = batch_size * POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass
class Batch:
    """Padded tensors of one batch: ``frames (B, T, 360)``, ``frame_mask (B, T)`` bool, ``tokens_in (B, L)``
    (``<bos>`` + text), ``tokens_out (B, L)`` (text + ``<eos>``; ``<pad>`` = 0 ignored), ``gloss (B, G)``
    with ``gloss_lengths (B,)``, ``frame_lengths (B,)``."""

    frames: torch.Tensor
    frame_mask: torch.Tensor
    tokens_in: torch.Tensor
    tokens_out: torch.Tensor
    gloss: torch.Tensor
    gloss_lengths: torch.Tensor
    frame_lengths: torch.Tensor


def make_batch(corpus: Corpus, indices: list[int], device: torch.device) -> Batch:
    """Pad sentences ``indices`` of ``corpus`` into a :class:`Batch` on ``device``."""
    frames, mask = pad_frames([corpus.features(i) for i in indices], device)
    texts = [corpus.text_ids[i] for i in indices]
    length = max(len(t) for t in texts) + 1
    tokens_in = torch.full((len(indices), length), PAD_ID, dtype=torch.long)
    tokens_out = torch.full((len(indices), length), PAD_ID, dtype=torch.long)
    for row, t in enumerate(texts):
        tokens_in[row, :len(t) + 1] = torch.tensor([BOS_ID, *t])
        tokens_out[row, :len(t) + 1] = torch.tensor([*t, EOS_ID])
    glosses = [corpus.gloss_ids[i] for i in indices]
    gloss = torch.zeros(len(indices), max(1, max(len(g) for g in glosses)), dtype=torch.long)
    for row, g in enumerate(glosses):
        gloss[row, :len(g)] = torch.tensor(g, dtype=torch.long)
    return Batch(frames=frames, frame_mask=mask, tokens_in=tokens_in.to(device), tokens_out=tokens_out.to(device),
                 gloss=gloss.to(device), gloss_lengths=torch.tensor([len(g) for g in glosses], device=device),
                 frame_lengths=mask.sum(dim=1))

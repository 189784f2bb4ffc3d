"""The ``slt`` entry point of the ``m3t_bench.backtranslators`` group: a verified checkpoint folder as the
scorer's :class:`m3t_bench.scoring.backtranslators.BackTranslator`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from reference_models.backtranslation.checkpoint import BTCheckpoint, load_checkpoint
from reference_models.backtranslation.decode import translate_features
from reference_models.backtranslation.text import detokenize


class SLTBackTranslator:
    """Translates SMPL-FX sequences with a loaded checkpoint, using the decoding settings stored in its config
    (beam width, length penalty, maximum length)."""

    def __init__(self, checkpoint: BTCheckpoint, device: str | torch.device = "cpu"):
        self.checkpoint, self.device = checkpoint, torch.device(device)
        dataset = checkpoint.meta["dataset"]
        self.name = checkpoint.name
        self.content_hash = checkpoint.content_hash
        self.dataset = f"{dataset['name']}@{dataset['version']}"
        self.language = str(dataset["language"])
        self.tokenization = str(dataset["text_tokenization"])

    def translate_ids(self, sequences: Sequence, *, progress: bool = False) -> list[list[int]]:
        """Decoded text ids per sequence (without ``<bos>``/``<eos>``; ``<unk>`` may occur)."""
        cfg = self.checkpoint.cfg
        return translate_features(self.checkpoint.model, [s.features() for s in sequences], beam_size=cfg.beam_size,
                                  alpha=cfg.beam_alpha, max_length=cfg.max_output_length, device=self.device,
                                  progress=progress)

    def translate(self, sequences: Sequence, *, progress: bool = False) -> list[str]:
        """One sentence per sequence (``MotionSequence`` with all four streams), in order."""
        vocab = self.checkpoint.text_vocab
        return [detokenize(vocab.decode(ids), self.tokenization)
                for ids in self.translate_ids(sequences, progress=progress)]


def load(path: str | Path, *, device: str = "cpu") -> SLTBackTranslator:
    """Entry point: verify and load the checkpoint folder ``path``."""
    return SLTBackTranslator(load_checkpoint(path, device=device), device)

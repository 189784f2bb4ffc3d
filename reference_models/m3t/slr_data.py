"""What the SLR probe trains and is evaluated on: labelled isolated signs, the class list, the held-out
validation part of a training split, and the frozen encoders' features of each cropped clip.

Labels come from the manifest's ``label`` field (an integer class id) or, where a row has none (e.g. NMFs-CSL
pseudo-GT converted with a gloss column), from its ``gloss`` looked up in the class list; which classes are
*confusing* comes from the class list (:mod:`m3t_bench.datasets.nmfs`: SynthSign writes
``<dataset>/classes.tsv``, NMFs-CSL users supply theirs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from m3t_bench.datasets.nmfs import NmfsClass, load_class_list
from m3t_bench.errors import UserError
from m3t_bench.motion import MotionSequence
from reference_models.m3t.data import stream_to_input
from reference_models.m3t.slr import STREAM_MODALITY, SLRConfig
from reference_models.m3t.slr_window import crop, signing_window
from reference_models.m3t.vae import MotionTokenizer

CLASS_LIST_FILE = "classes.tsv"


def find_class_list(data: str | Path, classes: str | Path | None = None) -> list[NmfsClass]:
    """The class list: ``classes`` when given, else ``<data>/classes.tsv`` (the dataset folder's own, as
    SynthSign writes it); UserError when neither exists."""
    if classes is not None:
        return load_class_list(classes)
    path = Path(data) / CLASS_LIST_FILE
    if not path.is_file():
        raise UserError(f"no class list (expected {CLASS_LIST_FILE} in the dataset folder, or pass --classes "
                        f"FILE: class_id, gloss, group, confusing)", file=path)
    return load_class_list(path)


def split_labels(split, classes: list[NmfsClass]) -> np.ndarray:
    """The class of every manifest row of an opened split ``(N,)`` int64: its ``label`` field (SynthSign) or,
    for rows without one (converted pseudo-GT), the class whose gloss is the row's ``gloss``."""
    by_gloss = {c.gloss: c.class_id for c in classes}
    labels = []
    for row in split.entries:
        label = row.get("label")
        if label is None and row.get("gloss") in by_gloss:
            label = by_gloss[row["gloss"]]
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(classes):
            raise UserError(f"sample {row['id']!r} has label {label!r} and gloss {row.get('gloss')!r}; expected an "
                            f"integer class id in 0..{len(classes) - 1} or a gloss of the class list",
                            file=split.root / "manifest.jsonl", field="label")
        labels.append(label)
    return np.asarray(labels, dtype=np.int64)


class LazySamples(Sequence):
    """The samples of an opened split (or those at ``indices``), loaded from disk on access, so memory stays
    bounded for any split size."""

    def __init__(self, split, indices: Sequence[int] | None = None):
        ids = split.ids
        self.split = split
        self.ids = ids if indices is None else [ids[int(i)] for i in indices]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> MotionSequence:
        return self.split.load(self.ids[i])


@dataclass(frozen=True)
class Holdout:
    """Indices of the training and held-out validation samples, and how the held-out part was drawn."""

    train: np.ndarray
    val: np.ndarray
    description: str


def holdout_split(signers: Sequence[str], labels: np.ndarray, fraction: float, seed: int) -> Holdout:
    """Hold out about ``fraction`` of a training split for checkpoint selection.

    With two or more signers, whole signers are held out (the test protocol is signer-independent): signers
    in the order of ``np.random.default_rng(seed).permutation`` of their sorted names until at least
    ``fraction`` of the samples are held out, never all signers. With one signer, per class
    ``round(fraction * n_class)`` samples (at least one for a class with two or more) chosen by the same
    generator."""
    labels = np.asarray(labels)
    n = len(labels)
    rng = np.random.default_rng(seed)
    names = sorted(set(signers))
    if fraction <= 0.0:
        raise UserError("no validation split and val_fraction 0: nothing to select the checkpoint on",
                        field="--val-fraction")
    if len(names) >= 2:
        order = [names[i] for i in rng.permutation(len(names))]
        held: list[str] = []
        count = 0
        for name in order[:-1]:
            if count >= fraction * n:
                break
            held.append(name)
            count += sum(s == name for s in signers)
        mask = np.isin(np.asarray(signers), held)
        description = (f"held-out signers {', '.join(sorted(held))} ({int(mask.sum())} of {n} training samples, "
                       f"seed {seed})")
    else:
        mask = np.zeros(n, dtype=bool)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            k = int(round(fraction * len(idx)))
            k = max(k, 1) if len(idx) >= 2 else 0
            mask[rng.permutation(idx)[:k]] = True
        description = f"per-class random {fraction:.0%} of the training samples ({int(mask.sum())} of {n}, seed {seed})"
    if mask.all() or not mask.any():
        raise UserError(f"cannot hold out a validation part of {n} training samples; pass --val-split",
                        field="--val-fraction")
    return Holdout(np.flatnonzero(~mask), np.flatnonzero(mask), description)


class FrozenEncoders:
    """The tokenizers of the selected streams with every parameter frozen (eval mode, no gradients).

    :meth:`features` maps one clip to its pre-quantisation features: stream -> ``(S, W)`` float32 on the
    CPU, ``S = ceil(T/4)`` (the left hand mirrored before the hand encoder, as in tokenizer training)."""

    def __init__(self, tokenizers: dict[str, MotionTokenizer], streams: tuple[str, ...]):
        needed = sorted({STREAM_MODALITY[s] for s in streams})
        missing = [m for m in needed if m not in tokenizers]
        if missing:
            raise ValueError(f"no tokenizer for modality/modalities {missing}")
        self.streams = tuple(streams)
        self.tokenizers = {m: tokenizers[m] for m in needed}
        for model in self.tokenizers.values():
            model.eval()
            model.requires_grad_(False)

    @property
    def widths(self) -> dict[str, int]:
        """Feature width per modality."""
        return {m: model.cfg.width for m, model in self.tokenizers.items()}

    @torch.no_grad()
    def features(self, seq: MotionSequence) -> dict[str, Tensor]:
        out = {}
        for stream in self.streams:
            model = self.tokenizers[STREAM_MODALITY[stream]]
            x = torch.as_tensor(stream_to_input(stream, getattr(seq, stream)), device=model.input_mean.device)
            out[stream] = model.hidden_states(x[None])[0].transpose(0, 1).float().cpu().contiguous()
        return out


def resample_frames(seq: MotionSequence, max_frames: int) -> MotionSequence:
    """``seq`` itself when it has at most ``max_frames`` frames, else ``max_frames`` evenly spaced frames."""
    if seq.n_frames <= max_frames:
        return seq
    idx = np.round(np.linspace(0, seq.n_frames - 1, max_frames)).astype(np.int64)
    streams = {name: None if getattr(seq, name) is None else np.asarray(getattr(seq, name))[idx]
               for name in ("body", "lhand", "rhand", "face", "joints")}
    return MotionSequence(**streams, shape=seq.shape, meta=dict(seq.meta))


class ProbeDataset(Dataset):
    """Item ``i`` = ``(features: stream -> (S, W) float32, label)`` of ``samples[i]``: cropped to its active
    window (through ``body_model``'s wrist joints at ``fps``), resampled to at most ``4 * cfg.max_steps``
    frames, encoded by the frozen encoders. Features are a pure function of the sample, so they are
    computed once and kept while the cache stays under ``cfg.feature_cache_mb``."""

    def __init__(self, samples: Sequence[MotionSequence], labels: np.ndarray, encoders: FrozenEncoders,
                 body_model, fps: float, cfg: SLRConfig):
        if len(samples) != len(labels):
            raise ValueError(f"{len(samples)} samples but {len(labels)} labels")
        self.samples, self.labels = samples, np.asarray(labels, dtype=np.int64)
        self.encoders, self.body_model, self.fps, self.cfg = encoders, body_model, float(fps), cfg
        self.windows: dict[int, tuple[int, int]] = {}
        self._cache: dict[int, dict[str, Tensor]] = {}
        self._cache_bytes = 0

    def __len__(self) -> int:
        return len(self.labels)

    def window(self, i: int, seq: MotionSequence | None = None) -> tuple[int, int]:
        """The active window ``[start, end)`` of sample ``i`` (computed once)."""
        if i not in self.windows:
            seq = self.samples[i] if seq is None else seq
            self.windows[i] = signing_window(self.body_model, seq, self.fps, self.cfg.window)
        return self.windows[i]

    def __getitem__(self, i: int) -> tuple[dict[str, Tensor], int]:
        i = int(i)
        if i in self._cache:
            return self._cache[i], int(self.labels[i])
        seq = self.samples[i]
        start, end = self.window(i, seq)
        feats = self.encoders.features(resample_frames(crop(seq, start, end), 4 * self.cfg.max_steps))
        size = sum(t.numel() * t.element_size() for t in feats.values())
        if self._cache_bytes + size <= self.cfg.feature_cache_mb * 2 ** 20:
            self._cache[i] = feats
            self._cache_bytes += size
        return feats, int(self.labels[i])


def collate(batch: list[tuple[dict[str, Tensor], int]]) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Pad a batch along token steps: ``(stream -> (B, S_max, W), mask (B, S_max) bool, labels (B,))``."""
    streams = list(batch[0][0])
    steps = [item[0][streams[0]].shape[0] for item in batch]
    s_max = max(steps)
    feats = {}
    for stream in streams:
        width = batch[0][0][stream].shape[1]
        out = torch.zeros(len(batch), s_max, width)
        for k, (f, _) in enumerate(batch):
            out[k, :steps[k]] = f[stream]
        feats[stream] = out
    mask = torch.arange(s_max)[None, :] < torch.as_tensor(steps)[:, None]
    labels = torch.as_tensor([label for _, label in batch], dtype=torch.int64)
    return feats, mask, labels

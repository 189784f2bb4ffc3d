"""What each tokenizer sees of a sample, and the random-crop training set.

Modality inputs (per frame): ``body`` = the body stream flattened (12×6 = 72); ``hand`` = each hand's
stream flattened (15×6 = 90), the left hand mirrored into the right-hand convention
(:func:`m3t_bench.motion.mirror_hand`) so that one model serves both hands; ``face`` = the 108-d face
stream. :func:`streams_from_outputs` undoes this (un-mirrors the left hand).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from m3t_bench.motion import STREAM_SHAPES, MotionSequence, mirror_hand

#: Streams each modality's tokenizer encodes (the hand tokenizer encodes both hands, one at a time).
MODALITY_STREAMS: dict[str, tuple[str, ...]] = {"body": ("body",), "hand": ("lhand", "rhand"), "face": ("face",)}
MODALITIES = tuple(MODALITY_STREAMS)
#: Streams stored in the model's own convention differently from disk (mirrored before encoding).
MIRRORED_STREAMS = ("lhand",)


def stream_to_input(stream: str, array: np.ndarray) -> np.ndarray:
    """One stream ``(T, *STREAM_SHAPES[stream])`` -> tokenizer input ``(T, C)`` float32 (left hand mirrored)."""
    array = np.asarray(array, dtype=np.float32)
    if stream in MIRRORED_STREAMS:
        array = mirror_hand(array)
    return array.reshape(array.shape[0], -1)


def input_to_stream(stream: str, array: np.ndarray) -> np.ndarray:
    """Inverse of :func:`stream_to_input`: ``(T, C)`` -> ``(T, *STREAM_SHAPES[stream])`` float32."""
    array = np.asarray(array, dtype=np.float32).reshape(-1, *STREAM_SHAPES[stream])
    return mirror_hand(array) if stream in MIRRORED_STREAMS else array


def modality_inputs(seq: MotionSequence, modality: str) -> dict[str, np.ndarray]:
    """The tokenizer inputs of one sample: stream name -> ``(T, C)`` float32."""
    return {s: stream_to_input(s, getattr(seq, s)) for s in MODALITY_STREAMS[modality]}


def streams_from_outputs(outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Decoder outputs (stream name -> ``(T, C)``) -> streams in the on-disk convention."""
    return {s: input_to_stream(s, a) for s, a in outputs.items()}


def training_arrays(sequences: Iterable[MotionSequence], modality: str) -> list[np.ndarray]:
    """Every ``(T, C)`` input of ``modality`` in ``sequences`` (two per sample for hands, left first)."""
    return [a for seq in sequences for a in modality_inputs(seq, modality).values()]


def normalisation_stats(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation ``(C,)`` (float64 accumulation) over all frames."""
    frames = np.concatenate(arrays, axis=0).astype(np.float64)
    return frames.mean(axis=0), frames.std(axis=0)


class CropDataset(Dataset):
    """Random ``window``-frame crops of normalised inputs.

    Item ``i`` of epoch ``e`` is a crop of ``arrays[i]`` starting at an offset drawn from
    ``np.random.default_rng([seed, e, i])``, so a crop depends on neither the process nor the loading
    order (single-process and DDP runs see the same crops). Sequences shorter than ``window`` are padded
    by repeating the last frame; the returned mask (1 = real frame) excludes the padding from the loss.
    Returns ``(x (window, C) float32, mask (window,) float32)``.
    """

    def __init__(self, arrays: list[np.ndarray], window: int, mean: np.ndarray, std: np.ndarray, *, seed: int = 0):
        self.arrays = [((np.asarray(a, np.float64) - mean) / std).astype(np.float32) for a in arrays]
        self.window, self.seed, self.epoch = int(window), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        arr = self.arrays[i]
        t = arr.shape[0]
        mask = np.ones(self.window, dtype=np.float32)
        if t >= self.window:
            start = int(np.random.default_rng([self.seed, self.epoch, i]).integers(0, t - self.window + 1))
            crop = arr[start:start + self.window]
        else:
            crop = np.concatenate([arr, np.repeat(arr[-1:], self.window - t, axis=0)])
            mask[t:] = 0.0
        return torch.from_numpy(np.ascontiguousarray(crop)), torch.from_numpy(mask)

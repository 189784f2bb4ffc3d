"""Samples <-> token streams with a tokenizer directory (``body/``, ``hand/``, ``face/`` checkpoints).

A token file ``<id>.npz`` holds int64 arrays ``body``, ``lhand``, ``rhand``, ``face``, each ``(ceil(T/4),)``
(indices into that modality's codebook; both hands use the hand codebook) and ``n_frames`` (``(1,)`` int64:
the original length ``T``, so decoding crops the ``4 * ceil(T/4)`` decoded frames back to ``T``).
Decoded 6D rotations (body, hands, jaw) are projected onto proper rotations (Gram–Schmidt) before writing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from m3t_bench.errors import UserError
from m3t_bench.fileio import sha256_file, staged_folder
from m3t_bench.motion.limits import MAX_FRAMES
from m3t_bench.motion import (
    MotionSequence, load_sample, matrix_to_rot6d, read_npz, rot6d_to_matrix, save_sample, write_npz,
)
from m3t_bench.motion.layout import FACE_JAW_6D, STREAMS
from reference_models.m3t.checkpoint import WEIGHTS_FILE, write_json_atomic
from reference_models.m3t.data import MODALITY_STREAMS, modality_inputs, streams_from_outputs
from reference_models.m3t.vae import MotionTokenizer

#: Modality whose tokenizer encodes each stream.
STREAM_MODALITY = {s: m for m, streams in MODALITY_STREAMS.items() for s in streams}
TOKENS_META = "tokens.json"


def iter_samples(data: str | Path, split: str | None = None) -> Iterator[tuple[str, MotionSequence]]:
    """``(id, sequence)`` for a dataset split (a folder with ``manifest.jsonl``, or a dataset folder plus
    ``split``) or for any folder of sample ``.npz`` files (ids = file stems, sorted)."""
    data = Path(data)
    if not data.is_dir():
        raise UserError("folder not found (expected a dataset split or a folder of sample .npz files)", file=data)
    if split is not None or (data / "manifest.jsonl").is_file():
        from m3t_bench.datasets import open_split
        sp = open_split(data, split)
        for sample_id in sp.ids:
            yield sample_id, sp.load(sample_id)
        return
    files = sorted(data.glob("*.npz"))
    if not files:
        raise UserError("holds no .npz samples", file=data)
    for path in files:
        yield path.stem, load_sample(path)


@torch.no_grad()
def tokenize_sequence(models: dict[str, MotionTokenizer], seq: MotionSequence) -> dict[str, np.ndarray]:
    """Token arrays of one sample: stream name -> ``(ceil(T/4),)`` int64, plus ``n_frames`` ``(1,)``."""
    out: dict[str, np.ndarray] = {"n_frames": np.asarray([seq.n_frames], dtype=np.int64)}
    for modality, model in models.items():
        for stream, x in modality_inputs(seq, modality).items():
            tokens = model.tokenize(torch.as_tensor(x, device=model.input_mean.device)[None])
            out[stream] = tokens[0].cpu().numpy().astype(np.int64)
    return out


def project_rotations(streams: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Replace every 6D rotation (body, hands, face jaw) by the nearest proper one (Gram–Schmidt)."""
    def fix(x: np.ndarray) -> np.ndarray:
        return matrix_to_rot6d(rot6d_to_matrix(torch.from_numpy(np.ascontiguousarray(x)))).numpy()
    out = {s: fix(a) if s in ("body", "lhand", "rhand") else a.copy() for s, a in streams.items()}
    if "face" in out:
        out["face"][:, FACE_JAW_6D] = fix(out["face"][:, FACE_JAW_6D])
    return out


TOKEN_ARRAYS = (*STREAMS, "n_frames")


def _token_header_check(name: str, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    """Token files hold 1-D integer arrays of at most ``MAX_FRAMES`` tokens and a one-value ``n_frames``
    (checked before reading)."""
    if name == "n_frames" and shape in ((), (1,)) and dtype.kind in "iu":
        return None
    if len(shape) != 1 or shape[0] > MAX_FRAMES or dtype.kind not in "iu":
        return f"shape {shape} dtype {dtype}; expected a 1-D integer array of at most {MAX_FRAMES} values"
    return None


def read_token_file(path: Path) -> dict[str, np.ndarray]:
    """The token arrays of one ``<id>.npz`` (headers checked before any data is read; other arrays ignored)."""
    return read_npz(path, expected=TOKEN_ARRAYS, check=_token_header_check)


def _check_distinct(src: Path, out: Path) -> None:
    if out.exists() and os.path.samefile(src, out):
        raise UserError("is the input folder; expected a separate output folder", file=out, field="--out")


def check_tokens(arrays: dict[str, np.ndarray], models: dict[str, MotionTokenizer], file: Path) -> int | None:
    """Validate a token file's arrays (presence, 1-D integers, equal lengths, codebook range); return
    ``n_frames`` (or None when absent). Raises :class:`UserError` naming the file and array."""
    lengths = set()
    for stream in STREAMS:
        if stream not in arrays:
            raise UserError(f"missing token array; expected {', '.join(STREAMS)}", file=file, field=stream)
        a = arrays[stream]
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer) or a.size == 0:
            raise UserError(f"shape {a.shape} dtype {a.dtype}; expected a non-empty 1-D integer array",
                            file=file, field=stream)
        size = models[STREAM_MODALITY[stream]].codebook_size
        if int(a.min()) < 0 or int(a.max()) >= size:
            raise UserError(f"token out of range [0, {size}) (min {int(a.min())}, max {int(a.max())})",
                            file=file, field=stream)
        lengths.add(a.size)
    if len(lengths) > 1:
        raise UserError(f"token streams differ in length ({sorted(lengths)}); expected one length", file=file)
    if "n_frames" not in arrays:
        return None
    n = arrays["n_frames"]
    t_tokens = lengths.pop()
    step = next(iter(models.values())).cfg.downsample
    low, high = step * (t_tokens - 1) + 1, step * t_tokens
    if n.size != 1 or n.ndim > 1 or not np.issubdtype(n.dtype, np.integer) or not low <= int(n.reshape(())) <= high:
        raise UserError(f"expected one integer in {low}..{high} for {t_tokens} tokens, got {n.tolist()!r}",
                        file=file, field="n_frames")
    return int(n.reshape(()))


@torch.no_grad()
def detokenize_arrays(models: dict[str, MotionTokenizer], tokens: dict[str, np.ndarray],
                      n_frames: int | None) -> MotionSequence:
    """Token arrays (stream -> ``(T',)``) -> a ``MotionSequence`` of ``n_frames`` (or ``4 T'``) frames."""
    outputs = {}
    for stream in STREAMS:
        model = models[STREAM_MODALITY[stream]]
        idx = torch.as_tensor(tokens[stream].astype(np.int64), device=model.input_mean.device)[None]
        outputs[stream] = model.detokenize(idx, n_frames)[0].cpu().numpy()
    return MotionSequence(**project_rotations(streams_from_outputs(outputs)))


def _weights_sha256(ckpt_dir: Path) -> dict[str, str]:
    return {m: sha256_file(ckpt_dir / m / WEIGHTS_FILE) for m in MODALITY_STREAMS}


def tokenize_folder(data: str | Path, ckpt_dir: str | Path, out: str | Path, models: dict[str, MotionTokenizer],
                    *, split: str | None = None) -> int:
    """Write ``out/<id>.npz`` token files for every sample of ``data`` and ``out/tokens.json``; returns the count.
    All or nothing: the files are staged in a temporary folder and moved into ``out`` only when every sample
    was tokenized (other files in ``out`` are kept)."""
    out = Path(out)
    if Path(data).is_dir():
        _check_distinct(Path(data), out)
    count = 0
    with staged_folder(out, replace=False) as tmp:
        for sample_id, seq in iter_samples(data, split):
            write_npz(tmp / f"{sample_id}.npz", tokenize_sequence(models, seq))
            count += 1
        write_json_atomic(tmp / TOKENS_META, {
            "tokenizers": str(ckpt_dir), "weights_sha256": _weights_sha256(Path(ckpt_dir)),
            "codebook_size": {m: models[m].codebook_size for m in models},
            "levels": {m: list(models[m].levels) for m in models}, "frames_per_token": models["body"].cfg.downsample,
        })
    return count


def detokenize_folder(tokens_dir: str | Path, out: str | Path, models: dict[str, MotionTokenizer]) -> int:
    """Write ``out/<id>.npz`` SMPL-FX samples decoded from every token file in ``tokens_dir``; returns the count.
    All or nothing: every token file is read and checked first, the samples are staged in a temporary folder
    and moved into ``out`` only when all decoded (other files in ``out`` are kept)."""
    tokens_dir, out = Path(tokens_dir), Path(out)
    if not tokens_dir.is_dir():
        raise UserError("folder not found (expected token .npz files)", file=tokens_dir)
    _check_distinct(tokens_dir, out)
    files = sorted(tokens_dir.glob("*.npz"))
    if not files:
        raise UserError("holds no token .npz files", file=tokens_dir)
    checked = []
    for path in files:
        arrays = read_token_file(path)
        checked.append((path, arrays, check_tokens(arrays, models, path)))
    with staged_folder(out, replace=False) as tmp:
        for path, arrays, n_frames in checked:
            save_sample(tmp / path.name, detokenize_arrays(models, arrays, n_frames))
    return len(files)

"""Tokenizer checkpoints: ``config.json`` (the config, modality, quantizer, levels, data hash, body model,
selection metric) + ``model.safetensors`` (weights and normalisation statistics). Loading never unpickles.

A *tokenizer directory* (``--ckpt-dir``) holds one checkpoint folder per modality: ``body/``, ``hand/``,
``face/`` — what ``m3t-bench train tokenizer --out DIR`` writes for each ``--modality``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write, atomic_write_text
from m3t_bench.safe_read import open_regular, read_json_object
from reference_models.m3t.config import TokenizerConfig
from reference_models.m3t.vae import MODALITY_CHANNELS, QUANTIZERS, MotionTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "m3t-tokenizer@1"
#: FSQ level sets: 1-8 channels of 2-1024 levels, at most this many codes (VQ: codes x vq_dim values).
MAX_LEVEL_CHANNELS, MAX_LEVELS, MAX_CODEBOOK = 8, 1024, 65536
MAX_VQ_CODEBOOK_VALUES = 1 << 24
#: Largest weights file read (a 500M-parameter float32 model plus buffers).
MAX_WEIGHTS_BYTES = 4 << 30


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON (sorted keys, no NaN/Infinity) through a temporary file and a rename."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def save_tensors_atomic(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """``safetensors`` file written through a temporary file and a rename (contiguous CPU copies)."""
    cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(cpu, tmp, metadata=metadata))


def read_json(path: Path) -> dict:
    """A JSON object from ``path`` (read through :mod:`m3t_bench.safe_read`: a regular file, bounded size and
    nesting); :class:`UserError` naming the file when missing or malformed."""
    return read_json_object(path)


def load_tensors(path: Path, *, max_bytes: int = MAX_WEIGHTS_BYTES) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (never unpickles): a regular file of at most ``max_bytes``; every
    floating tensor must be finite (NaN/Inf weights are refused, naming the tensor)."""
    with open_regular(path, max_bytes=max_bytes, what="safetensors weights file"):
        pass
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise UserError(f"not a readable safetensors file ({type(exc).__name__}: {exc})", file=path) from None
    for name, tensor in sorted(tensors.items()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise UserError(f"{bad} non-finite value(s) (NaN/Inf); expected finite weights", file=path, field=name)
    return tensors


def model_meta(model: MotionTokenizer) -> dict:
    """The architecture part of ``config.json``."""
    return {"format": FORMAT, "modality": model.modality, "quantizer": model.quantizer_kind,
            "levels": list(model.levels), "codebook_size": model.codebook_size, "config": model.cfg.to_dict()}


def save_tokenizer(model: MotionTokenizer, out_dir: str | Path, extra: dict | None = None,
                   *, weights_file: str = WEIGHTS_FILE) -> Path:
    """Write ``out_dir/config.json`` (architecture + ``extra``) and ``out_dir/<weights_file>``."""
    out_dir = Path(out_dir)
    save_tensors_atomic(out_dir / weights_file, model.state_dict(), {"format": FORMAT})
    write_json_atomic(out_dir / CONFIG_FILE, {**model_meta(model), **(extra or {})})
    return out_dir


def check_levels(levels, *, file: Path | None = None) -> tuple[int, ...]:
    """An FSQ level list from ``config.json``: 1-8 integers from 2 to 1024 with at most 65,536 codes."""
    if not isinstance(levels, list) or not 1 <= len(levels) <= MAX_LEVEL_CHANNELS \
            or any(isinstance(v, bool) or not isinstance(v, int) or not 2 <= v <= MAX_LEVELS for v in levels) \
            or math.prod(levels) > MAX_CODEBOOK:
        raise UserError(f"{levels!r:.80}; expected a list of 1-{MAX_LEVEL_CHANNELS} integers from 2 to {MAX_LEVELS} "
                        f"with at most {MAX_CODEBOOK:,} codes in all", file=file, field="levels")
    return tuple(levels)


def build_from_meta(meta: dict, *, file: Path | None = None) -> MotionTokenizer:
    """An untrained :class:`MotionTokenizer` with the architecture recorded in ``meta``; every field is
    checked against its bounds (:mod:`reference_models.m3t.config`) before anything is built."""
    if meta.get("format") != FORMAT:
        raise UserError(f"format {meta.get('format')!r:.80}, expected {FORMAT!r}", file=file, field="format")
    for key, allowed in (("modality", tuple(MODALITY_CHANNELS)), ("quantizer", QUANTIZERS)):
        if meta.get(key) not in allowed:
            raise UserError(f"{meta.get(key)!r:.80}; expected one of {', '.join(allowed)}", file=file, field=key)
    levels = check_levels(meta.get("levels"), file=file)
    if not isinstance(meta.get("config"), dict):
        raise UserError("missing or not a JSON object; expected the tokenizer configuration", file=file,
                        field="config")
    cfg = TokenizerConfig.from_dict(meta["config"], file=file)
    if meta["quantizer"] == "vq" and math.prod(levels) * cfg.vq_dim > MAX_VQ_CODEBOOK_VALUES:
        raise UserError(f"a VQ codebook of {math.prod(levels):,} x {cfg.vq_dim} values; expected at most "
                        f"{MAX_VQ_CODEBOOK_VALUES:,}", file=file, field="config")
    try:
        return MotionTokenizer(meta["modality"], cfg, quantizer=meta["quantizer"], levels=levels)
    except (KeyError, ValueError, TypeError) as exc:
        raise UserError(f"invalid tokenizer description ({exc})", file=file) from None


def load_tokenizer(ckpt: str | Path, *, device: str | torch.device = "cpu",
                   weights_file: str = WEIGHTS_FILE) -> tuple[MotionTokenizer, dict]:
    """``(model in eval mode on device, config.json contents)`` from one checkpoint folder."""
    ckpt = Path(ckpt)
    meta = read_json(ckpt / CONFIG_FILE)
    model = build_from_meta(meta, file=ckpt / CONFIG_FILE)
    expected_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    state = load_tensors(ckpt / weights_file, max_bytes=expected_bytes + (1 << 20))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"weights do not match the recorded architecture ({first})", file=ckpt / weights_file) from None
    return model.to(device).eval(), meta


def load_tokenizer_dir(ckpt_dir: str | Path, modalities=("body", "hand", "face"), *,
                       device: str | torch.device = "cpu") -> dict[str, MotionTokenizer]:
    """One tokenizer per modality from ``ckpt_dir/<modality>/``."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        raise UserError("tokenizer directory not found (expected body/, hand/, face/ checkpoints)", file=ckpt_dir)
    models = {}
    for modality in modalities:
        model, meta = load_tokenizer(ckpt_dir / modality, device=device)
        if meta["modality"] != modality:
            raise UserError(f"holds a {meta['modality']!r} tokenizer, expected {modality!r}",
                            file=ckpt_dir / modality / CONFIG_FILE, field="modality")
        models[modality] = model
    return models

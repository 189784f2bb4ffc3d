"""Tokenizer checkpoints: ``config.json`` (the config, modality, quantizer, levels, data hash, body model,
selection metric) + ``model.safetensors`` (weights and normalisation statistics). Loading never unpickles.

A *tokenizer directory* (``--ckpt-dir``) holds one checkpoint folder per modality: ``body/``, ``hand/``,
``face/`` — what ``m3t-bench train tokenizer --out DIR`` writes for each ``--modality``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write, atomic_write_text
from reference_models.m3t.config import TokenizerConfig
from reference_models.m3t.vae import MotionTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "m3t-tokenizer@1"


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON (sorted keys, no NaN/Infinity) through a temporary file and a rename."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def save_tensors_atomic(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """``safetensors`` file written through a temporary file and a rename (contiguous CPU copies)."""
    cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(cpu, tmp, metadata=metadata))


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; :class:`UserError` naming the file when missing or malformed."""
    if not path.is_file():
        raise UserError("file not found", file=path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"not valid JSON ({exc})", file=path) from None
    if not isinstance(data, dict):
        raise UserError("expected a JSON object", file=path)
    return data


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (never unpickles)."""
    if not path.is_file():
        raise UserError("file not found (expected safetensors weights)", file=path)
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise UserError(f"not a readable safetensors file ({type(exc).__name__}: {exc})", file=path) from None


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


def build_from_meta(meta: dict, *, file: Path | None = None) -> MotionTokenizer:
    """An untrained :class:`MotionTokenizer` with the architecture recorded in ``meta``."""
    if meta.get("format") != FORMAT:
        raise UserError(f"format {meta.get('format')!r}, expected {FORMAT!r}", file=file, field="format")
    try:
        cfg = TokenizerConfig.from_dict(meta["config"], file=file)
        return MotionTokenizer(meta["modality"], cfg, quantizer=meta["quantizer"], levels=tuple(meta["levels"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise UserError(f"invalid tokenizer description ({exc})", file=file) from None


def load_tokenizer(ckpt: str | Path, *, device: str | torch.device = "cpu",
                   weights_file: str = WEIGHTS_FILE) -> tuple[MotionTokenizer, dict]:
    """``(model in eval mode on device, config.json contents)`` from one checkpoint folder."""
    ckpt = Path(ckpt)
    meta = read_json(ckpt / CONFIG_FILE)
    model = build_from_meta(meta, file=ckpt / CONFIG_FILE)
    state = load_tensors(ckpt / weights_file)
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

"""SMLM checkpoint folders: everything ``generate`` needs, nothing pickled.

::

    CKPT/config.json            format, SMLMConfig, backbone MBartConfig, vocabulary layout, tokenizer hashes,
                                data provenance, seed, parameter count, selection record (best epoch, val DTW-JPE)
    CKPT/model.safetensors      weights of the selected (best) epoch
    CKPT/text.model, text.json  the text tokenizer (sentencepiece model, kind, languages, pruning)
    CKPT/tokenizers/<modality>/ config.json + model.safetensors of the frozen FSQ-VAE tokenizers (copied in,
                                so the folder is self-contained)

Training adds ``last.safetensors``, ``optimizer.safetensors`` and ``train_state.json`` (for ``--resume``),
``curves.csv``/``curves.png`` and ``token_cache/``. The backbone's encoder and decoder share its text
embedding table; the shared tensor is stored once (under ``backbone.shared.weight``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write, sha256_file
from reference_models.m3t.checkpoint import (
    CONFIG_FILE, WEIGHTS_FILE, load_tensors, load_tokenizer_dir, read_json, save_tensors_atomic, write_json_atomic,
)
from reference_models.m3t.smlm import SignMotionLM, SMLMConfig
from reference_models.m3t.smlm_text import TextTokenizer
from reference_models.m3t.smlm_vocab import Vocabulary

FORMAT = "m3t-smlm@1"
TOKENIZER_DIR = "tokenizers"
TOKENIZER_MODALITIES = ("body", "hand", "face")
#: Aliases of ``backbone.shared.weight`` in the state dict (not stored; tied again on load).
TIED_KEYS = frozenset({"backbone.encoder.embed_tokens.weight", "backbone.decoder.embed_tokens.weight"})


def model_state(model: SignMotionLM) -> dict[str, torch.Tensor]:
    """The model's tensors without the tied aliases."""
    return {k: v for k, v in model.state_dict().items() if k not in TIED_KEYS}


def load_model_state(model: SignMotionLM, state: dict[str, torch.Tensor], *, file: Path) -> None:
    """Load ``state`` (as :func:`model_state` gives it) into ``model``; UserError on any mismatch."""
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise UserError(f"weights do not match the recorded architecture ({str(exc).splitlines()[0]})",
                        file=file) from None
    if set(missing) - TIED_KEYS or unexpected:
        raise UserError(f"weights do not match the recorded architecture (missing {sorted(set(missing) - TIED_KEYS)[:3]}, "
                        f"unexpected {sorted(unexpected)[:3]})", file=file)


def tokenizer_hashes(tokenizer_dir: Path) -> dict[str, str]:
    """sha256 of each modality's tokenizer weights."""
    return {m: sha256_file(Path(tokenizer_dir) / m / WEIGHTS_FILE) for m in TOKENIZER_MODALITIES}


def copy_tokenizers(src: Path, dst: Path) -> None:
    """Put each modality's ``config.json`` and ``model.safetensors`` from ``src`` into ``dst`` (hard link
    when possible, else a copy; atomic per file)."""
    for modality in TOKENIZER_MODALITIES:
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            source, target = Path(src) / modality / name, Path(dst) / modality / name
            if target.exists() and sha256_file(target) == sha256_file(source):
                continue

            def write(tmp: Path, source=source) -> None:
                tmp.unlink()
                try:
                    os.link(source, tmp)
                except OSError:
                    shutil.copyfile(source, tmp)
            atomic_write(target, write)


def build_model(meta: dict, *, file: Path) -> SignMotionLM:
    """An untrained model with the architecture recorded in a checkpoint's ``config.json``."""
    from transformers import MBartConfig, MBartModel
    if meta.get("format") != FORMAT:
        raise UserError(f"format {meta.get('format')!r}, expected {FORMAT!r}", file=file, field="format")
    cfg = SMLMConfig.from_dict(meta.get("config", {}), file=file)
    vocab = Vocabulary.from_dict(meta.get("vocabulary", {}), file=file)
    try:
        backbone = MBartModel(MBartConfig.from_dict(meta["backbone"]))
        return SignMotionLM(cfg, vocab, backbone)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"invalid backbone description ({exc})", file=file, field="backbone") from None


def save_smlm(model: SignMotionLM, text: TextTokenizer, out_dir: Path, extra: dict) -> None:
    """Write the selected weights, ``config.json`` and the text tokenizer into ``out_dir``."""
    out_dir = Path(out_dir)
    save_tensors_atomic(out_dir / WEIGHTS_FILE, model_state(model), {"format": FORMAT})
    text.save(out_dir)
    write_json_atomic(out_dir / CONFIG_FILE, {"format": FORMAT, "config": model.cfg.to_dict(),
                                              "backbone": model.backbone.config.to_dict(),
                                              "vocabulary": model.vocab.to_dict(), **extra})


@dataclass
class LoadedSMLM:
    """A checkpoint ready for generation: the model (eval mode), its text tokenizer, the frozen tokenizers
    (modality -> ``MotionTokenizer``), ``config.json`` and the default generation length."""

    model: SignMotionLM
    text: TextTokenizer
    tokenizers: dict
    meta: dict

    @property
    def default_max_len(self) -> int:
        """Twice the longest training sequence, within the config's motion cap."""
        longest = int(self.meta.get("max_train_tokens") or self.model.cfg.max_motion_tokens)
        return max(1, min(self.model.cfg.max_motion_tokens, 2 * longest))


def load_smlm(ckpt: str | Path, *, device: str | torch.device = "cpu", weights_file: str = WEIGHTS_FILE) -> LoadedSMLM:
    """Load a checkpoint folder (see the module docstring)."""
    ckpt = Path(ckpt)
    if not ckpt.is_dir():
        raise UserError("checkpoint folder not found (expected what `m3t-bench train smlm --out` wrote)", file=ckpt)
    meta = read_json(ckpt / CONFIG_FILE)
    model = build_model(meta, file=ckpt / CONFIG_FILE)
    load_model_state(model, load_tensors(ckpt / weights_file), file=ckpt / weights_file)
    text = TextTokenizer.load(ckpt)
    if text.size != model.vocab.n_text:
        raise UserError(f"text tokenizer has {text.size} ids, the model {model.vocab.n_text}", file=ckpt / "text.json")
    tokenizers = load_tokenizer_dir(ckpt / TOKENIZER_DIR, device=device)
    recorded = meta.get("tokenizers", {})
    for modality, digest in tokenizer_hashes(ckpt / TOKENIZER_DIR).items():
        if recorded.get(modality, {}).get("sha256") != digest:
            raise UserError("tokenizer weights differ from those the model was trained with",
                            file=ckpt / TOKENIZER_DIR / modality / WEIGHTS_FILE)
    return LoadedSMLM(model=model.to(device).eval(), text=text, tokenizers=tokenizers, meta=meta)

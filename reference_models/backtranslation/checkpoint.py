"""The back-translation checkpoint folder: everything that determines the model's outputs, hashed.

    DIR/config.json         format, BTConfig, feature size, the dataset's language and text tokenisation, gloss source
    DIR/text_vocab.json     text vocabulary (specials first)
    DIR/gloss_vocab.json    gloss vocabulary (CTC blank first)
    DIR/model.safetensors   weights (BatchNorm running statistics included)
    DIR/manifest.json       kind, format, name, the sha256 of each file above, the content hash, and the
                            training provenance (dataset id/version/split/manifest sha256, config, seed,
                            history, toolkit and package versions)

The *content hash* is the sha256 over the lines ``<file name>\\0<file sha256>\\n`` of the four files above in
name order; any changed weight, vocabulary entry or setting changes it. Loading recomputes every file hash
and the content hash and refuses (:class:`UserError`, one line naming the file) a missing, modified or unreadable
file. Nothing is unpickled (JSON + safetensors). A folder is written to a temporary sibling and
renamed into place, so an interrupted run leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from m3t_bench.errors import UserError
from m3t_bench.fileio import sha256_file, staged_folder
from m3t_bench.motion import FRAME_DIM
from m3t_bench.safe_read import MAX_JSON_BYTES, exists, read_json_object
from reference_models.backtranslation.config import BTConfig, check_parameter_count
from reference_models.backtranslation.model import BackTranslationTransformer
from reference_models.backtranslation.text import (
    GLOSS_SOURCES, GLOSS_SPECIALS, MAX_VOCAB_BYTES, TEXT_SPECIALS, TOKENIZATIONS, Vocabulary,
)
from reference_models.m3t.checkpoint import MAX_WEIGHTS_BYTES, load_tensors

KIND = "slt"  # the name of this model's entry point in the ``m3t_bench.backtranslators`` group
FORMAT = "m3t-bt-slt@1"
MANIFEST_FILE = "manifest.json"
CONFIG_FILE = "config.json"
TEXT_VOCAB_FILE = "text_vocab.json"
GLOSS_VOCAB_FILE = "gloss_vocab.json"
WEIGHTS_FILE = "model.safetensors"
HASHED_FILES = (CONFIG_FILE, GLOSS_VOCAB_FILE, WEIGHTS_FILE, TEXT_VOCAB_FILE)
MAX_NAME_CHARS = 64
#: Largest file of each kind read from a checkpoint folder (checked before it is hashed or read).
MAX_FILE_BYTES = {CONFIG_FILE: MAX_JSON_BYTES, GLOSS_VOCAB_FILE: MAX_VOCAB_BYTES, TEXT_VOCAB_FILE: MAX_VOCAB_BYTES,
                  WEIGHTS_FILE: MAX_WEIGHTS_BYTES}
#: ``config.json``'s ``dataset`` fields: short printable strings (the version may be an integer).
DATASET_FIELDS = ("name", "version", "language", "text_tokenization")


def content_hash(file_hashes: dict[str, str]) -> str:
    """sha256 over ``<name>\\0<sha256>\\n`` lines of the hashed files in name order."""
    digest = hashlib.sha256()
    for name in sorted(file_hashes):
        digest.update(f"{name}\0{file_hashes[name]}\n".encode())
    return digest.hexdigest()


@dataclass
class BTCheckpoint:
    """A loaded checkpoint: the model (eval mode), its vocabularies, ``config.json``, ``manifest.json``."""

    model: BackTranslationTransformer
    text_vocab: Vocabulary
    gloss_vocab: Vocabulary
    meta: dict
    manifest: dict

    @property
    def cfg(self) -> BTConfig:
        return self.model.cfg

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def content_hash(self) -> str:
        return str(self.manifest["content_hash"])


def model_meta(cfg: BTConfig, dataset: dict, gloss_source: str) -> dict:
    """``config.json``: ``dataset`` holds ``name``, ``version``, ``language``, ``text_tokenization``."""
    return {"format": FORMAT, "config": cfg.to_dict(), "feature_dim": FRAME_DIM, "gloss_source": gloss_source,
            "dataset": {k: dataset[k] for k in ("name", "version", "language", "text_tokenization")}}


def _json_text(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def check_name(name: str, *, file: Path | None = None) -> str:
    """A model name usable in signatures and file names: 1-64 letters, digits, ``.``, ``_``, ``-``."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS \
            or not all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in name):
        raise UserError(f"model name {name!r:.80}; expected 1-{MAX_NAME_CHARS} letters, digits, '.', '_' or '-'",
                        file=file, field="name" if file else "--name")
    return name


def save_checkpoint(out_dir: str | Path, model: BackTranslationTransformer, text_vocab: Vocabulary,
                    gloss_vocab: Vocabulary, meta: dict, *, name: str, training: dict) -> Path:
    """Write the checkpoint folder (see the module doc) through a temporary sibling folder; returns it."""
    out_dir = Path(out_dir)
    with staged_folder(out_dir, replace=True) as tmp:
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        (tmp / CONFIG_FILE).write_text(_json_text(meta), encoding="utf-8")
        (tmp / TEXT_VOCAB_FILE).write_text(text_vocab.to_json(), encoding="utf-8")
        (tmp / GLOSS_VOCAB_FILE).write_text(gloss_vocab.to_json(), encoding="utf-8")
        files = {f: sha256_file(tmp / f) for f in HASHED_FILES}
        manifest = {"kind": KIND, "format": FORMAT, "name": check_name(name), "content_hash": content_hash(files),
                    "files": files, "config": meta["config"], "training": training}
        (tmp / MANIFEST_FILE).write_text(_json_text(manifest), encoding="utf-8")
    return out_dir


def verify_checkpoint(ckpt_dir: str | Path) -> dict:
    """Check the folder against its manifest (every file present, each sha256 and the content hash as
    recorded) and return the manifest; :class:`UserError` naming the first problem's file otherwise."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        raise UserError("back-translation model folder not found", file=ckpt_dir)
    manifest = read_json_object(ckpt_dir / MANIFEST_FILE, what="back-translation model manifest")
    if manifest.get("format") != FORMAT:
        raise UserError(f"format {manifest.get('format')!r:.80}; expected {FORMAT!r}", file=ckpt_dir / MANIFEST_FILE,
                        field="format")
    files = manifest.get("files")
    if not isinstance(files, dict) or sorted(files) != sorted(HASHED_FILES):
        raise UserError(f"expected the sha256 of {', '.join(HASHED_FILES)}", file=ckpt_dir / MANIFEST_FILE,
                        field="files")
    for name in HASHED_FILES:
        path = ckpt_dir / name
        if not exists(path):
            raise UserError("file missing (listed in manifest.json)", file=path)
        if sha256_file(path, max_bytes=MAX_FILE_BYTES[name], what=f"checkpoint file {name}") != files[name]:
            raise UserError("content differs from the sha256 recorded in manifest.json (modified or corrupted); "
                            "expected the file as written by `m3t-bench train bt`", file=path)
    if manifest.get("content_hash") != content_hash(files):
        raise UserError("content_hash does not match the recorded file hashes", file=ckpt_dir / MANIFEST_FILE,
                        field="content_hash")
    check_name(manifest.get("name", ""), file=ckpt_dir / MANIFEST_FILE)
    return manifest


def check_meta(meta: dict, *, file: Path) -> None:
    """``config.json``'s own fields (format, gloss source, feature width, dataset strings); UserError naming the
    field otherwise. The ``config`` object is checked by :meth:`BTConfig.from_dict`."""
    if meta.get("format") != FORMAT:
        raise UserError(f"format {meta.get('format')!r:.80}; expected {FORMAT!r}", file=file, field="format")
    if meta.get("gloss_source") not in GLOSS_SOURCES:
        raise UserError(f"{meta.get('gloss_source')!r:.80}; expected one of {', '.join(GLOSS_SOURCES)}", file=file,
                        field="gloss_source")
    if meta.get("feature_dim") != FRAME_DIM:
        raise UserError(f"{meta.get('feature_dim')!r:.80}; expected {FRAME_DIM}", file=file, field="feature_dim")
    dataset = meta.get("dataset")
    if not isinstance(dataset, dict):
        raise UserError("missing or not a JSON object; expected the training dataset's name, version, language "
                        "and text_tokenization", file=file, field="dataset")
    for key in DATASET_FIELDS:
        value = dataset.get(key)
        if key == "version" and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, str) or not value.isprintable() or not 1 <= len(value) <= 128:
            raise UserError(f"{value!r:.80}; expected 1-128 printable characters", file=file, field=f"dataset.{key}")
    if dataset["text_tokenization"] not in TOKENIZATIONS:
        raise UserError(f"{dataset['text_tokenization']!r:.80}; expected one of {', '.join(TOKENIZATIONS)}",
                        file=file, field="dataset.text_tokenization")


def load_checkpoint(ckpt_dir: str | Path, *, device: str | torch.device = "cpu") -> BTCheckpoint:
    """Verify (:func:`verify_checkpoint`) then load a checkpoint folder; the model is in eval mode."""
    ckpt_dir = Path(ckpt_dir)
    manifest = verify_checkpoint(ckpt_dir)
    meta = read_json_object(ckpt_dir / CONFIG_FILE, what="back-translation model config")
    check_meta(meta, file=ckpt_dir / CONFIG_FILE)
    cfg = BTConfig.from_dict(meta.get("config"), file=ckpt_dir / CONFIG_FILE)
    text_vocab = Vocabulary.read(ckpt_dir / TEXT_VOCAB_FILE, TEXT_SPECIALS)
    gloss_vocab = Vocabulary.read(ckpt_dir / GLOSS_VOCAB_FILE, GLOSS_SPECIALS)
    try:
        check_parameter_count(cfg, len(text_vocab), len(gloss_vocab))
    except ValueError as exc:
        raise UserError(str(exc), file=ckpt_dir / CONFIG_FILE, field="config") from None
    model = BackTranslationTransformer(cfg, len(text_vocab), len(gloss_vocab))
    expected_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    state = load_tensors(ckpt_dir / WEIGHTS_FILE, max_bytes=expected_bytes + (1 << 20))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UserError(f"weights do not match the recorded architecture ({str(exc).splitlines()[0]})",
                        file=ckpt_dir / WEIGHTS_FILE) from None
    return BTCheckpoint(model=model.to(device).eval(), text_vocab=text_vocab, gloss_vocab=gloss_vocab, meta=meta,
                        manifest=manifest)

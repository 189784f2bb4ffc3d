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
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from m3t_bench.errors import UserError
from m3t_bench.fileio import sha256_file
from m3t_bench.motion import FRAME_DIM
from reference_models.backtranslation.config import BTConfig
from reference_models.backtranslation.model import BackTranslationTransformer
from reference_models.backtranslation.text import GLOSS_SOURCES, GLOSS_SPECIALS, TEXT_SPECIALS, Vocabulary

KIND = "slt"  # the name of this model's entry point in the ``m3t_bench.backtranslators`` group
FORMAT = "m3t-bt-slt@1"
MANIFEST_FILE = "manifest.json"
CONFIG_FILE = "config.json"
TEXT_VOCAB_FILE = "text_vocab.json"
GLOSS_VOCAB_FILE = "gloss_vocab.json"
WEIGHTS_FILE = "model.safetensors"
HASHED_FILES = (CONFIG_FILE, GLOSS_VOCAB_FILE, WEIGHTS_FILE, TEXT_VOCAB_FILE)


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


def check_name(name: str) -> str:
    """A model name usable in signatures and file names: letters, digits, ``.``, ``_``, ``-``."""
    if not name or not all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in name):
        raise UserError(f"model name {name!r}; expected letters, digits, '.', '_' or '-'", field="--name")
    return name


def save_checkpoint(out_dir: str | Path, model: BackTranslationTransformer, text_vocab: Vocabulary,
                    gloss_vocab: Vocabulary, meta: dict, *, name: str, training: dict) -> Path:
    """Write the checkpoint folder (see the module doc) through a temporary sibling folder; returns it."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        (tmp / CONFIG_FILE).write_text(_json_text(meta), encoding="utf-8")
        (tmp / TEXT_VOCAB_FILE).write_text(text_vocab.to_json(), encoding="utf-8")
        (tmp / GLOSS_VOCAB_FILE).write_text(gloss_vocab.to_json(), encoding="utf-8")
        files = {f: sha256_file(tmp / f) for f in HASHED_FILES}
        manifest = {"kind": KIND, "format": FORMAT, "name": check_name(name), "content_hash": content_hash(files),
                    "files": files, "config": meta["config"], "training": training}
        (tmp / MANIFEST_FILE).write_text(_json_text(manifest), encoding="utf-8")
        _usual_permissions(tmp)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _usual_permissions(folder: Path) -> None:
    """Folder and files readable as any newly created ones are (temporary folders start private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for path in folder.iterdir():
        os.chmod(path, 0o666 & ~umask)


def _replace_dir(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``: the old folder is moved aside first and removed after the rename."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_json_object(path: Path) -> dict:
    """A JSON object from ``path``; :class:`UserError` naming the file when missing or malformed."""
    if not path.is_file():
        raise UserError("file not found", file=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"not valid UTF-8 JSON ({exc})", file=path) from None
    if not isinstance(data, dict):
        raise UserError("expected a JSON object", file=path)
    return data


def verify_checkpoint(ckpt_dir: str | Path) -> dict:
    """Check the folder against its manifest (every file present, each sha256 and the content hash as
    recorded) and return the manifest; :class:`UserError` naming the first problem's file otherwise."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        raise UserError("back-translation model folder not found", file=ckpt_dir)
    manifest = read_json_object(ckpt_dir / MANIFEST_FILE)
    if manifest.get("format") != FORMAT:
        raise UserError(f"format {manifest.get('format')!r}; expected {FORMAT!r}", file=ckpt_dir / MANIFEST_FILE,
                        field="format")
    files = manifest.get("files")
    if not isinstance(files, dict) or sorted(files) != sorted(HASHED_FILES):
        raise UserError(f"expected the sha256 of {', '.join(HASHED_FILES)}", file=ckpt_dir / MANIFEST_FILE,
                        field="files")
    for name in HASHED_FILES:
        path = ckpt_dir / name
        if not path.is_file():
            raise UserError("file missing (listed in manifest.json)", file=path)
        if sha256_file(path) != files[name]:
            raise UserError("content differs from the sha256 recorded in manifest.json (modified or corrupted); "
                            "expected the file as written by `m3t-bench train bt`", file=path)
    if manifest.get("content_hash") != content_hash(files):
        raise UserError("content_hash does not match the recorded file hashes", file=ckpt_dir / MANIFEST_FILE,
                        field="content_hash")
    check_name(str(manifest.get("name", "")))
    return manifest


def load_checkpoint(ckpt_dir: str | Path, *, device: str | torch.device = "cpu") -> BTCheckpoint:
    """Verify (:func:`verify_checkpoint`) then load a checkpoint folder; the model is in eval mode."""
    ckpt_dir = Path(ckpt_dir)
    manifest = verify_checkpoint(ckpt_dir)
    meta = read_json_object(ckpt_dir / CONFIG_FILE)
    if meta.get("format") != FORMAT or meta.get("gloss_source") not in GLOSS_SOURCES \
            or meta.get("feature_dim") != FRAME_DIM:
        raise UserError(f"expected format {FORMAT!r}, a gloss_source and feature_dim {FRAME_DIM}",
                        file=ckpt_dir / CONFIG_FILE)
    cfg = BTConfig.from_dict(meta.get("config"), file=ckpt_dir / CONFIG_FILE)
    text_vocab = Vocabulary.read(ckpt_dir / TEXT_VOCAB_FILE, TEXT_SPECIALS)
    gloss_vocab = Vocabulary.read(ckpt_dir / GLOSS_VOCAB_FILE, GLOSS_SPECIALS)
    try:
        state = load_file(str(ckpt_dir / WEIGHTS_FILE))
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise UserError(f"not a readable safetensors file ({type(exc).__name__}: {exc})",
                        file=ckpt_dir / WEIGHTS_FILE) from None
    model = BackTranslationTransformer(cfg, len(text_vocab), len(gloss_vocab))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UserError(f"weights do not match the recorded architecture ({str(exc).splitlines()[0]})",
                        file=ckpt_dir / WEIGHTS_FILE) from None
    return BTCheckpoint(model=model.to(device).eval(), text_vocab=text_vocab, gloss_vocab=gloss_vocab, meta=meta,
                        manifest=manifest)

"""SLR probe checkpoints: ``config.json`` + ``model.safetensors`` (the trainable head only; loading never
unpickles).

The frozen encoders are not copied: ``config.json`` names the tokenizer directory and the sha256 of each
modality's ``model.safetensors``, and loading refuses a tokenizer whose weights differ. It also records the
probe config (with the active-window thresholds), the streams, the class list, the body model the windows
were found with, the data, how the validation part was drawn and the training history.
"""

from __future__ import annotations

from pathlib import Path

from m3t_bench.datasets.nmfs import NmfsClass
from m3t_bench.errors import UserError
from m3t_bench.fileio import sha256_file
from reference_models.m3t.checkpoint import (
    CONFIG_FILE, WEIGHTS_FILE, load_tensors, load_tokenizer_dir, read_json, save_tensors_atomic, write_json_atomic,
)
from reference_models.m3t.slr import STREAM_MODALITY, SLRConfig, SLRHead
from reference_models.m3t.vae import MotionTokenizer

FORMAT = "m3t-slr@1"


def tokenizer_identity(tokenizer_dir: str | Path, modalities: tuple[str, ...]) -> dict:
    """``{"dir": absolute path, "sha256": {modality: sha256 of its model.safetensors}}``."""
    tokenizer_dir = Path(tokenizer_dir).resolve()
    for m in modalities:
        if not (tokenizer_dir / m / WEIGHTS_FILE).is_file():
            raise UserError(f"no {m} tokenizer weights (expected a tokenizer directory with body/, hand/, face/ "
                            f"checkpoints)", file=tokenizer_dir / m / WEIGHTS_FILE)
    return {"dir": str(tokenizer_dir),
            "sha256": {m: sha256_file(tokenizer_dir / m / WEIGHTS_FILE) for m in modalities}}


def class_records(classes: list[NmfsClass]) -> list[dict]:
    return [{"class_id": c.class_id, "gloss": c.gloss, "group": c.group, "confusing": c.confusing} for c in classes]


def classes_from_records(records: list[dict], *, file: Path | None = None) -> list[NmfsClass]:
    try:
        return [NmfsClass(int(r["class_id"]), str(r["gloss"]), r["group"], bool(r["confusing"])) for r in records]
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"malformed class list in the checkpoint ({exc})", file=file, field="classes") from None


def save_probe(out_dir: str | Path, head: SLRHead, meta: dict) -> Path:
    """Write ``out_dir/model.safetensors`` (head weights) and ``out_dir/config.json`` (architecture + ``meta``)."""
    out_dir = Path(out_dir)
    save_tensors_atomic(out_dir / WEIGHTS_FILE, head.state_dict(), {"format": FORMAT})
    write_json_atomic(out_dir / CONFIG_FILE, {**meta, "format": FORMAT, "config": head.cfg.to_dict(),
                                              "streams": list(head.streams), "n_classes": head.n_classes})
    return out_dir


def load_probe(ckpt: str | Path, *, device="cpu") -> tuple[SLRHead, dict]:
    """``(head in eval mode on device, config.json contents)``."""
    ckpt = Path(ckpt)
    meta = read_json(ckpt / CONFIG_FILE)
    file = ckpt / CONFIG_FILE
    if meta.get("format") != FORMAT:
        raise UserError(f"format {meta.get('format')!r}, expected {FORMAT!r} (an SLR probe checkpoint)", file=file,
                        field="format")
    try:
        cfg = SLRConfig.from_dict(meta["config"], file=file)
        head = SLRHead(cfg, tuple(meta["streams"]), {m: int(w) for m, w in meta["widths"].items()},
                       int(meta["n_classes"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"invalid probe description ({exc})", file=file) from None
    try:
        head.load_state_dict(load_tensors(ckpt / WEIGHTS_FILE), strict=True)
    except RuntimeError as exc:
        raise UserError(f"weights do not match the recorded architecture ({str(exc).splitlines()[0]})",
                        file=ckpt / WEIGHTS_FILE) from None
    return head.to(device).eval(), meta


def load_probe_tokenizers(meta: dict, tokenizer_dir: str | Path | None = None, *,
                          device="cpu") -> dict[str, MotionTokenizer]:
    """The tokenizers a probe was trained on (from ``tokenizer_dir`` or the recorded directory); UserError
    when a modality's weights differ from the recorded sha256."""
    modalities = tuple(sorted({STREAM_MODALITY[s] for s in meta["streams"]}))
    recorded = meta["tokenizer"]
    directory = Path(tokenizer_dir if tokenizer_dir is not None else recorded["dir"])
    if not directory.is_dir():
        raise UserError("tokenizer directory not found (pass --tokenizer DIR with the tokenizers the probe was "
                        "trained on)", file=directory)
    current = tokenizer_identity(directory, modalities)["sha256"]
    for m in modalities:
        if current[m] != recorded["sha256"].get(m):
            raise UserError(f"{m} tokenizer weights differ from the ones the probe was trained on (sha256 "
                            f"{current[m][:12]}…, checkpoint records {str(recorded['sha256'].get(m))[:12]}…)",
                            file=directory / m / WEIGHTS_FILE, field="sha256")
    return load_tokenizer_dir(directory, modalities, device=device)

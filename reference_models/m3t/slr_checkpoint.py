"""SLR probe checkpoints: ``config.json`` + ``model.safetensors`` (the trainable head only; loading never
unpickles).

The frozen encoders are not copied: ``config.json`` names the tokenizer directory and the sha256 of each
modality's ``model.safetensors``, and loading refuses a tokenizer whose weights differ. It also records the
probe config (with the active-window thresholds), the streams, the class list, the body model the windows
were found with, the data, how the validation part was drawn and the training history.
"""

from __future__ import annotations

import re
from pathlib import Path

from m3t_bench.datasets.nmfs import NmfsClass
from m3t_bench.errors import UserError
from m3t_bench.fileio import sha256_file
from reference_models.m3t.checkpoint import (
    CONFIG_FILE, WEIGHTS_FILE, load_tensors, load_tokenizer_dir, read_json, save_tensors_atomic, write_json_atomic,
)
from reference_models.m3t.slr import STREAM_MODALITY, STREAM_ORDER, SLRConfig, SLRHead, check_parameter_count
from reference_models.m3t.vae import MotionTokenizer

FORMAT = "m3t-slr@1"
#: Bounds of a probe checkpoint's own fields (NMFs-CSL has 1,067 classes; encoder widths are at most 4096).
MAX_CLASSES, MAX_WIDTH, MAX_TEXT_CHARS = 1_000_000, 4096, 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: ``config.json`` fields ``eval slr`` reads (``train slr`` records them).
EVALUATION_FIELDS = ("modalities", "classes", "tokenizer", "body_model")


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
        classes = [NmfsClass(int(r["class_id"]), str(r["gloss"]), r["group"], bool(r["confusing"])) for r in records]
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"malformed class list in the checkpoint ({exc})", file=file, field="classes") from None
    for c in classes:
        if not c.gloss.isprintable() or len(c.gloss) > MAX_TEXT_CHARS \
                or not (c.group is None or isinstance(c.group, str) and c.group.isprintable()):
            raise UserError(f"class {c.class_id}: gloss {c.gloss!r:.60} / group {c.group!r:.60}; expected printable "
                            f"text of at most {MAX_TEXT_CHARS} characters", file=file, field="classes")
    return classes


def check_probe_meta(meta: dict, *, file: Path) -> None:
    """The fields of a probe's ``config.json`` that loading uses (format, streams, widths, class count, config)
    and, when recorded, those evaluation uses (modalities, classes, tokenizer identity, body model: see
    :func:`check_evaluation_fields`) checked against their bounds before anything is built; :class:`UserError`
    naming the field otherwise."""
    if meta.get("format") != FORMAT:
        raise UserError(f"format {meta.get('format')!r:.80}, expected {FORMAT!r} (an SLR probe checkpoint)",
                        file=file, field="format")
    streams, modalities = meta.get("streams"), meta.get("modalities")
    if not isinstance(streams, list) or not streams or len(set(streams)) != len(streams) \
            or any(st not in STREAM_ORDER for st in streams):
        raise UserError(f"{streams!r:.80}; expected a non-empty list of distinct streams from {', '.join(STREAM_ORDER)}",
                        file=file, field="streams")
    needed = sorted({STREAM_MODALITY[st] for st in streams})
    if "modalities" in meta and (not isinstance(modalities, list) or sorted(set(modalities)) != needed
                                 or len(modalities) != len(needed)):
        raise UserError(f"{modalities!r:.80}; expected the modalities of the streams, {needed}", file=file,
                        field="modalities")
    widths = meta.get("widths")
    if not isinstance(widths, dict) or any(not _int_in(widths.get(m), 1, MAX_WIDTH) for m in needed):
        raise UserError(f"{widths!r:.80}; expected the feature width (1-{MAX_WIDTH}) of each of {needed}", file=file,
                        field="widths")
    n_classes = meta.get("n_classes")
    if not _int_in(n_classes, 1, MAX_CLASSES):
        raise UserError(f"{n_classes!r:.40}; expected an integer from 1 to {MAX_CLASSES:,}", file=file,
                        field="n_classes")
    if "classes" in meta and (not isinstance(meta["classes"], list) or len(meta["classes"]) != n_classes):
        raise UserError(f"expected a list of {n_classes} class records", file=file, field="classes")
    tokenizer = meta.get("tokenizer")
    sha = tokenizer.get("sha256") if isinstance(tokenizer, dict) else None
    if "tokenizer" in meta and (not isinstance(tokenizer, dict) or not isinstance(tokenizer.get("dir"), str)
                                or not isinstance(sha, dict)
                                or any(not isinstance(sha.get(m), str) or not _SHA256.fullmatch(sha[m]) for m in needed)):
        raise UserError("expected {\"dir\": the tokenizer directory, \"sha256\": {modality: sha256 hex}}", file=file,
                        field="tokenizer")
    if "body_model" in meta and (not isinstance(meta["body_model"], str) or not meta["body_model"].isprintable()
                                 or len(meta["body_model"]) > MAX_TEXT_CHARS):
        raise UserError(f"{meta.get('body_model')!r:.80}; expected the body model id", file=file, field="body_model")
    if not isinstance(meta.get("config"), dict):
        raise UserError("missing or not a JSON object; expected the probe configuration", file=file, field="config")


def check_evaluation_fields(meta: dict, *, file: Path) -> None:
    """:class:`UserError` unless ``config.json`` records what ``eval slr`` needs beyond the head (written by
    ``train slr``); their values were checked by :func:`check_probe_meta`."""
    missing = [k for k in EVALUATION_FIELDS if k not in meta]
    if missing:
        raise UserError(f"no {', '.join(missing)}; expected a probe checkpoint written by `m3t-bench train slr`",
                        file=file)


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


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
    file = ckpt / CONFIG_FILE
    meta = read_json(file)
    check_probe_meta(meta, file=file)
    cfg = SLRConfig.from_dict(meta["config"], file=file)
    widths = {m: meta["widths"][m] for m in sorted({STREAM_MODALITY[st] for st in meta["streams"]})}
    try:
        check_parameter_count(cfg, widths, meta["n_classes"])
        head = SLRHead(cfg, tuple(meta["streams"]), widths, meta["n_classes"])
    except ValueError as exc:
        raise UserError(f"invalid probe description ({exc})", file=file) from None
    expected_bytes = sum(t.numel() * t.element_size() for t in head.state_dict().values())
    state = load_tensors(ckpt / WEIGHTS_FILE, max_bytes=expected_bytes + (1 << 20))
    try:
        head.load_state_dict(state, strict=True)
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

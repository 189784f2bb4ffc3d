"""The on-disk layout of a dataset split (DESIGN §2) and its reader/writer.

::

    <root>/<dataset-name>/<split>/
        manifest.jsonl    one JSON object per line: id, text, gloss, signer, language, fps, n_frames,
                          sha256 (of the sample file), plus dataset-specific extras (label, group, ...)
        dataset.json      name, version, split, spec, body_model_id ("none": parameters only),
                          manifest_sha256, card (which fields are present/converted/absent), generator
        <id>.npz          one sample per id (m3t_bench.motion contract)

Writing is deterministic (sorted keys, fixed separators, UTF-8, no timestamps or absolute paths), so the
same content gives byte-identical manifests and the same ``manifest_sha256``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from m3t_bench.datasets.specs import DatasetSpec
from m3t_bench.errors import UserError
from m3t_bench.safe_read import exists
from m3t_bench.fileio import atomic_write_text, sha256_file
from m3t_bench.motion import MotionSequence, save_sample
from m3t_bench.motion.limits import MAX_FRAMES
from m3t_bench.motion.sequence import read_sample
from m3t_bench.safe_read import decode_utf8, parse_json, read_bytes, read_json_object

MANIFEST = "manifest.jsonl"
CARD = "dataset.json"
REQUIRED_FIELDS = ("id", "text", "gloss", "signer", "language", "fps", "n_frames")
#: Manifest fields that must be strings (the others: ``fps`` a number, ``n_frames`` an integer).
TEXT_FIELDS = ("id", "text", "gloss", "signer", "language")
LAYOUT_VERSION = 1
#: A sample id names a file: no '/', '\\' or NUL, not starting with '.', printable, at most this many bytes
#: in UTF-8 (file names may have 255; ``.npz`` and temporary-file affixes take the rest).
MAX_ID_BYTES = 200
MANIFEST_MAX_BYTES = 256 << 20
_ID_RE = re.compile(r"[^./\\\x00][^/\\\x00]*")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def check_sample_id(sample_id: str) -> str:
    """Return ``sample_id`` if it can name a file (no '/', '\\', not starting with '.', printable — no
    newline or other control character —, at most ``MAX_ID_BYTES`` bytes), else UserError."""
    if not isinstance(sample_id, str) or not _ID_RE.fullmatch(sample_id) or not sample_id.isprintable() \
            or len(sample_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise UserError(f"sample id {sample_id!r:.120} cannot be a file name (expected 1-{MAX_ID_BYTES} bytes of "
                        f"printable UTF-8 without '/', '\\', control characters or a leading '.')", field="id")
    return sample_id


class SplitWriter:
    """Writes one split folder: :meth:`add` saves a sample and records its manifest row, :meth:`close`
    writes ``manifest.jsonl`` then ``dataset.json``.

    ``card`` documents the fields: ``{"present": [...], "converted": {...}, "absent": [...]}``.
    """

    def __init__(self, split_dir: str | Path, spec: DatasetSpec, split: str, *, body_model_id: str = "none",
                 card: dict | None = None, generator: dict | None = None):
        self.dir = Path(split_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.spec, self.split = spec, spec.canonical_split(split)
        self.body_model_id, self.card, self.generator = body_model_id, card or {}, generator
        self.entries: list[dict] = []
        self._ids: set[str] = set()

    def add(self, sample_id: str, seq: MotionSequence, *, text: str, gloss: str, signer: str, **extra) -> dict:
        """Save ``seq`` as ``<id>.npz`` and append its manifest row (extras must be JSON values)."""
        check_sample_id(sample_id)
        if sample_id in self._ids:
            raise UserError(f"duplicate sample id {sample_id!r}", file=self.dir, field="id")
        self._ids.add(sample_id)
        path = save_sample(self.dir / f"{sample_id}.npz", seq)
        entry = {"id": sample_id, "text": text, "gloss": gloss, "signer": signer,
                 "language": self.spec.language, "fps": self.spec.fps, "n_frames": seq.n_frames,
                 "sha256": sha256_file(path), **extra}
        self.entries.append(entry)
        return entry

    def close(self) -> Path:
        """Write the manifest and the dataset card; return the split folder."""
        manifest = "".join(_dumps(e) + "\n" for e in self.entries)
        atomic_write_text(self.dir / MANIFEST, manifest)
        card = {"name": self.spec.name, "version": self.spec.version, "split": self.split,
                "layout_version": LAYOUT_VERSION, "spec": self.spec.to_json(),
                "body_model_id": self.body_model_id, "n_samples": len(self.entries),
                "manifest_sha256": hashlib.sha256(manifest.encode("utf-8")).hexdigest(), "card": self.card}
        if self.generator is not None:
            card["generator"] = self.generator
        atomic_write_text(self.dir / CARD, json.dumps(card, ensure_ascii=False, sort_keys=True, indent=2) + "\n")
        return self.dir


@dataclass
class Split:
    """One opened split. ``entries`` are the manifest rows (dicts with at least ``REQUIRED_FIELDS``).

    Iterating yields the entries; :meth:`items` yields ``(entry, MotionSequence)`` pairs.
    """

    spec: DatasetSpec
    split: str
    root: Path
    entries: list[dict]
    manifest_sha256: str
    body_model_id: str
    card: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    #: Sample files are read only when they resolve inside the split folder, unless this is set.
    allow_outside_links: bool = False

    def __post_init__(self):
        self._by_id = {e["id"]: e for e in self.entries}

    @property
    def ids(self) -> list[str]:
        """Sample ids in manifest order."""
        return [e["id"] for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.entries)

    def entry(self, sample_id: str) -> dict:
        """The manifest row of ``sample_id`` (UserError if the split has no such id)."""
        if sample_id not in self._by_id:
            raise UserError(f"no sample {sample_id!r} in this split", file=self.root / MANIFEST, field="id")
        return self._by_id[sample_id]

    def path(self, sample_id: str) -> Path:
        """Path of the sample file of ``sample_id``."""
        return self.root / f"{self.entry(sample_id)['id']}.npz"

    def load(self, sample_id: str, *, check_hash: bool = True) -> MotionSequence:
        """Read and validate one sample; checks its sha256 (when the manifest has one) and ``n_frames``
        (the file's array headers are checked against ``n_frames`` before any data is read). The file must
        be a regular file resolving inside the split folder (unless ``allow_outside_links``).

        ``meta`` of the returned sequence holds the manifest row.
        """
        entry, path = self.entry(sample_id), self.path(sample_id)
        if not exists(path):
            raise UserError("sample file listed in the manifest is missing", file=path)
        links = self.links_policy()
        if check_hash and "sha256" in entry and sha256_file(path, links=links, root=self.root) != entry["sha256"]:
            raise UserError("file content changed since the manifest was written (sha256 mismatch); "
                            "regenerate or re-convert the split", file=path, field="sha256")
        seq = read_sample(path, max_frames=entry["n_frames"], links=links, root=self.root,
                          too_long=lambda n: f"has {n} frames, the manifest says {entry['n_frames']}")
        seq.validate(file=path)
        if seq.n_frames != entry["n_frames"]:
            raise UserError(f"has {seq.n_frames} frames, the manifest says {entry['n_frames']}",
                            file=path, field="n_frames")
        seq.meta = dict(entry)
        return seq

    def links_policy(self) -> str:
        """The :mod:`m3t_bench.safe_read` symbolic-link policy of this split's sample files."""
        return "follow" if self.allow_outside_links else "inside"

    def items(self) -> Iterator[tuple[dict, MotionSequence]]:
        """``(entry, sequence)`` for every sample, in manifest order."""
        for e in self.entries:
            yield e, self.load(e["id"])


#: dataset.json fields that must be present, with their JSON types.
CARD_FIELDS = {"name": str, "version": int, "split": str, "manifest_sha256": str, "body_model_id": str}


def read_card(split_dir: Path, *, links: str = "inside") -> dict:
    """Parse ``dataset.json`` of a split folder (UserError naming the file on any problem; ``links``: the
    symbolic-link policy of :mod:`m3t_bench.safe_read`, relative to the split folder)."""
    path = split_dir / CARD
    if not exists(path):
        raise UserError("dataset card missing (expected dataset.json beside manifest.jsonl)", file=path)
    card = read_json_object(path, links=links, root=split_dir, what="dataset card (JSON object)")
    for key, kind in CARD_FIELDS.items():
        if key not in card:
            raise UserError("missing field; expected the fields written by m3t-bench", file=path, field=key)
        if not isinstance(card[key], kind) or isinstance(card[key], bool):
            raise UserError(f"got {type(card[key]).__name__}; expected a JSON {kind.__name__}", file=path, field=key)
    if "card" in card and not isinstance(card["card"], dict):
        raise UserError(f"got {type(card['card']).__name__}; expected a JSON object", file=path, field="card")
    return card


def entry_problem(entry: dict) -> str | None:
    """The first problem with one manifest row's required fields (types, id, frame count), or None."""
    missing = [k for k in REQUIRED_FIELDS if k not in entry]
    if missing:
        return f"missing field(s) {', '.join(missing)}; expected {', '.join(REQUIRED_FIELDS)}"
    for key in TEXT_FIELDS:
        if not isinstance(entry[key], str):
            return f"{key}: got {type(entry[key]).__name__}; expected a string"
    try:
        check_sample_id(entry["id"])
    except UserError as exc:
        return f"id: {exc.detail}"
    n = entry["n_frames"]
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_FRAMES:
        return f"n_frames: {n!r:.40}, expected an integer from 1 to {MAX_FRAMES}"
    fps = entry["fps"]
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        return f"fps: {fps!r:.40}, expected a positive number"
    if "sha256" in entry and not (isinstance(entry["sha256"], str) and _SHA256_RE.fullmatch(entry["sha256"])):
        return f"sha256: {entry['sha256']!r:.80}, expected 64 lower-case hex digits"
    return None


def read_manifest(split_dir: Path, *, links: str = "inside") -> tuple[list[dict], str]:
    """Parse ``manifest.jsonl``; return ``(entries, sha256 of its bytes)``. Checks required fields and ids."""
    path = split_dir / MANIFEST
    if not exists(path):
        raise UserError("manifest missing (expected manifest.jsonl in the split folder)", file=path)
    raw = read_bytes(path, max_bytes=MANIFEST_MAX_BYTES, links=links, root=split_dir, what="manifest (JSON lines)")
    text = decode_utf8(raw, file=path, what="UTF-8 JSON lines")
    entries: list[dict] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        entry = parse_json(line, file=path, field=f"line {lineno}")
        if not isinstance(entry, dict):
            raise UserError("expected a JSON object per line", file=path, field=f"line {lineno}")
        problem = entry_problem(entry)
        if problem:
            raise UserError(problem, file=path, field=f"line {lineno}")
        if entry["id"] in seen:
            raise UserError(f"duplicate id {entry['id']!r}", file=path, field=f"line {lineno}: id")
        seen.add(entry["id"])
        entries.append(entry)
    return entries, hashlib.sha256(raw).hexdigest()

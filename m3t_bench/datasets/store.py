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
from m3t_bench.fileio import atomic_write_text, sha256_file
from m3t_bench.motion import MotionSequence, load_sample, save_sample

MANIFEST = "manifest.jsonl"
CARD = "dataset.json"
REQUIRED_FIELDS = ("id", "text", "gloss", "signer", "language", "fps", "n_frames")
LAYOUT_VERSION = 1
_ID_RE = re.compile(r"^[^./\\\x00][^/\\\x00]*$")


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def check_sample_id(sample_id: str) -> str:
    """Return ``sample_id`` if it can name a file (no '/', '\\', not starting with '.'), else UserError."""
    if not isinstance(sample_id, str) or not _ID_RE.match(sample_id):
        raise UserError(f"sample id {sample_id!r} cannot be a file name (no '/', '\\', leading '.' or empty)",
                        field="id")
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
        """Read and validate one sample; checks its sha256 (when the manifest has one) and ``n_frames``.

        ``meta`` of the returned sequence holds the manifest row.
        """
        entry, path = self.entry(sample_id), self.path(sample_id)
        if not path.is_file():
            raise UserError("sample file listed in the manifest is missing", file=path)
        if check_hash and "sha256" in entry and sha256_file(path) != entry["sha256"]:
            raise UserError("file content changed since the manifest was written (sha256 mismatch); "
                            "regenerate or re-convert the split", file=path, field="sha256")
        seq = load_sample(path)
        if seq.n_frames != entry["n_frames"]:
            raise UserError(f"has {seq.n_frames} frames, the manifest says {entry['n_frames']}",
                            file=path, field="n_frames")
        seq.meta = dict(entry)
        return seq

    def items(self) -> Iterator[tuple[dict, MotionSequence]]:
        """``(entry, sequence)`` for every sample, in manifest order."""
        for e in self.entries:
            yield e, self.load(e["id"])


def read_card(split_dir: Path) -> dict:
    """Parse ``dataset.json`` of a split folder (UserError naming the file on any problem)."""
    path = split_dir / CARD
    if not path.is_file():
        raise UserError("dataset card missing (expected dataset.json beside manifest.jsonl)", file=path)
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"not valid JSON ({exc})", file=path) from None
    for key in ("name", "version", "split", "manifest_sha256", "body_model_id"):
        if key not in card:
            raise UserError("missing field; expected the fields written by m3t-bench", file=path, field=key)
    return card


def read_manifest(split_dir: Path) -> tuple[list[dict], str]:
    """Parse ``manifest.jsonl``; return ``(entries, sha256 of its bytes)``. Checks required fields and ids."""
    path = split_dir / MANIFEST
    if not path.is_file():
        raise UserError("manifest missing (expected manifest.jsonl in the split folder)", file=path)
    raw = path.read_bytes()
    entries: list[dict] = []
    seen: set[str] = set()
    for lineno, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"not valid JSON ({exc.msg})", file=path, field=f"line {lineno}") from None
        if not isinstance(entry, dict):
            raise UserError("expected a JSON object per line", file=path, field=f"line {lineno}")
        missing = [k for k in REQUIRED_FIELDS if k not in entry]
        if missing:
            raise UserError(f"missing field(s) {', '.join(missing)}; expected {', '.join(REQUIRED_FIELDS)}",
                            file=path, field=f"line {lineno}")
        try:
            check_sample_id(entry["id"])
        except UserError as exc:
            raise UserError(exc.detail, file=path, field=f"line {lineno}: id") from None
        if entry["id"] in seen:
            raise UserError(f"duplicate id {entry['id']!r}", file=path, field=f"line {lineno}: id")
        if not isinstance(entry["n_frames"], int) or entry["n_frames"] < 1:
            raise UserError(f"n_frames {entry['n_frames']!r}, expected a positive integer", file=path,
                            field=f"line {lineno}: n_frames")
        seen.add(entry["id"])
        entries.append(entry)
    return entries, hashlib.sha256(raw).hexdigest()

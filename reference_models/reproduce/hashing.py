"""Digests that decide whether a stage must run: a folder's content digest and a stage's key.

A stage's key is the sha256 of its name, its code version, the config fields it reads and the content
digests of its input stages' folders. A finished stage whose key is unchanged and whose folder still has the
digest recorded when it finished is skipped.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from m3t_bench.fileio import sha256_file

#: Files of a stage folder that are not part of its outputs (its own bookkeeping).
RECORD_FILE = ".stage.json"
KEY_FILE = ".stage-key"
BOOKKEEPING = frozenset({RECORD_FILE, KEY_FILE})


def canonical_json(data) -> str:
    """Key-sorted compact JSON: the same data always gives the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def folder_digest(folder: Path) -> str:
    """sha256 over ``relative path NUL file sha256 LF`` of every regular file under ``folder`` (sorted, the
    stage bookkeeping files left out): equal for equal content, whatever the timestamps."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(folder).as_posix()
        if rel in BOOKKEEPING:
            continue
        h.update(f"{rel}\0{sha256_file(path)}\n".encode())
    return h.hexdigest()


def stage_key(name: str, version: int, params: dict, input_digests: dict[str, str]) -> str:
    """The key of one stage run (see the module docstring)."""
    payload = {"stage": name, "version": version, "params": params, "inputs": input_digests}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()

"""The submission format and its validator.

A submission is a folder holding one ``<sample_id>.npz`` per sample of the scored split and, optionally,
``meta.json``. Each ``.npz`` holds either the four SMPL-FX streams (``body``, ``lhand``, ``rhand``,
``face``; see :mod:`m3t_bench.motion`) or, for skeleton-only systems, ``joints`` alone: ``(T, 42, 3)``
float32 in metres, in the order of the body model's ``joint_names`` (``SMPLFX.joint_names``). A folder
is one kind or the other, never a mix. The number of frames ``T`` is the system's own choice (DTW aligns
it to the reference) but must be between 1 and ``MAX_LENGTH_FACTOR`` times the reference length.

``meta.json`` (all optional but ``system``)::

    {"system": "my-slp", "paper": "Author et al. 2025, Title", "url": "https://...", "params": 123456789}

``params`` is the number of trainable parameters (a non-negative integer) or ``null``; the strings are one
line of printable text (``system`` at most 200 characters, ``paper`` and ``url`` at most 2,000).

:func:`check_submission` reports *every* problem at once, one line each, as
``<file>: <field>: <problem; expectation>``, and never loads a pickled array. Every entry must be a regular
file of the folder itself: symbolic links are refused (a link could point at the split's hidden reference
files), and so is a file that *is* one of the reference files (a hard link). Array headers are checked
before any data is read (at most ``MAX_LENGTH_FACTOR`` times the reference length), so an archive that
inflates to gigabytes is refused without being inflated.

:func:`write_submission` writes such a folder, all or nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from m3t_bench.errors import UserError, ValidationFailed
from m3t_bench.motion import MotionSequence
from m3t_bench.motion.limits import MAX_FRAMES
from m3t_bench.motion.sequence import read_sample
from m3t_bench.safe_read import read_json
from m3t_bench.fileio import atomic_write_text, staged_folder
from m3t_bench.motion import save_sample

#: A prediction longer than this many times its reference is refused as absurd.
MAX_LENGTH_FACTOR = 10
#: Number of joints a skeleton-only prediction must give (the SMPL-FX model's ``joint_names``).
N_MODEL_JOINTS = 42
META_FILE = "meta.json"
META_MAX_BYTES = 1 << 20
#: Longest accepted meta.json string per key (characters).
META_MAX_CHARS = {"system": 200, "paper": 2000, "url": 2000}
#: meta.json keys -> (accepted JSON types, description of the expectation).
META_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "system": ((str,), "a non-empty string naming the system"),
    "paper": ((str, type(None)), "a citation string or null"),
    "url": ((str, type(None)), "a URL string or null"),
    "params": ((int, type(None)), "the number of trainable parameters (integer >= 0) or null"),
}
STREAMS_KIND = "streams"
JOINTS_KIND = "joints"


@dataclass
class Submission:
    """A validated submission: ``samples`` maps id -> :class:`MotionSequence` (all streams, or joints only)."""

    root: Path
    kind: str  # STREAMS_KIND or JOINTS_KIND
    samples: dict[str, MotionSequence]
    meta: dict = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return sorted(self.samples)


def default_meta(root: Path) -> dict:
    """The meta used when a submission has no ``meta.json``: the folder name as system name."""
    return {"system": root.resolve().name, "paper": None, "url": None, "params": None}


def meta_problems(meta, file: str) -> list[str]:
    """Problems with a parsed ``meta.json`` object, one line each (empty when valid)."""
    if not isinstance(meta, dict):
        return [f"{file}: (top level): got {type(meta).__name__}; expected a JSON object with keys "
                f"{', '.join(META_FIELDS)}"]
    out = []
    for key in sorted(set(meta) - set(META_FIELDS)):
        out.append(f"{file}: {key}: unknown key; expected only {', '.join(META_FIELDS)}")
    if "system" not in meta:
        out.append(f"{file}: system: missing; expected {META_FIELDS['system'][1]}")
    for key, (types, want) in META_FIELDS.items():
        if key not in meta:
            continue
        value = meta[key]
        bad = not isinstance(value, types) or isinstance(value, bool)
        bad = bad or (key == "system" and not value.strip()) or (key == "params" and value is not None and value < 0)
        if bad:
            out.append(f"{file}: {key}: got {value!r:.200}; expected {want}")
        elif isinstance(value, str) and (not value.isprintable() or len(value) > META_MAX_CHARS[key]):
            out.append(f"{file}: {key}: got {value!r:.200} ({len(value)} characters); expected one line of "
                       f"printable text of at most {META_MAX_CHARS[key]} characters")
    return out


def read_meta(root: Path) -> tuple[dict, list[str]]:
    """Read ``root/meta.json`` -> (meta with defaults filled in, problems)."""
    path = root / META_FILE
    meta = default_meta(root)
    if not os.path.lexists(path):
        return meta, []
    try:
        parsed = read_json(path, max_bytes=META_MAX_BYTES, links="refuse", what="UTF-8 JSON object")
    except UserError as exc:
        return meta, [f"{path}: (file): {exc.detail}"]
    problems = meta_problems(parsed, str(path))
    if not problems:
        meta.update(parsed)
    return meta, problems


def _sample_problems(path: Path, seq: MotionSequence, ref_frames: int) -> list[str]:
    problems = [f"{path}: {p}" for p in seq.problems(require_streams=False)]
    if seq.has_streams and seq.joints is not None:
        problems.append(f"{path}: joints: present together with the SMPL-FX streams; expected the streams "
                        f"alone or 'joints' alone")
    if not seq.has_streams and seq.joints is not None and seq.joints.ndim == 3 \
            and seq.joints.shape[1] != N_MODEL_JOINTS:
        problems.append(f"{path}: joints: {seq.joints.shape[1]} joints; expected {N_MODEL_JOINTS} in the order "
                        f"of the SMPL-FX model's joint_names")
    n = seq.n_frames
    if n > MAX_LENGTH_FACTOR * ref_frames:
        problems.append(f"{path}: (length): {_too_long(n, ref_frames)}")
    return problems


def _too_long(n: int, ref_frames: int) -> str:
    return (f"{n} frames is more than {MAX_LENGTH_FACTOR}x the reference's {ref_frames}; expected at most "
            f"{min(MAX_LENGTH_FACTOR * ref_frames, MAX_FRAMES)}")


def _same_file(path: Path, others: list[os.stat_result]) -> bool:
    st = path.stat()
    return any(st.st_ino == o.st_ino and st.st_dev == o.st_dev for o in others)


def check_submission(root: str | Path, expected: Mapping[str, int], *,
                     reference_files: Mapping[str, str | Path] | None = None) -> Submission:
    """Validate a submission folder against the split's ids and reference lengths, and load it.

    ``expected`` maps every sample id of the split to its reference number of frames; ``reference_files``
    (optional) maps ids to the split's reference sample files, which a prediction must not be (hard links).
    Raises :class:`ValidationFailed` listing every problem, one line each, or returns the loaded
    :class:`Submission`. Arrays are read without unpickling; pickled arrays are refused.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError("not a folder; expected a folder of <sample_id>.npz predictions", file=root)
    meta, problems = read_meta(root)
    files = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    references = [os.stat(p) for p in (reference_files or {}).values() if os.path.exists(p)]
    samples: dict[str, MotionSequence] = {}
    for path in files:
        if path.name == META_FILE:
            continue
        if path.is_symlink():
            problems.append(f"{path}: (file): symbolic link; refused (expected a regular file in the submission "
                            f"folder itself)")
            continue
        if path.suffix != ".npz" or not path.is_file():
            problems.append(f"{path}: (file): unexpected entry; expected only <sample_id>.npz files and "
                            f"{META_FILE}")
            continue
        sample_id = path.stem
        if sample_id not in expected:
            problems.append(f"{path}: (id): {sample_id!r} is not in the split; expected one file per split id")
            continue
        if _same_file(path, references):
            problems.append(f"{path}: (file): is the split's own reference file (a hard link); expected the "
                            f"system's prediction")
            continue
        ref_frames = int(expected[sample_id])
        try:
            seq = read_sample(path, max_frames=min(MAX_LENGTH_FACTOR * ref_frames, MAX_FRAMES),
                              too_long=lambda n, r=ref_frames: _too_long(n, r), links="refuse")
        except UserError as exc:
            problems.append(f"{exc.file}: {exc.field or '(file)'}: {exc.detail}")
            continue
        sample_problems = _sample_problems(path, seq, ref_frames)
        problems += sample_problems
        if not sample_problems:
            samples[sample_id] = seq
    for sample_id in sorted(set(expected) - {p.stem for p in files if p.suffix == ".npz"}):
        problems.append(f"{root / (sample_id + '.npz')}: (file): missing; expected a prediction for every "
                        f"split id")
    kinds = {sid: (STREAMS_KIND if s.has_streams else JOINTS_KIND) for sid, s in samples.items()}
    if len(set(kinds.values())) > 1:
        by_kind = {k: sorted(i for i, v in kinds.items() if v == k) for k in (STREAMS_KIND, JOINTS_KIND)}
        problems.append(f"{root}: (kind): mixed submission: {len(by_kind[STREAMS_KIND])} file(s) with SMPL-FX "
                        f"streams (e.g. {by_kind[STREAMS_KIND][0]}.npz) and {len(by_kind[JOINTS_KIND])} with "
                        f"joints only (e.g. {by_kind[JOINTS_KIND][0]}.npz); expected one kind for all files")
    if problems:
        raise ValidationFailed(problems)
    kind = next(iter(kinds.values()), STREAMS_KIND)
    return Submission(root=root, kind=kind, samples=samples, meta=meta)


def write_submission(out_dir: str | Path, predictions: dict[str, MotionSequence], *, system: str,
                     paper: str | None = None, url: str | None = None, params: int | None = None) -> Path:
    """Write ``<id>.npz`` for every prediction plus ``meta.json`` into a fresh ``out_dir``; return it.

    Streams only (no ``joints``, no ``shape``): the scorer uses the reference shape for both sides. All or
    nothing: the new submission is written into a temporary folder that replaces ``out_dir`` (a previous
    submission) only when complete.
    """
    out_dir = Path(out_dir)
    if out_dir.is_dir():
        foreign = [p.name for p in out_dir.iterdir() if p.suffix != ".npz" and p.name != META_FILE]
        if foreign:
            raise UserError(f"folder holds other files ({', '.join(sorted(foreign)[:3])}); expected a new or "
                            f"a previous submission folder", file=out_dir)
    with staged_folder(out_dir, replace=True) as tmp:
        for sample_id, seq in sorted(predictions.items()):
            save_sample(tmp / f"{sample_id}.npz", MotionSequence(**seq.streams()))
        meta = {"system": system, "paper": paper, "url": url, "params": params}
        atomic_write_text(tmp / META_FILE, json.dumps(meta, sort_keys=True, indent=2) + "\n")
    return out_dir


def predictions_sha256(root: str | Path, ids: list[str]) -> str:
    """sha256 over the sorted prediction files: for each, its name, a NUL, its byte length, a NUL, its bytes."""
    digest = hashlib.sha256()
    for sample_id in sorted(ids):
        data = (Path(root) / f"{sample_id}.npz").read_bytes()
        digest.update(f"{sample_id}.npz\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


__all__ = ["MAX_LENGTH_FACTOR", "META_FIELDS", "META_FILE", "N_MODEL_JOINTS", "Submission", "check_submission",
           "default_meta", "meta_problems", "predictions_sha256", "read_meta", "write_submission"]

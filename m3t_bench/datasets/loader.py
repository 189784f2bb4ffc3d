"""Finding and opening splits by registered name or by path, and verifying them file by file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from m3t_bench.datasets.specs import DatasetSpec, get_spec, is_registered
from m3t_bench.datasets.store import CARD, MANIFEST, Split, read_card, read_manifest
from m3t_bench.fileio import sha256_file
from m3t_bench.errors import UserError
from m3t_bench.motion import load_sample

DATA_ROOT_ENV = "M3T_DATA_ROOT"


def default_data_root(data_root: str | Path | None = None) -> Path:
    """``data_root`` if given, else ``$M3T_DATA_ROOT``, else ``./data``."""
    if data_root is not None:
        return Path(data_root)
    return Path(os.environ.get(DATA_ROOT_ENV, "data"))


def add_data_root_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-root DIR`` (where registered dataset names are looked up) to a command's parser."""
    parser.add_argument("--data-root", type=Path, default=None, metavar="DIR",
                        help=f"folder holding <dataset>/<split>/ for registered dataset names (default: "
                             f"${DATA_ROOT_ENV}, else ./data)")


def _spec_from_card(card: dict, card_path: Path) -> DatasetSpec:
    name = f"{card['name']}@{card['version']}"
    if is_registered(name):
        return get_spec(name)
    if "spec" not in card:
        raise UserError(f"dataset {name!r} is not registered and its card holds no spec", file=card_path,
                        field="spec")
    return DatasetSpec.from_json(card["spec"], file=card_path)


def resolve_split_dir(name_or_path: str | Path, split: str | None, *,
                      data_root: str | Path | None = None) -> Path:
    """The split folder meant by a registered name (``<root>/<name>/<split>``), a dataset folder
    (``DIR/<split>``) or a split folder (holding ``manifest.jsonl``)."""
    path = Path(name_or_path)
    if path.is_dir():
        if (path / MANIFEST).is_file() or (path / CARD).is_file():
            return path
        if split is None:
            raise UserError("is a dataset folder; name the split (--split)", file=path)
        candidates = [s for s in {split, *_alias_candidates(split)} if (path / s / MANIFEST).is_file()]
        if not candidates:
            subs = sorted(p.name for p in path.iterdir() if (p / MANIFEST).is_file())
            raise UserError(f"no split {split!r} here (expected {split}/{MANIFEST}); found: "
                            f"{', '.join(subs) or 'no split folders'}", file=path)
        return path / sorted(candidates)[0]
    if not is_registered(str(name_or_path)) and ("/" in str(name_or_path) or os.sep in str(name_or_path)):
        raise UserError("folder not found (expected a dataset or split folder, or a registered dataset name)",
                        file=path)
    spec = get_spec(str(name_or_path))
    if split is None:
        raise UserError(f"name the split of {spec.id} ({', '.join(spec.splits)})", field="split")
    root = default_data_root(data_root)
    split_dir = root / spec.name / spec.canonical_split(split)
    if not (split_dir / MANIFEST).is_file():
        raise UserError(f"{spec.id} split {spec.canonical_split(split)!r} not found (expected {MANIFEST} "
                        f"there); generate SynthSign with `m3t-bench synth`, convert pseudo-GT with "
                        f"`m3t-bench datasets convert`, or point --data-root/${DATA_ROOT_ENV} at the data",
                        file=split_dir)
    return split_dir


def _alias_candidates(split: str) -> tuple[str, ...]:
    return {"val": ("dev",), "dev": ("val",)}.get(split, ())


def open_split(name_or_path: str | Path, split: str | None = None, *, data_root: str | Path | None = None,
               verify: bool = True) -> Split:
    """Open a split by registered name (looked up under ``data_root``) or by folder path.

    With ``verify`` the manifest's sha256 must match ``dataset.json`` and every listed sample file must
    exist; per-file content hashes are checked when a sample is loaded (``Split.load``) and all at once by
    :func:`verify_split`.
    """
    split_dir = resolve_split_dir(name_or_path, split, data_root=data_root)
    card = read_card(split_dir)
    spec = _spec_from_card(card, split_dir / CARD)
    entries, digest = read_manifest(split_dir)
    if split is not None and spec.canonical_split(split) != card["split"]:
        raise UserError(f"folder holds split {card['split']!r}, not {split!r}", file=split_dir / CARD,
                        field="split")
    if verify:
        if digest != card["manifest_sha256"]:
            raise UserError(f"manifest.jsonl changed since dataset.json was written (sha256 {digest[:12]}…, "
                            f"card says {str(card['manifest_sha256'])[:12]}…)", file=split_dir / MANIFEST,
                            field="manifest_sha256")
        missing = [e["id"] for e in entries if not (split_dir / f"{e['id']}.npz").is_file()]
        if missing:
            raise UserError(f"{len(missing)} sample file(s) listed in the manifest are missing, first "
                            f"{missing[0]}.npz", file=split_dir)
    return Split(spec=spec, split=card["split"], root=split_dir, entries=entries, manifest_sha256=digest,
                 body_model_id=str(card["body_model_id"]), card=card.get("card", {}), info=card)


def verify_split(name_or_path: str | Path, split: str | None = None, *,
                 data_root: str | Path | None = None) -> tuple[Split | None, list[str]]:
    """Check everything about a split and return ``(split or None, problems)``; problems are one line
    each naming the file and field: manifest hash, every sample present, a valid npz, contract-valid,
    frame count and sha256 as listed."""
    try:
        sp = open_split(name_or_path, split, data_root=data_root, verify=False)
    except UserError as exc:
        return None, [str(exc)]
    problems: list[str] = []
    if sp.manifest_sha256 != sp.info["manifest_sha256"]:
        problems.append(f"{sp.root / MANIFEST}: manifest_sha256: content changed since dataset.json was written")
    for entry in sp.entries:
        path = sp.root / f"{entry['id']}.npz"
        if not path.is_file():
            problems.append(f"{path}: missing (listed in the manifest)")
            continue
        if "sha256" in entry and sha256_file(path) != entry["sha256"]:
            problems.append(f"{path}: sha256: content differs from the manifest's hash")
        try:
            seq = load_sample(path, validate=False)
        except UserError as exc:
            problems.append(str(exc))
            continue
        problems += [f"{path}: {p}" for p in seq.problems()]
        if seq.n_frames != entry["n_frames"]:
            problems.append(f"{path}: n_frames: file has {seq.n_frames}, manifest says {entry['n_frames']}")
    return sp, problems

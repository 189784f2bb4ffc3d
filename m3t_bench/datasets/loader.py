"""Finding and opening splits by registered name or by path, and verifying them file by file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from m3t_bench.datasets.specs import DatasetSpec, check_name, get_spec, is_registered
from m3t_bench.datasets.store import CARD, MANIFEST, Split, read_card, read_manifest
from m3t_bench.fileio import sha256_file
from m3t_bench.errors import UserError
from m3t_bench.safe_read import exists
from m3t_bench.motion.sequence import read_sample

DATA_ROOT_ENV = "M3T_DATA_ROOT"
#: Set to 1 to let a split's sample files be symbolic links resolving outside the split folder.
ALLOW_LINKS_ENV = "M3T_ALLOW_OUTSIDE_LINKS"


def _allow_links(value: bool | None) -> bool:
    return os.environ.get(ALLOW_LINKS_ENV, "") == "1" if value is None else bool(value)


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
        if exists(path / MANIFEST) or exists(path / CARD):
            return path
        if split is None:
            raise UserError("is a dataset folder; name the split (--split)", file=path)
        check_name(split, "split")
        candidates = [s for s in {split, *_alias_candidates(split)} if exists(path / s / MANIFEST)]
        if not candidates:
            subs = sorted(p.name for p in path.iterdir() if exists(p / MANIFEST))
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
    if not exists(split_dir / MANIFEST):
        raise UserError(f"{spec.id} split {spec.canonical_split(split)!r} not found (expected {MANIFEST} "
                        f"there); generate SynthSign with `m3t-bench synth`, convert pseudo-GT with "
                        f"`m3t-bench datasets convert`, or point --data-root/${DATA_ROOT_ENV} at the data",
                        file=split_dir)
    return split_dir


def _alias_candidates(split: str) -> tuple[str, ...]:
    return {"val": ("dev",), "dev": ("val",)}.get(split, ())


def open_split(name_or_path: str | Path, split: str | None = None, *, data_root: str | Path | None = None,
               verify: bool = True, allow_outside_links: bool | None = None) -> Split:
    """Open a split by registered name (looked up under ``data_root``) or by folder path.

    With ``verify`` the manifest's sha256 must match ``dataset.json`` and every listed sample file must
    exist; per-file content hashes are checked when a sample is loaded (``Split.load``) and all at once by
    :func:`verify_split`. Sample files (and the manifest and card) must resolve inside the split folder
    (a symbolic link pointing elsewhere is refused) unless ``allow_outside_links`` (default: whether
    ``$M3T_ALLOW_OUTSIDE_LINKS`` is ``1``).
    """
    split_dir = resolve_split_dir(name_or_path, split, data_root=data_root)
    allow_outside_links = _allow_links(allow_outside_links)
    links = "follow" if allow_outside_links else "inside"
    card = read_card(split_dir, links=links)
    spec = _spec_from_card(card, split_dir / CARD)
    asked = str(name_or_path)
    if "@" in asked and not Path(name_or_path).is_dir() and is_registered(asked) and get_spec(asked).id != spec.id:
        raise UserError(f"folder holds {spec.id}, not {get_spec(asked).id} (regenerate or convert the data, or name "
                        f"the version it holds)", file=split_dir / CARD, field="version")
    entries, digest = read_manifest(split_dir, links=links)
    if split is not None and spec.canonical_split(split) != card["split"]:
        raise UserError(f"folder holds split {card['split']!r}, not {split!r}", file=split_dir / CARD,
                        field="split")
    if verify:
        if digest != card["manifest_sha256"]:
            raise UserError(f"manifest.jsonl changed since dataset.json was written (sha256 {digest[:12]}…, "
                            f"card says {str(card['manifest_sha256'])[:12]}…)", file=split_dir / MANIFEST,
                            field="manifest_sha256")
        missing = [e["id"] for e in entries if not exists(split_dir / f"{e['id']}.npz")]
        if missing:
            raise UserError(f"{len(missing)} sample file(s) listed in the manifest are missing, first "
                            f"{missing[0]}.npz", file=split_dir)
    return Split(spec=spec, split=card["split"], root=split_dir, entries=entries, manifest_sha256=digest,
                 body_model_id=str(card["body_model_id"]), card=card.get("card", {}), info=card,
                 allow_outside_links=allow_outside_links)


def verify_split(name_or_path: str | Path, split: str | None = None, *, data_root: str | Path | None = None,
                 allow_outside_links: bool | None = None) -> tuple[Split | None, list[str]]:
    """Check everything about a split and return ``(split or None, problems)``; problems are one line
    each naming the file and field: manifest hash, every sample present, a valid npz, contract-valid,
    frame count and sha256 as listed."""
    try:
        sp = open_split(name_or_path, split, data_root=data_root, verify=False,
                        allow_outside_links=allow_outside_links)
    except UserError as exc:
        return None, [str(exc)]
    problems: list[str] = []
    if sp.manifest_sha256 != sp.info["manifest_sha256"]:
        problems.append(f"{sp.root / MANIFEST}: manifest_sha256: content changed since dataset.json was written")
    for entry in sp.entries:
        path = sp.root / f"{entry['id']}.npz"
        if not exists(path):
            problems.append(f"{path}: missing (listed in the manifest)")
            continue
        links = sp.links_policy()
        try:
            if "sha256" in entry and sha256_file(path, links=links, root=sp.root) != entry["sha256"]:
                problems.append(f"{path}: sha256: content differs from the manifest's hash")
            seq = read_sample(path, max_frames=entry["n_frames"], links=links, root=sp.root,
                              too_long=lambda n, e=entry: f"file has {n} frames, manifest says {e['n_frames']}")
        except UserError as exc:
            problems.append(str(exc))
            continue
        problems += [f"{path}: {p}" for p in seq.problems()]
        if seq.n_frames != entry["n_frames"]:
            problems.append(f"{path}: n_frames: file has {seq.n_frames}, manifest says {entry['n_frames']}")
    return sp, problems

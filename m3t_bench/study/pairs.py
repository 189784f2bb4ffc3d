"""The pairs file of a preference study (``PAIRS.json``) and how ``m3t-bench study pairs`` builds it.

Layout (schema ``m3t-bench-study-pairs`` version 1)::

    {
      "schema": "m3t-bench-study-pairs", "schema_version": 1,
      "systems": ["m3t", "soke"],                        # exactly two distinct names
      "pairs": [
        {"id": "synthsign-csl-test_0003",                # letters, digits, '.', '_', '-'; unique
         "dataset": "synthsign-csl", "sample": "test_0003", "text": "...",
         "media": {"m3t": "media/m3t/synthsign-csl/test_0003.gif",
                   "soke": "media/soke/synthsign-csl/test_0003.gif"}},
        ...
      ]
    }

Media paths are relative to the pairs file's folder and must stay inside it (no absolute paths, no
``..``); the study app serves only these files. A pair shows the same sentence produced by the two systems.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath

import numpy as np

from m3t_bench.errors import UserError, ValidationFailed, listed_problems
from m3t_bench.fileio import atomic_write, atomic_write_text
from m3t_bench.safe_read import decode_utf8, parse_json, read_bytes, read_json_object

SCHEMA = "m3t-bench-study-pairs"
SCHEMA_VERSION = 1
#: Media the rater's browser can show: images (incl. animated GIF/WebP) and videos.
MEDIA_TYPES = {".gif": "image/gif", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".webp": "image/webp", ".mp4": "video/mp4", ".webm": "video/webm"}
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: Largest accepted pairs file (bytes): bounds memory on a wrong path.
MAX_PAIRS_FILE = 16 << 20


@dataclass(frozen=True)
class Pair:
    """One comparison: the same ``sample`` of ``dataset`` produced by both systems; ``media`` maps each
    system name to its file (absolute, resolved)."""

    id: str
    dataset: str
    sample: str
    text: str
    media: dict[str, Path]


@dataclass(frozen=True)
class PairSet:
    """A loaded, validated pairs file: ``systems`` (two names), ``pairs`` in file order, ``sha256`` of the
    file's bytes (a study database is bound to it)."""

    path: Path
    systems: tuple[str, str]
    pairs: tuple[Pair, ...]
    sha256: str

    def pair(self, pair_id: str) -> Pair | None:
        return self._by_id.get(pair_id)

    @cached_property
    def _by_id(self) -> dict[str, Pair]:
        return {p.id: p for p in self.pairs}


def _media_problems(base: Path, rel, where: str) -> tuple[list[str], Path | None]:
    if not isinstance(rel, str) or not rel:
        return [f"{where}: expected a relative path string"], None
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or "\\" in rel or not rel.isprintable() or len(rel) > 1024:
        return [f"{where}: {rel[:200]!r} must be a relative path inside the pairs file's folder (printable, at most "
                f"1,024 characters)"], None
    if pure.suffix.lower() not in MEDIA_TYPES:
        return [f"{where}: {rel!r} has an unsupported type; expected one of {', '.join(sorted(MEDIA_TYPES))}"], None
    path = (base / pure).resolve()
    if not path.is_relative_to(base.resolve()):
        return [f"{where}: {rel!r} leaves the pairs file's folder (through a link)"], None
    if not path.is_file():
        return [f"{where}: {rel!r} not found"], None
    return [], path


def pairs_problems(data, base: Path) -> tuple[list[str], tuple[str, str] | None, list[Pair]]:
    """Every problem of a parsed pairs object (one line each), the systems and the pairs."""
    if not isinstance(data, dict):
        return ["(top level): expected an object"], None, []
    problems = []
    if data.get("schema") != SCHEMA or data.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema: expected {SCHEMA!r} version {SCHEMA_VERSION}")
    systems = data.get("systems")
    if not (isinstance(systems, list) and len(systems) == 2 and all(isinstance(s, str) and SAFE_ID.fullmatch(s)
                                                                   for s in systems) and systems[0] != systems[1]):
        return problems + ["systems: expected two distinct names (letters, digits, '.', '_', '-')"], None, []
    raw = data.get("pairs")
    if not isinstance(raw, list) or not raw:
        return problems + ["pairs: expected a non-empty list"], None, []
    pairs, seen = [], set()
    for i, entry in enumerate(raw):
        where = f"pairs[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected an object")
            continue
        pid = entry.get("id")
        if not isinstance(pid, str) or not SAFE_ID.fullmatch(pid):
            problems.append(f"{where}.id: expected 1-128 letters, digits, '.', '_', '-'")
            continue
        if pid in seen:
            problems.append(f"{where}.id: {pid!r} appears twice; expected unique ids")
            continue
        seen.add(pid)
        fields = {k: entry.get(k, "") for k in ("dataset", "sample", "text")}
        bad = [k for k, v in fields.items() if not isinstance(v, str)]
        problems += [f"{where}.{k}: expected a string" for k in bad]
        media = entry.get("media")
        if not isinstance(media, dict) or set(media) != set(systems):
            problems.append(f"{where}.media: expected one file per system ({', '.join(systems)})")
            continue
        paths = {}
        for system in systems:
            found, path = _media_problems(base, media[system], f"{where}.media.{system}")
            problems += found
            paths[system] = path
        if not bad and all(paths.values()):
            pairs.append(Pair(id=pid, dataset=fields["dataset"], sample=fields["sample"], text=fields["text"],
                              media=paths))
    return problems, (systems[0], systems[1]), pairs


def load_pairs(path: str | Path) -> PairSet:
    """Read and validate a pairs file; :class:`ValidationFailed` lists every problem."""
    path = Path(path)
    what = "pairs file (PAIRS.json written by `m3t-bench study pairs`)"
    raw = read_bytes(path, max_bytes=MAX_PAIRS_FILE, what=what)
    data = parse_json(decode_utf8(raw, file=path, what=what), file=path)
    problems, systems, pairs = pairs_problems(data, path.parent)
    if problems:
        raise ValidationFailed(listed_problems([f"{path}: {p}" for p in problems]))
    return PairSet(path=path, systems=systems, pairs=tuple(pairs), sha256=hashlib.sha256(raw).hexdigest())


# ------------------------------------------------------------------------------------------ building
def _media_index(folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """``(renders, samples)`` of a folder: ``<id>.<media ext>`` files and ``<id>.npz`` prediction files."""
    if not folder.is_dir():
        raise UserError("not a folder; expected a submission (<id>.npz) or a folder of renders (<id>.gif|mp4|...)",
                        file=folder)
    renders, samples = {}, {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or not SAFE_ID.fullmatch(p.stem):
            continue
        if p.suffix.lower() in MEDIA_TYPES:
            renders.setdefault(p.stem, p)
        elif p.suffix == ".npz":
            samples[p.stem] = p
    return renders, samples


def system_name(folder: Path, override: str | None) -> str:
    """``override``, else the ``system`` of the folder's ``meta.json``, else the folder name."""
    name = override
    if name is None and (folder / "meta.json").is_file():
        try:
            name = read_json_object(folder / "meta.json", max_bytes=1 << 20, links="refuse").get("system")
        except UserError:  # a broken meta.json only loses the name (the submission's validator reports it)
            name = None
    name = name or folder.name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.") or "system"
    return slug[:128]


def build_pairs(folder_a: str | Path, folder_b: str | Path, out_dir: str | Path, *, n: int = 6, seed: int = 0,
                dataset: str | None = None, split: str = "test", data_root: str | Path | None = None,
                name_a: str | None = None, name_b: str | None = None, add: bool = False,
                load_model: Callable[[], object] | None = None, fps: float | None = None,
                clip_options: dict | None = None) -> Path:
    """Pick ``n`` samples both systems have (seeded), put one medium per system and sample under
    ``out_dir/media/<system>/<dataset>/`` (a system's own render ``<id>.gif|mp4|...`` is copied; otherwise its
    ``<id>.npz`` is rendered to a GIF with the SMPL-FX ``load_model()`` returns, called once, only if
    needed), and write ``out_dir/pairs.json`` (with
    ``add``: append to the existing file, whose systems must match). ``dataset`` (a registered name or a
    dataset folder) supplies the sentences and the frame rate; without it, ``fps`` (default 25) is used and
    the text stays empty. With ``add``, samples already paired are not chosen again. Returns the pairs file
    path; it is written last, atomically."""
    folder_a, folder_b, out_dir = Path(folder_a), Path(folder_b), Path(out_dir)
    systems = (system_name(folder_a, name_a), system_name(folder_b, name_b))
    if systems[0] == systems[1]:
        raise UserError(f"both systems are named {systems[0]!r}; give --name-a / --name-b", field="systems")
    index = {s: _media_index(f) for s, f in zip(systems, (folder_a, folder_b))}
    available = [set(r) | set(smp) for r, smp in index.values()]
    texts: dict[str, str] = {}
    dataset_name = "samples"
    if dataset is not None:
        from m3t_bench.datasets import open_split
        sp = open_split(dataset, split, data_root=data_root)
        texts = {e["id"]: str(e.get("text", "")) for e in sp.entries}
        dataset_name, fps = sp.spec.name, sp.spec.fps
        available.append(set(texts))
    if n < 1:
        raise UserError(f"{n}; expected at least 1 pair", field="--n")
    pairs_path = out_dir / "pairs.json"
    existing: list[dict] = []
    if add and pairs_path.is_file():
        previous = load_pairs(pairs_path)
        if previous.systems != systems:
            raise UserError(f"has systems {list(previous.systems)}, these folders give {list(systems)}; expected "
                            f"the same two systems in the same order", file=pairs_path, field="systems")
        existing = read_json_object(pairs_path, max_bytes=MAX_PAIRS_FILE)["pairs"]
    elif pairs_path.exists() and not add:
        raise UserError("exists; pass --add to append pairs, or choose another --out", file=pairs_path)
    taken = {e["id"] for e in existing}
    common = sorted(s for s in set.intersection(*available) if f"{dataset_name}-{s}" not in taken)
    if not common:
        raise UserError(f"no sample id is available from both {folder_a} and {folder_b}"
                        + (f" and in {dataset}" if dataset else "") + (" that is not already paired" if taken else "")
                        + "; expected <id>.npz or <id>.gif|mp4|... files")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(common, size=min(n, len(common)), replace=False).tolist())

    models: list = []

    def model():
        if not models:
            if load_model is None:
                raise UserError("a prediction has no render and no body model was given to render it "
                                "(--body-models DIR)", field="--body-models")
            models.append(load_model())
        return models[0]

    entries = []
    for sample in chosen:
        media = {}
        for system in systems:
            renders, samples = index[system]
            if sample in renders:
                src = renders[sample]
                rel = f"media/{system}/{dataset_name}/{sample}{src.suffix.lower()}"
                atomic_write(out_dir / rel, lambda tmp, src=src: shutil.copyfile(src, tmp))
            else:
                rel = f"media/{system}/{dataset_name}/{sample}.gif"
                _render_sample(samples[sample], out_dir / rel, model=model(), fps=fps or 25.0, options=clip_options)
            media[system] = rel
        entries.append({"id": f"{dataset_name}-{sample}", "dataset": dataset_name, "sample": sample,
                        "text": texts.get(sample, ""), "media": media})
    doc = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "systems": list(systems), "pairs": existing + entries}
    atomic_write_text(pairs_path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    load_pairs(pairs_path)  # the file just written must load (all media present, paths inside out_dir)
    return pairs_path


def _render_sample(npz: Path, out_gif: Path, *, model, fps: float, options: dict | None) -> Path:
    from m3t_bench.motion import load_sample
    from m3t_bench.report.clip import render_clip
    seq = load_sample(npz)
    if not seq.has_streams:
        raise UserError("skeleton-only prediction (joints): no mesh to render; give a render file instead", file=npz)
    return render_clip(model, seq, out_gif, fps=fps, **(options or {}))


__all__ = ["MEDIA_TYPES", "Pair", "PairSet", "SCHEMA", "SCHEMA_VERSION", "build_pairs", "load_pairs",
           "pairs_problems", "system_name"]

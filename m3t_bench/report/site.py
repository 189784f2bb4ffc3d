"""The static leaderboard site: ``m3t-bench site --results leaderboards/results --out site/``.

Pages (plain HTML + one CSS + one small vanilla-JS file, relative links only, no network, so the folder
opens from disk and serves from any static host):

- ``index.html``: per dataset and protocol, a sortable table of every system (value, 95% CI, n per metric),
  each column's signature on hover and copyable; the published numbers (``leaderboards/reported``) in their
  own block per dataset. Tables are built by :func:`m3t_bench.report.tables.build_leaderboard`, so a column
  that would mix signatures is refused exactly as ``m3t-bench table`` refuses it.
- ``systems/<dataset>/<file>.html``: one page per results file: the system's ``meta.json``, provenance, every
  score with its signature, skipped metrics, the per-sample distribution plot and the renders, when present.
- ``protocols.html``: every protocol and metric, generated from the registry (:mod:`m3t_bench.protocols`).

Optional inputs beside a results file ``<results>/<dataset>/<system>.json``:

- ``<system>.per-sample.jsonl``: the file ``m3t-bench score --per-sample`` writes. It must belong to the
  results file (:func:`m3t_bench.results.check_per_sample`: per (metric, part) as many values as the score's
  ``n``, aggregated by the metric's own aggregation to the score's value), otherwise the build is refused.
- ``<system>.renders/``: image or video files (``.png .jpg .gif .webp .mp4 .webm``) shown on the system page.

Output is all-or-nothing: the site is built in a temporary folder beside ``out`` and swapped in at the end;
a failed build leaves the previous site in place. An existing ``out`` is replaced only when it is empty or
a site written by this command (it holds the marker file :data:`SITE_MARKER`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

import m3t_bench
from m3t_bench.errors import UserError
from m3t_bench.report.tables import (DATASET_LABELS, JOINTS_ONLY_MARK, JOINTS_ONLY_NOTE, REPORTED_NOTE, TABLES, Column,
                                     Leaderboard, available_datasets, build_leaderboard, load_reported, results_files)
from m3t_bench.results import check_per_sample, read_per_sample, read_results
from m3t_bench.safe_read import exists

SITE_MARKER = ".m3t-bench-site"
PER_SAMPLE_SUFFIX = ".per-sample.jsonl"
RENDERS_SUFFIX = ".renders"
RENDER_KINDS = {".png": "image", ".jpg": "image", ".jpeg": "image", ".gif": "image", ".webp": "image",
                ".mp4": "video", ".webm": "video"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")



# ------------------------------------------------------------------------------------------ inputs
def render_files(folder: Path) -> list[Path]:
    """The render files of a ``<system>.renders`` folder (regular files with a known extension and a safe
    name), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink()
                  and p.suffix.lower() in RENDER_KINDS and _SAFE_NAME.fullmatch(p.name))


# ------------------------------------------------------------------------------------------ model
@dataclass
class SystemPage:
    """One results file and what the site shows about it."""

    dataset: str
    stem: str
    source: Path
    results: dict
    per_sample: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    renders: list[Path] = field(default_factory=list)

    @property
    def path(self) -> str:
        """Output path relative to the site root."""
        return f"systems/{self.dataset}/{self.stem}.html"

    @property
    def name(self) -> str:
        return self.results["system"]["system"]


@dataclass
class ProtocolTable:
    """The table of one dataset under one protocol: a :class:`Leaderboard` with every scored metric as a
    column, and the results file behind each row."""

    dataset: str
    protocol: str
    board: Leaderboard
    row_pages: dict[str, SystemPage]

    @property
    def units(self) -> dict[Column, str]:
        """Each column's unit (one per column: the unit is part of the column's one signature)."""
        return {col: cell.unit for row in self.board.scored for col, cell in row.cells.items() if cell.unit}

    @property
    def has_joints_only(self) -> bool:
        return any(r.system.endswith(JOINTS_ONLY_MARK) for r in self.board.scored)


@dataclass
class DatasetSection:
    dataset: str
    tables: list[ProtocolTable]
    reported: Leaderboard | None


def _column_order(protocol: str, seen: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``seen`` (metric, part) pairs in the registered protocol's item order; unregistered ones after, sorted."""
    from m3t_bench.protocols import PROTOCOLS
    order = [(it.metric, it.part) for it in PROTOCOLS[protocol].items] if protocol in PROTOCOLS else []
    rank = {key: i for i, key in enumerate(order)}
    return sorted(set(seen), key=lambda k: (rank.get(k, len(rank)), k))


def collect_pages(results_dir: Path, dataset: str) -> list[SystemPage]:
    """A :class:`SystemPage` for every results file of ``dataset`` (per-sample values checked)."""
    pages = []
    for path in results_files(results_dir, dataset):
        if not _SAFE_NAME.fullmatch(dataset):
            raise UserError("folder name has characters a web path cannot keep; expected letters, digits, '.', "
                            "'_' or '-'", file=path.parent)
        if not _SAFE_NAME.fullmatch(path.stem):
            raise UserError("file name has characters a web path cannot keep; expected letters, digits, '.', "
                            "'_' or '-'", file=path)
        renders = path.with_name(path.stem + RENDERS_SUFFIX)
        for published in (path, renders):
            if published.is_symlink():  # the site publishes these files: a link could publish any file
                raise UserError("is a symbolic link; refused (the site copies what it shows; expected the file "
                                "or folder itself)", file=published)
        page = SystemPage(dataset=dataset, stem=path.stem, source=path, results=read_results(path))
        per_sample_path = path.with_name(path.stem + PER_SAMPLE_SUFFIX)
        if exists(per_sample_path):  # anything there is read (a FIFO or link is refused, not skipped)
            expected = {(sc["metric"], sc["part"]): sc["n"] for sc in page.results["scores"]}
            page.per_sample = read_per_sample(per_sample_path, expected, links="refuse")
            check_per_sample(page.per_sample, page.results, per_sample_path)
        page.renders = render_files(renders)
        pages.append(page)
    return pages


def collect_section(results_dir: Path, reported_dir: Path | None, dataset: str,
                    pages: list[SystemPage]) -> DatasetSection:
    """One dataset's protocol tables (mixed signatures refused by ``build_leaderboard``) and reported block."""
    tables = []
    for protocol in sorted({p.results["protocol"] for p in pages}):
        seen = [(s["metric"], s["part"]) for p in pages if p.results["protocol"] == protocol
                for s in p.results["scores"]]
        columns = [Column(dataset, m, part) for m, part in _column_order(protocol, seen)]
        board = build_leaderboard(results_dir, [dataset], protocol=protocol, columns=columns)
        by_source = {str(p.source): p for p in pages}
        row_pages = {row.system: by_source[next(iter(row.cells.values())).source] for row in board.scored}
        tables.append(ProtocolTable(dataset=dataset, protocol=protocol, board=board, row_pages=row_pages))
    reported = None
    if reported_dir is not None:
        columns = [Column(dataset, m, p) for number in sorted(TABLES) for m, p in TABLES[number]]
        rows, citations = load_reported(reported_dir, [dataset], columns)
        if rows:
            used = [c for c in columns if any(c in r.cells for r in rows)]
            reported = Leaderboard(number=0, columns=used, scored=[], reported=rows, signatures={},
                                   citations=citations)
    return DatasetSection(dataset=dataset, tables=tables, reported=reported)


# ------------------------------------------------------------------------------------------ rendering
def _environment():
    import jinja2
    env = jinja2.Environment(loader=jinja2.PackageLoader("m3t_bench.report", "site_templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = _num
    env.filters["dataset_label"] = lambda d: DATASET_LABELS.get(d, d)
    env.filters["urlpath"] = lambda p: quote(str(p))
    env.filters["is_url"] = lambda v: isinstance(v, str) and v.startswith(("https://", "http://"))
    return env


def _num(value, digits: int = 2) -> str:
    """A value at ``digits`` decimals (the tables' convention); '–' for a missing one."""
    return "–" if value is None else f"{float(value):.{digits}f}"


def _direction(metric: str) -> bool | None:
    from m3t_bench.protocols import METRICS
    spec = METRICS.get(metric)
    return None if spec is None else spec.higher_is_better


def _distribution(page: SystemPage) -> str | None:
    from m3t_bench.report.figures import Distribution, distribution_svg
    if not page.per_sample:
        return None
    scores = {(s["metric"], s["part"]): s for s in page.results["scores"]}
    panels = [Distribution(label=f"{m} {part}",
                           values=np.array([page.per_sample[(m, part)][k] for k in sorted(page.per_sample[(m, part)])]),
                           unit=scores[(m, part)]["unit"], value=scores[(m, part)]["value"])
              for m, part in _column_order(page.results["protocol"], list(page.per_sample))]
    return distribution_svg(panels)


def _protocol_context() -> dict:
    from m3t_bench.protocols import METRICS, PROTOCOLS, RUN_KEYS
    from m3t_bench.signature import SIGNATURE_KEYS
    return {"metrics": list(METRICS.values()), "protocols": list(PROTOCOLS.values()), "run_keys": RUN_KEYS,
            "signature_keys": SIGNATURE_KEYS}


def _write(root: Path, rel: str, text: str) -> None:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8", newline="\n")


def _render_site(tmp: Path, sections: list[DatasetSection], pages: list[SystemPage]) -> None:
    env = _environment()
    common = {"version": m3t_bench.__version__, "joints_only_note": JOINTS_ONLY_NOTE, "reported_note": REPORTED_NOTE}
    _write(tmp, "index.html", env.get_template("index.html").render(
        root="", sections=sections, direction=_direction, **common))
    _write(tmp, "protocols.html", env.get_template("protocols.html").render(root="", **_protocol_context(), **common))
    for page in pages:
        root = "../../"
        base = f"systems/{page.dataset}/{page.stem}"
        (tmp / base).parent.mkdir(parents=True, exist_ok=True)
        svg = _distribution(page)
        if svg is not None:
            _write(tmp, f"{base}.svg", svg)
        renders = []
        for src in page.renders:
            rel = f"{base}{RENDERS_SUFFIX}/{src.name}"
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp / rel)
            renders.append({"name": src.name, "href": f"{page.stem}{RENDERS_SUFFIX}/{src.name}",
                            "kind": RENDER_KINDS[src.suffix.lower()]})
        shutil.copyfile(page.source, tmp / f"{base}.json")
        if page.per_sample:
            shutil.copyfile(page.source.with_name(page.stem + PER_SAMPLE_SUFFIX), tmp / f"{base}{PER_SAMPLE_SUFFIX}")
        _write(tmp, page.path, env.get_template("system.html").render(
            root=root, page=page, results=page.results, distribution=svg is not None, renders=renders,
            per_sample_name=page.stem + PER_SAMPLE_SUFFIX, renders_name=page.stem + RENDERS_SUFFIX, **common))
    for name in ("site.css", "site.js"):
        _write(tmp, f"assets/{name}", (Path(__file__).parent / "site_static" / name).read_text(encoding="utf-8"))
    _write(tmp, SITE_MARKER, json.dumps({"generator": "m3t-bench site", "version": m3t_bench.__version__}) + "\n")


def _replace_dir(tmp: Path, out: Path) -> None:
    """Swap the finished ``tmp`` in as ``out`` (the old site, if any, is removed only after the swap)."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.replace(out, old / "site")
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old / "site", out)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def build_site(results_dir: str | Path, out: str | Path, *, reported_dir: str | Path | None = None) -> Path:
    """Build the site from ``results_dir`` (``<dataset>/<system>.json``) and, when given, the published numbers
    in ``reported_dir`` into ``out`` (all-or-nothing); returns ``out``."""
    results_dir, out = Path(results_dir), Path(out)
    reported = Path(reported_dir) if reported_dir is not None else None
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / SITE_MARKER).is_file())):
        raise UserError(f"exists and is not a site written by m3t-bench site (no {SITE_MARKER}); expected a new "
                        f"or empty folder, or a previous site to replace", file=out, field="--out")
    datasets = available_datasets(results_dir, reported)
    if not datasets:
        raise UserError(f"no results found under {results_dir}; expected <dataset>/<system>.json files",
                        field="--results")
    sections, pages = [], []
    for dataset in datasets:
        dataset_pages = collect_pages(results_dir, dataset)
        sections.append(collect_section(results_dir, reported, dataset, dataset_pages))
        pages += dataset_pages
    sections.sort(key=lambda s: not s.tables)  # datasets with scored results first (stable: paper order within)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()  # (not mkdtemp: the site keeps the umask's permissions, readable by a web server)
    try:
        _render_site(tmp, sections, pages)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


__all__ = ["PER_SAMPLE_SUFFIX", "RENDERS_SUFFIX", "SITE_MARKER", "build_site", "render_files"]

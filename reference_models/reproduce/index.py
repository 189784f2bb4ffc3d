"""The run's ``index.html``: one static page (inline CSS/JS, relative links only, opens from disk) with Tables
1-4, the figures, the renders, every results file and the wall time of each stage."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from m3t_bench.fileio import atomic_write_text
from reference_models.reproduce.context import StageContext

TABLE_FILES = (("markdown", "md"), ("LaTeX", "tex"), ("CSV", "csv"))
TABLE3_TITLE = "Tokenizer ablation, FSQ vs VQ: PA-VPE (mm, lower is better) and codebook use (%)"
FIGURES = (("token_frequency.png", "Token frequency per code, FSQ vs VQ, per modality (paper Fig. 5 / A.3); the "
                                   "legend gives each quantizer's token-frequency SD (lower: more uniform use)"),
           ("tokenizer_curves.png", "Tokenizer training: loss and validation vertex error per epoch"),
           ("smlm_curves.png", "SMLM training: production / translation loss and validation DTW-JPE"),
           ("backtranslation_curves.png", "Back-translation models: validation BLEU-4 per epoch"))


@dataclass
class HtmlColumn:
    label: str
    signature: str | None = None


@dataclass
class HtmlCell:
    value: str
    ci: str = ""
    signature: str | None = None


@dataclass
class HtmlRow:
    system: str
    cells: list
    href: str | None = None


@dataclass
class HtmlTable:
    number: int
    title: str
    columns: list[HtmlColumn]
    rows: list[HtmlRow]
    files: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)
    reported: dict | None = None


def _cell(cell, digits: int = 2) -> HtmlCell | None:
    if cell is None:
        return None
    ci = f"[{cell.ci95[0]:.{digits}f}, {cell.ci95[1]:.{digits}f}]" if cell.ci95 else ""
    return HtmlCell(f"{cell.value:.{digits}f}", ci, cell.signature)


def board_table(number: int, results: Path, reported: Path, root: Path, files_prefix: str) -> HtmlTable:
    """Table ``number`` (1, 2, 4): our rows (one signature per column) and the published rows apart."""
    from m3t_bench.report import tables as t
    task = t.TABLE_TASKS[number]
    ours = t.available_datasets(results, task=task)
    board = t.build_leaderboard(results, ours, table=number)
    columns = [HtmlColumn(c.label, board.signatures.get(c)) for c in board.columns]
    rows = []
    for row in board.scored:
        sources = {c.source for c in row.cells.values()}
        href = os.path.relpath(next(iter(sources)), root) if len(sources) == 1 else None
        rows.append(HtmlRow(row.system, [_cell(row.cells.get(c)) for c in board.columns], href))
    notes = ([t.HAND_NOTE] if number == 1 else []) + (
        [t.GROUND_TRUTH_BT_NOTE] if number == 2 and any(r.system == t.GROUND_TRUTH_SYSTEM for r in board.scored) else [])
    published = [d for d in t.available_datasets(results, reported, task=task) if d not in ours]
    rep = None
    if published:
        pub = t.build_leaderboard(results, published, table=number, reported_dir=reported)
        used = [c for c in pub.columns if any(c in r.cells for r in pub.reported)]
        if used:
            rep = {"columns": [HtmlColumn(c.label) for c in used], "citations": pub.citations,
                   "rows": [HtmlRow(r.system, [_cell(r.cells.get(c)) for c in used]) for r in pub.reported]}
            notes.append(t.REPORTED_NOTE)
    links = [(label, f"{files_prefix}table{number}.{ext}") for label, ext in TABLE_FILES]
    return HtmlTable(number, t.TABLE_TITLES[number], columns, rows, links, notes, rep)


def tokenizer_table(result: dict, files_prefix: str) -> HtmlTable:
    """Table 3 from the tokenizer evaluation's JSON (values with their column signatures)."""
    from reference_models.m3t.ablate import column_signatures, table_rows
    header, body = table_rows(result)
    signatures = column_signatures(result)
    columns = [HtmlColumn(h, signatures.get(h)) for h in header[1:]]
    rows = [HtmlRow(str(r[0]), [HtmlCell(str(v), "", signatures.get(h)) for h, v in zip(header[1:], r[1:])])
            for r in body]
    links = [(label, f"{files_prefix}table3.{ext}") for label, ext in (*TABLE_FILES, ("JSON", "json"))]
    return HtmlTable(3, TABLE3_TITLE, columns, rows, links)


def _environment():
    import jinja2
    loader = jinja2.ChoiceLoader([jinja2.PackageLoader("reference_models.reproduce", "templates"),
                                  jinja2.PackageLoader("m3t_bench.report", "site_templates")])
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True)


def render_index(ctx: StageContext, root: Path, times: list[dict], command: str) -> str:
    """The page's HTML; links are relative to ``root`` (the output folder, where the page is published)."""
    import m3t_bench
    tables_dir = ctx.inputs["tables"]
    prefix = os.path.relpath(tables_dir, root) + "/"
    results = tables_dir / "results"
    from reference_models.reproduce.stages_eval import reported_dir
    tables = [board_table(1, results, reported_dir(), root, prefix), board_table(2, results, reported_dir(), root, prefix),
              tokenizer_table(json.loads((tables_dir / "table3.json").read_text()), prefix),
              board_table(4, results, reported_dir(), root, prefix)]
    figures_dir = ctx.inputs["figures"]
    figures = [{"href": os.path.relpath(figures_dir / name, root), "caption": caption}
               for name, caption in FIGURES if (figures_dir / name).is_file()]
    renders_dir = ctx.inputs["renders"]
    renders = json.loads((renders_dir / "renders.json").read_text())
    for sample in renders:
        sample["gif"] = os.path.relpath(renders_dir / sample["gif"], root)
        sample["frames"] = [os.path.relpath(renders_dir / f, root) for f in sample["frames"]]
    result_files = sorted(os.path.relpath(p, root) for p in results.rglob("*.json"))
    static = files("m3t_bench.report") / "site_static"
    toc = [(f"table{n}", f"Table {n}") for n in (1, 2, 3, 4)] + [("figures", "Figures"), ("renders", "Renders"),
                                                               ("results", "Results"), ("times", "Wall times")]
    total = sum(t["wall_s"] for t in times if t["wall_s"] is not None)
    return _environment().get_template("index.html").render(
        version=m3t_bench.__version__, config=ctx.cfg, command=command, toc=toc, tables=tables, figures=figures,
        renders=renders, results=result_files, body_model_id=ctx.body_model().model_id,
        data_label=("the real pseudo-GT under " + str(ctx.settings.data_root)) if ctx.settings.data_root
        else f"SynthSign {ctx.cfg.synth_preset} (seed {ctx.cfg.synth_seed})",
        times=[{**t, "wall": "–" if t["wall_s"] is None else f"{t['wall_s']:.1f}"} for t in times],
        total_wall=f"{total:.1f}", machine=times_note(), css=(static / "site.css").read_text(),
        js=(static / "site.js").read_text())


def times_note() -> str:
    import platform
    return (f"Wall time of the run that produced each stage's outputs, measured on {platform.machine()} with "
            f"{os.cpu_count()} CPU(s) visible; a stage skipped in a later run keeps the time of the run that made it.")


def write_index(ctx: StageContext, times: list[dict], command: str) -> None:
    """``ctx.out/index.html`` (published to the output root by the runner)."""
    root = ctx.settings.out
    atomic_write_text(ctx.out / "index.html", render_index(ctx, root, times, command))

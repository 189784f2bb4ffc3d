"""Leaderboard tables shaped like the paper's Table 1 (production), Table 2 (back-translation) and Table 4
(isolated-sign recognition, the NMFs-CSL protocol).

Inputs: results files ``<results_dir>/<dataset>/<system>.json`` (:mod:`m3t_bench.results`) and published
numbers ``<reported_dir>/*.json`` (protocol ``reported``). Published numbers are shown in a separate block
and never share a column with numbers scored here; every scored column carries exactly one signature, and
a table refuses (:class:`UserError`) to put numbers with different signatures in one column.

Table 1 columns per dataset: DTW-PA-JPE body, hand; DTW-JPE body, hand. The *Hand* column is defined as the
mean of the ``lhand`` and ``rhand`` values of one results file, whose signatures must be identical apart from
``part`` (the column's signature then reads ``part:hand``). Table 2 columns per dataset: ROUGE-L (R), BLEU-4
(B4), both ``part:text``. Table 4 columns per dataset: top-1 (T-1) and top-5 (T-5) accuracy overall, on the
confusing and on the normal classes. Tables 1 and 2 list continuous-signing datasets, Table 4 isolated-sign
ones (the dataset spec's ``task``).

Formats: ``md`` and ``latex`` (values at 2 decimals, like the paper, signatures listed under the table) and
``csv`` (one line per number, full precision, with its signature, CI, n, unit and source file).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from m3t_bench.errors import UserError, one_line
from m3t_bench.results import read_results
from m3t_bench.safe_read import read_json
from m3t_bench.signature import Signature

TABLES: dict[int, tuple[tuple[str, str], ...]] = {
    1: (("dtw-pa-jpe", "body"), ("dtw-pa-jpe", "hand"), ("dtw-jpe", "body"), ("dtw-jpe", "hand")),
    2: (("rouge-l", "text"), ("bleu4", "text")),
    4: (("top1", "overall"), ("top5", "overall"), ("top1", "confusing"), ("top5", "confusing"), ("top1", "normal"),
        ("top5", "normal")),
}
#: The kind of dataset each table is about (:attr:`m3t_bench.datasets.DatasetSpec.task`).
TABLE_TASKS = {1: "continuous", 2: "continuous", 4: "isolated"}
TABLE_TITLES = {1: "Sign language production: DTW-PA-JPE / DTW-JPE (lower is better)",
                2: "Back-translation: ROUGE-L (R) / BLEU-4 (B4) (higher is better)",
                4: "Isolated sign recognition: top-1 (T-1) / top-5 (T-5) accuracy in %, overall, confusing and "
                   "normal classes (higher is better)"}
METRIC_LABELS = {"dtw-pa-jpe": "DTW-PA-JPE", "dtw-jpe": "DTW-JPE", "rouge-l": "R", "bleu4": "B4", "top1": "T-1",
                 "top5": "T-5"}
PART_LABELS = {"body": "Body", "hand": "Hand", "text": "", "overall": "Overall", "confusing": "Conf.",
               "normal": "Norm."}
DATASET_LABELS = {"how2sign": "How2Sign", "csl-daily": "CSL-Daily", "phoenix14t": "Phoenix14T", "nmfs-csl": "NMFs-CSL"}
#: LaTeX header rows under the dataset row: (grouped row, per-column row or None) as Column attributes.
LATEX_HEADER = {1: ("metric", "part"), 2: ("metric", None), 4: ("part", "metric")}
PAPER_DATASET_ORDER = ("how2sign", "csl-daily", "phoenix14t")
FORMATS = ("md", "latex", "csv")
HAND_PARTS = ("lhand", "rhand")
JOINTS_ONLY_MARK = " (joints only)"
HAND_NOTE = ("Hand = mean of the lhand and rhand values of one results file (their signatures must agree "
             "apart from part).")
JOINTS_ONLY_NOTE = ("(joints only): skeleton-only submission; metrics whose points a 42-joint skeleton lacks "
                    "(hand fingertip vertices, face vertices) are not computed (–).")
GROUND_TRUTH_SYSTEM = "ground-truth"
GROUND_TRUTH_BT_NOTE = ("ground-truth: the reference motion itself through the same back-translation model (the "
                        "signature's bt key): the upper bound of its column.")
REPORTED_NOTE = ("Reported: numbers as published (protocol 'reported': the conventions they were computed "
                 "under are unknown); not comparable with the scored block.")


def signature_keys(signature: str) -> dict[str, str]:
    """``{"metric": "<id>@<version>", <key>: <value>, ...}`` of a signature string (UserError if malformed)."""
    parsed = Signature.parse(signature)
    return {"metric": f"{parsed.metric}@{parsed.version}", **parsed.params}


@dataclass(frozen=True)
class Column:
    dataset: str
    metric: str
    part: str  # body | hand | text | overall | confusing | normal

    @property
    def label(self) -> str:
        parts = [DATASET_LABELS.get(self.dataset, self.dataset), METRIC_LABELS.get(self.metric, self.metric),
                 PART_LABELS.get(self.part, self.part)]
        return " ".join(p for p in parts if p)

    def header(self, attribute: str) -> str:
        """The label of this column's ``metric`` or ``part`` in a header row."""
        return (METRIC_LABELS.get(self.metric, self.metric) if attribute == "metric"
                else PART_LABELS.get(self.part, self.part))


@dataclass
class Cell:
    value: float
    signature: str | None  # None for reported numbers
    source: str
    ci95: list[float] | None = None
    n: int | None = None
    unit: str | None = None


@dataclass
class Row:
    system: str
    block: str  # "scored" | "reported"
    cells: dict[Column, Cell] = field(default_factory=dict)


@dataclass
class Leaderboard:
    """A built table: columns, rows of both blocks, one signature per scored column, citations."""

    number: int
    columns: list[Column]
    scored: list[Row]
    reported: list[Row]
    signatures: dict[Column, str]
    citations: list[str]


def _hand_cell(scores: dict[tuple[str, str], dict], metric: str, source: str) -> Cell | None:
    left, right = (scores.get((metric, p)) for p in HAND_PARTS)
    if left is None or right is None:
        return None
    sig_l = signature_keys(left["signature"])
    sig_r = signature_keys(right["signature"])
    sig_l["part"], sig_r["part"] = "hand", "hand"
    if sig_l != sig_r:
        diff = sorted(k for k in set(sig_l) | set(sig_r) if sig_l.get(k) != sig_r.get(k))
        raise UserError(f"{metric} lhand and rhand signatures differ in {', '.join(diff)}; expected equal "
                        f"apart from part to average them into the Hand column", file=source)
    signature = left["signature"].replace("|part:lhand", "|part:hand")
    return Cell(value=(left["value"] + right["value"]) / 2, signature=signature, source=source,
                n=min(left["n"], right["n"]), unit=left["unit"])


def _scored_row(path: Path, data: dict, columns: list[Column]) -> Row:
    scores = {(s["metric"], s["part"]): s for s in data["scores"]}
    name = data["system"]["system"] + (JOINTS_ONLY_MARK if data["predictions"]["kind"] == "joints" else "")
    row = Row(system=name, block="scored")
    for col in columns:
        if col.part == "hand":
            cell = _hand_cell(scores, col.metric, str(path))
        elif (s := scores.get((col.metric, col.part))) is not None:
            cell = Cell(value=s["value"], signature=s["signature"], source=str(path), ci95=s["ci95"], n=s["n"],
                        unit=s["unit"])
        else:
            cell = None
        if cell is not None:
            row.cells[col] = cell
    return row


def results_files(results_dir: Path, dataset: str) -> list[Path]:
    """``results_dir/<dataset>/*.json`` sorted by name (empty when the folder is absent)."""
    folder = results_dir / dataset
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _load_scored(results_dir: Path, datasets: list[str], columns: list[Column], protocol: str | None) -> list[Row]:
    rows: dict[str, Row] = {}
    for dataset in datasets:
        for path in results_files(results_dir, dataset):
            data = read_results(path)
            if data["dataset"]["name"] != dataset:
                raise UserError(f"results for dataset {data['dataset']['name']!r} filed under {dataset!r}; "
                                f"expected results/<dataset>/<system>.json", file=path, field="dataset.name")
            if protocol is not None and data["protocol"] != protocol:
                continue
            row = _scored_row(path, data, [c for c in columns if c.dataset == dataset])
            if not row.cells:
                continue
            merged = rows.setdefault(row.system, Row(system=row.system, block="scored"))
            merged.cells.update(row.cells)
    return sorted(rows.values(), key=lambda r: (r.system.casefold(), r.system))


def load_reported(reported_dir: Path, datasets: list[str], columns: list[Column]) -> tuple[list[Row], list[str]]:
    """Published numbers (protocol ``reported``) for ``columns`` -> (rows in file order, citations)."""
    rows: dict[str, Row] = {}
    citations: list[str] = []
    wanted = {(c.dataset, c.metric, c.part): c for c in columns}
    for path in sorted(reported_dir.glob("*.json")) if reported_dir.is_dir() else []:
        doc = read_json(path, what="reported-numbers JSON")
        try:
            if doc.get("protocol") != "reported":
                raise UserError("protocol is not 'reported'; expected published numbers only here", file=path,
                                field="protocol")
            used = False
            for entry in doc["rows"]:
                if entry["dataset"] not in datasets:
                    continue
                for s in entry["scores"]:
                    col = wanted.get((entry["dataset"], s["metric"], s["part"]))
                    if col is None:
                        continue
                    value = float(s["value"])
                    if not math.isfinite(value) or not isinstance(entry["system"], str):
                        raise ValueError(f"system {entry['system']!r:.80} value {s['value']!r:.40}: expected a "
                                         f"system name and a finite number")
                    row = rows.setdefault(entry["system"], Row(system=entry["system"], block="reported"))
                    row.cells[col] = Cell(value=value, signature=None, source=str(path), unit=s.get("unit"))
                    used = True
            citation = f"{doc['citation']} {doc.get('source', '')}".strip()
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise UserError(f"malformed reported-numbers file ({type(exc).__name__}: {exc}); expected the layout "
                            f"of leaderboards/reported/*.json", file=path) from None
        if used and citation not in citations:
            citations.append(citation)
    return list(rows.values()), citations


def column_signatures(rows: list[Row], columns: list[Column]) -> dict[Column, str]:
    """The one signature of each scored column; :class:`UserError` naming files and differing keys otherwise."""
    out: dict[Column, str] = {}
    for col in columns:
        cells = [r.cells[col] for r in rows if col in r.cells]
        if not cells:
            continue
        first = cells[0]
        for other in cells[1:]:
            if other.signature != first.signature:
                a, b = signature_keys(first.signature), signature_keys(other.signature)
                diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                detail = "; ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in diff)
                raise UserError(f"column '{col.label}' would mix numbers with different signatures: "
                                f"{first.source} and {other.source} differ in {detail}; score them under the same "
                                f"protocol, body model, dataset version and toolkit version (or pick files with "
                                f"--protocol)")
        out[col] = first.signature
    return out


def dataset_task(name: str) -> str:
    """The registered dataset's ``task`` (``continuous`` or ``isolated``); ``continuous`` for other names."""
    from m3t_bench.datasets.specs import get_spec, is_registered
    return get_spec(name).task if is_registered(name) else "continuous"


def available_datasets(results_dir: Path, reported_dir: Path | None = None, *, task: str | None = None) -> list[str]:
    """Datasets with results folders or published numbers (only those of ``task`` when given): the paper's
    order first, then alphabetical."""
    names = {p.name for p in results_dir.iterdir() if p.is_dir()} if results_dir.is_dir() else set()
    if reported_dir is not None and reported_dir.is_dir():
        for path in reported_dir.glob("*.json"):
            doc = read_json(path, what="reported-numbers JSON")
            try:
                names |= {str(e["dataset"]) for e in doc["rows"]}
            except (KeyError, TypeError):
                raise UserError("malformed reported-numbers file; expected rows with a dataset", file=path) from None
    if task is not None:
        names = {n for n in names if dataset_task(n) == task}
    return [d for d in PAPER_DATASET_ORDER if d in names] + sorted(names - set(PAPER_DATASET_ORDER))


def _check_table(table: int) -> None:
    if table not in TABLES:
        raise UserError(f"table {table}; expected one of {', '.join(map(str, TABLES))}", field="--table")


def build_leaderboard(results_dir: str | Path, datasets: list[str], *, table: int = 1,
                      reported_dir: str | Path | None = None, protocol: str | None = None,
                      columns: list[Column] | None = None) -> Leaderboard:
    """Collect the rows of Table ``table`` (1, 2 or 4) for ``datasets``; see the module docstring. ``columns``
    replaces the table's own columns (the leaderboard site shows every scored metric; same refusals)."""
    _check_table(table)
    if columns is None:
        columns = [Column(d, m, p) for d in datasets for m, p in TABLES[table]]
    scored = _load_scored(Path(results_dir), datasets, columns, protocol)
    reported, citations = (load_reported(Path(reported_dir), datasets, columns) if reported_dir is not None
                           else ([], []))
    return Leaderboard(number=table, columns=columns, scored=scored, reported=reported,
                       signatures=column_signatures(scored, columns), citations=citations)


def _fmt(cell: Cell | None, missing: str = "–") -> str:
    return missing if cell is None else f"{cell.value:.2f}"


def _notes(board: Leaderboard) -> list[str]:
    notes = []
    if board.number == 1 and board.scored:
        notes.append(HAND_NOTE)
    if any(r.system.endswith(JOINTS_ONLY_MARK) for r in board.scored):
        notes.append(JOINTS_ONLY_NOTE)
    bt_sources = {signature_keys(sig).get("bt", "") for sig in board.signatures.values()}
    if any(r.system == GROUND_TRUTH_SYSTEM for r in board.scored) and any(
            b and not b.startswith("hyps-") for b in bt_sources):
        notes.append(GROUND_TRUTH_BT_NOTE)
    if board.reported:
        notes.append(REPORTED_NOTE)
    return notes


def md_escape(text: str) -> str:
    """``text`` as one markdown table cell: one line (:func:`~m3t_bench.errors.one_line`), ``|`` escaped."""
    return one_line(text).replace("|", "\\|")


def render_markdown(board: Leaderboard) -> str:
    """GitHub markdown: the scored block, the reported block, then signatures, notes and citations."""
    header = "| System | " + " | ".join(c.label for c in board.columns) + " |"
    rule = "|---|" + "---:|" * len(board.columns)

    def block(rows: list[Row]) -> list[str]:
        return [header, rule] + [f"| {md_escape(r.system)} | " + " | ".join(_fmt(r.cells.get(c)) for c in board.columns) + " |"
                                 for r in rows]

    lines = [f"### Table {board.number}: {TABLE_TITLES[board.number]}", ""]
    lines += block(board.scored) if board.scored else ["(no scored results)"]
    if board.reported:
        lines += ["", "Reported in publications (protocol `reported`; not re-scored, not comparable with the "
                      "table above):", ""] + block(board.reported)
    if board.signatures:
        lines += ["", "Signatures:", ""] + [f"- {c.label}: `{s}`" for c, s in board.signatures.items()]
    notes = _notes(board)
    if notes:
        lines += [""] + [f"Note: {n}" for n in notes]
    if board.citations:
        lines += ["", "Sources:", ""] + [f"- {one_line(c)}" for c in board.citations]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in one_line(text))


def _spans(values: list[tuple]) -> list[tuple[tuple, int]]:
    """Runs of equal consecutive values -> [(value, run length), ...]."""
    out: list[tuple[tuple, int]] = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1] = (v, out[-1][1] + 1)
        else:
            out.append((v, 1))
    return out


def render_latex(board: Leaderboard) -> str:
    """A booktabs ``tabular``: dataset / metric / part header rows, scored block, reported block."""
    n = len(board.columns)
    lines = [r"\begin{tabular}{l" + "r" * n + "}", r"\toprule"]
    grouped, per_column = LATEX_HEADER[board.number]
    for level in (1, 2):  # header row 1: datasets; row 2: metrics or parts (spans never cross a dataset)
        keys = [(c.dataset,) if level == 1 else (c.dataset, getattr(c, grouped)) for c in board.columns]
        labels = {k: DATASET_LABELS.get(k[0], k[0]) if level == 1 else c.header(grouped)
                  for k, c in zip(keys, board.columns)}
        cells = [rf"\multicolumn{{{n_cols}}}{{c}}{{{latex_escape(labels[k])}}}" for k, n_cols in _spans(keys)]
        lines.append(" & " + " & ".join(cells) + r" \\")
    if per_column is not None:
        lines.append("System & " + " & ".join(c.header(per_column) for c in board.columns) + r" \\")
    else:
        lines[-1] = "System" + lines[-1]
    lines.append(r"\midrule")
    for r in board.scored:
        lines.append(latex_escape(r.system) + " & " + " & ".join(_fmt(r.cells.get(c), "--") for c in board.columns)
                     + r" \\")
    if board.reported:
        lines += [r"\midrule", rf"\multicolumn{{{n + 1}}}{{l}}{{\textit{{Reported (protocol unknown; not comparable "
                               rf"with the rows above)}}}} \\"]
        for r in board.reported:
            lines.append(latex_escape(r.system) + " & " + " & ".join(_fmt(r.cells.get(c), "--") for c in board.columns)
                         + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [f"% {c.label}: {s}" for c, s in board.signatures.items()]
    lines += [f"% Note: {note}" for note in _notes(board)]
    lines += [f"% Source: {one_line(c)}" for c in board.citations]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ("block", "system", "dataset", "metric", "part", "value", "ci95_lo", "ci95_hi", "n", "unit",
              "signature", "source")


def render_csv(board: Leaderboard) -> str:
    """One line per number (full precision) with its signature: the machine-readable form of the table."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in (*board.scored, *board.reported):
        for col in board.columns:
            cell = row.cells.get(col)
            if cell is None:
                continue
            lo, hi = cell.ci95 if cell.ci95 else ("", "")
            writer.writerow([row.block, row.system, col.dataset, col.metric, col.part, repr(float(cell.value)),
                             "" if lo == "" else repr(float(lo)), "" if hi == "" else repr(float(hi)),
                             "" if cell.n is None else cell.n, cell.unit or "", cell.signature or "reported",
                             Path(cell.source).name])
    return buf.getvalue()


RENDERERS = {"md": render_markdown, "latex": render_latex, "csv": render_csv}


def render_table(results_dir: str | Path, dataset: str = "all", *, fmt: str = "md", table: int = 1,
                 reported_dir: str | Path | None = None, protocol: str | None = None) -> str:
    """Build and render Table ``table`` for ``dataset`` (a name, or ``"all"``) in format ``fmt``."""
    if fmt not in RENDERERS:
        raise UserError(f"format {fmt!r}; expected one of {', '.join(FORMATS)}", field="--format")
    results_dir = Path(results_dir)
    reported = Path(reported_dir) if reported_dir is not None else None
    _check_table(table)
    datasets = available_datasets(results_dir, reported, task=TABLE_TASKS[table]) if dataset == "all" else [dataset]
    if not datasets:
        raise UserError(f"no results found under {results_dir}; expected <dataset>/<system>.json files")
    board = build_leaderboard(results_dir, datasets, table=table, reported_dir=reported, protocol=protocol)
    if dataset != "all" and not board.scored and not board.reported:
        raise UserError(f"no results for dataset {dataset!r} under {results_dir} (expected "
                        f"{results_dir / dataset}/<system>.json)")
    return RENDERERS[fmt](board)

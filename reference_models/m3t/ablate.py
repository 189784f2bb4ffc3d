"""The tokenizer ablation (paper Table 3): FSQ vs VQ at the same codebook sizes, and FSQ over a small grid of
batch size (BS) and hidden width (HS); each row trains body, hand and face tokenizers on the training split
(the face tokenizer optionally also on a face-only corpus, as the paper adds MEAD), selects checkpoints on
the validation split and reports, on the evaluation split, PA-VPE per modality (mm) and codebook
utilisation (% of the codebook used over the whole split), under protocol ``tokenizer@1``: every number of
a seed is a signed results entry in the JSON, and the markdown lists each column's signature.

With several seeds (:func:`run_seeds`) every cell is the mean ± sample standard deviation over the seeds
(each seed draws its own initialisation, crops and batch order; the bootstrap intervals of every seed use
the study's first seed, so a column has one signature); each seed's full signed result is kept. A work
folder resumes: a seed whose result file is there is read, and an interrupted training continues from its
saved state — but only when the folder's run record matches this run's settings.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tabulate import tabulate

import m3t_bench
from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write_text
from reference_models.m3t.checkpoint import load_tokenizer, write_json_atomic
from reference_models.m3t.config import TokenizerConfig
from reference_models.m3t.data import MODALITIES
from reference_models.m3t.evaluate import PROTOCOL, evaluate_tokenizer, point_sets, set_points
from reference_models.m3t.train import train_tokenizer

TABLE_STEM = "tokenizer_ablation"
SEED_TABLE = "tokenizer-ablation@1"
SEED_RESULT = "result.json"
#: The settings a seed's work folder was started with; a folder with other settings is refused.
RUN_RECORD = "run.json"
#: Results-entry metric -> the label of its Table 3 column (per modality).
COLUMN_LABELS = {"pa-vpe": "PA-VPE {modality} (mm)", "codebook-use": "Codebook % {modality}"}
#: Per-modality figures aggregated over seeds.
FIGURES = ("pa_vpe_mm", "utilisation_pct", "token_freq_std", "vertex_error_mm", "val_vertex_error_mm", "best_epoch")
_RUN_KEYS = ("table", "tool_version", "protocol", "config", "grid", "seed", "device", "body_model", "data")


@dataclass(frozen=True)
class AblationRow:
    """One row of the table: quantizer, global batch size, hidden width."""

    quantizer: str
    batch_size: int
    width: int

    @property
    def tag(self) -> str:
        return f"{self.quantizer}-bs{self.batch_size}-hs{self.width}"


def ablation_grid(cfg: TokenizerConfig, grid: str) -> list[AblationRow]:
    """Rows for ``grid``: ``none`` = VQ and FSQ at the config's batch size and width; ``small`` adds FSQ at
    4× and 2× the batch size and at half and double the width (the shape of Table 3's search)."""
    b, w = cfg.batch_size, cfg.width
    rows = [AblationRow("vq", b, w), AblationRow("fsq", b, w)]
    if grid == "small":
        rows += [AblationRow("fsq", 4 * b, w), AblationRow("fsq", 2 * b, w),
                 AblationRow("fsq", b, w // 2), AblationRow("fsq", b, 2 * w)]
    elif grid != "none":
        raise ValueError(f"unknown grid {grid!r}; expected none or small")
    return rows


def run_ablation(train_seqs: list, val_seqs: list, eval_seqs: list, body_model, cfg: TokenizerConfig, work: Path, *,
                 grid: str = "small", device: str = "cpu", seed: int = 0, bootstrap_seed: int | None = None,
                 data_info: dict | None = None, progress: bool = True, face_train_seqs: list | None = None,
                 resume: bool = False) -> dict:
    """Train and evaluate every row of ``ablation_grid(cfg, grid)``; checkpoints go to ``work/<row>/<modality>``.
    ``face_train_seqs``: extra training sequences for the face tokenizer only (a face-only corpus).
    ``bootstrap_seed`` (default ``seed``): of the signed entries' bootstrap intervals. ``resume``: continue
    (or reuse) a checkpoint folder's saved training state (the caller vouches that it is this run's).
    Returns the JSON-ready result (rows with per-modality signed ``scores`` and their values ``pa_vpe_mm``,
    ``utilisation_pct``, ``token_freq_std``, and ``val_vertex_error_mm``)."""
    bootstrap_seed = seed if bootstrap_seed is None else bootstrap_seed
    references = {m: [set_points(body_model, seq, point_sets(m)) for seq in eval_seqs] for m in MODALITIES}
    dataset_id = (data_info or {}).get("name", "unknown")
    rows = []
    for row in ablation_grid(cfg, grid):
        row_cfg = cfg.replace(batch_size=row.batch_size, width=row.width)
        result = {**asdict(row), "modalities": {}}
        for modality in MODALITIES:
            t0 = time.perf_counter()
            extra = list(face_train_seqs or []) if modality == "face" else []
            trained = train_tokenizer(modality, row_cfg, train_seqs + extra, val_seqs, work / row.tag / modality,
                                      quantizer=row.quantizer, body_model=body_model, device=device, seed=seed,
                                      data_info=data_info, progress=progress, resume=resume)
            model, _ = load_tokenizer(trained.out_dir, device=device)
            scores = evaluate_tokenizer(model, body_model, eval_seqs, reference_points=references[modality],
                                        dataset_id=dataset_id, seed=bootstrap_seed)
            result["modalities"][modality] = {**scores, "val_vertex_error_mm": trained.best_val_mm,
                                              "best_epoch": trained.best_epoch, "parameters": trained.parameters,
                                              "train_seconds": round(time.perf_counter() - t0, 1)}
        rows.append(result)
    return {**_run_record(cfg, grid=grid, seed=seed, device=device, body_model=body_model, data_info=data_info),
            "bootstrap_seed": bootstrap_seed, "units": {"pa_vpe_mm": "mm", "utilisation_pct": "% of codebook"},
            "rows": rows}


def _run_record(cfg: TokenizerConfig, *, grid: str, seed: int, device: str, body_model, data_info: dict | None) -> dict:
    """What identifies one seed's trainings: what must match for its work folder to be reused."""
    return {"table": SEED_TABLE, "tool_version": m3t_bench.__version__, "protocol": PROTOCOL, "config": cfg.to_dict(),
            "grid": grid, "seed": seed, "device": device, "body_model": getattr(body_model, "model_id", None),
            "data": data_info or {}}


def run_seeds(train_seqs: list, val_seqs: list, eval_seqs: list, body_model, cfg: TokenizerConfig, work: Path, *,
              seeds: list[int], grid: str = "small", device: str = "cpu", data_info: dict | None = None,
              progress: bool = True, face_train_seqs: list | None = None, log=print) -> dict:
    """:func:`run_ablation` for every seed (checkpoints, ``run.json`` and ``result.json`` under
    ``work/seed-<s>/``), then :func:`aggregate`; every seed's bootstrap intervals use ``seeds[0]``. A seed
    folder started with other settings (``run.json``: config, grid, data, tool version, ...) is refused;
    otherwise a finished seed's ``result.json`` with the same bootstrap seed is read, and anything else
    resumes the seed's trainings (finished ones are only re-evaluated), so an interrupted multi-seed run
    continues where it stopped."""
    runs = []
    for seed in seeds:
        seed_dir = Path(work) / f"seed-{seed}"
        record = _run_record(cfg, grid=grid, seed=seed, device=device, body_model=body_model, data_info=data_info)
        record_path = seed_dir / RUN_RECORD
        if record_path.is_file():
            previous = json.loads(record_path.read_text())
            if previous != record:
                changed = ", ".join(k for k in _RUN_KEYS if previous.get(k) != record.get(k))
                raise UserError(f"this work folder holds a run with other settings ({changed}); use another --work",
                                file=record_path)
        else:
            write_json_atomic(record_path, record)
        saved = seed_dir / SEED_RESULT
        t0 = time.perf_counter()
        previous_result = json.loads(saved.read_text()) if saved.is_file() else {}
        if previous_result.get("bootstrap_seed") == seeds[0]:
            runs.append(previous_result)
            log(f"seed {seed}: reused {saved}")
            continue
        result = run_ablation(train_seqs, val_seqs, eval_seqs, body_model, cfg, seed_dir, grid=grid, device=device,
                              seed=seed, bootstrap_seed=seeds[0], data_info=data_info, progress=progress,
                              face_train_seqs=face_train_seqs, resume=True)
        write_json_atomic(saved, result)
        runs.append(result)
        log(f"seed {seed}: done in {time.perf_counter() - t0:.0f} s")
    return aggregate(runs)


def _summary(figure: str, values: list[float]) -> dict:
    arr = np.asarray(values, dtype=np.float64)
    return {figure: float(arr.mean()), f"{figure}_std": float(arr.std(ddof=1)) if arr.size > 1 else None,
            f"{figure}_values": [float(v) for v in arr]}


def aggregate(runs: list[dict]) -> dict:
    """Every figure of every row and modality over ``runs`` (results of :func:`run_ablation` for different
    seeds, same grid): ``<figure>`` = the mean, ``<figure>_std`` = the sample standard deviation (ddof 1;
    None for one seed), ``<figure>_values`` = the per-seed values in seed order. With one seed a modality
    also keeps that seed's signed ``scores``; with several, the signed entries are each seed's, under
    ``runs``."""
    if not runs:
        raise ValueError("no runs to aggregate")
    first = runs[0]
    rows = []
    for i, row in enumerate(first["rows"]):
        out = {k: row[k] for k in ("quantizer", "batch_size", "width")}
        out["modalities"] = {}
        for m, figures in row["modalities"].items():
            summary = {k: v for f in FIGURES if f in figures
                       for k, v in _summary(f, [r["rows"][i]["modalities"][m][f] for r in runs]).items()}
            if len(runs) == 1 and "scores" in figures:
                summary["scores"] = figures["scores"]
            out["modalities"][m] = summary
        rows.append(out)
    return {"table": "tokenizer-ablation@2", "tool_version": first["tool_version"], "protocol": first.get("protocol"),
            "config": first["config"], "grid": first["grid"], "seeds": [r["seed"] for r in runs],
            "device": first["device"], "body_model": first["body_model"], "data": first["data"],
            "units": first["units"], "rows": rows, "runs": runs}


def _cell(scores: dict, figure: str, digits: int) -> str:
    std = scores[f"{figure}_std"]
    return f"{scores[figure]:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


_COLUMNS = (*((COLUMN_LABELS["pa-vpe"].format(modality=m), m, "pa_vpe_mm", 2) for m in MODALITIES),
            *((COLUMN_LABELS["codebook-use"].format(modality=m), m, "utilisation_pct", 1) for m in MODALITIES))


def table_rows(result: dict) -> tuple[list[str], list[list]]:
    """Table 3's columns: method, BS, HS, PA-VPE (body, hand, face), codebook % (body, hand, face); each cell
    ``mean ± std`` over the seeds of an aggregated result (:func:`aggregate`; the mean alone for one seed)."""
    header = ["Method", "BS", "HS", *(c[0] for c in _COLUMNS)]
    body = [[r["quantizer"].upper(), r["batch_size"], r["width"],
             *(_cell(r["modalities"][m], f, d) for _, m, f, d in _COLUMNS)] for r in result["rows"]]
    return header, body


def _csv_rows(result: dict) -> list[list]:
    """The table at full precision: means in Table 3's columns, then one standard-deviation column each."""
    header = ["Method", "BS", "HS", *(c[0] for c in _COLUMNS), *(f"{c[0]} std" for c in _COLUMNS)]
    rows = [header]
    for r in result["rows"]:
        stds = [r["modalities"][m][f"{f}_std"] for _, m, f, _ in _COLUMNS]
        rows.append([r["quantizer"].upper(), r["batch_size"], r["width"],
                     *(repr(r["modalities"][m][f]) for _, m, f, _ in _COLUMNS),
                     *("" if v is None else repr(v) for v in stds)])
    return rows


def column_signatures(result: dict) -> dict[str, str]:
    """Table 3's signed columns -> their one signature over every seed's rows (an aggregated result's ``runs``,
    or a single run); a column whose entries disagree is refused."""
    out: dict[str, str] = {}
    for run in result.get("runs", [result]):
        for row in run["rows"]:
            for modality in MODALITIES:
                for entry in row["modalities"][modality].get("scores", []):
                    if entry["metric"] not in COLUMN_LABELS:
                        continue
                    label = COLUMN_LABELS[entry["metric"]].format(modality=modality)
                    if out.setdefault(label, entry["signature"]) != entry["signature"]:
                        raise ValueError(f"column {label!r} would mix signatures {out[label]} and {entry['signature']}")
    return out


def write_tables(result: dict, out: Path) -> list[Path]:
    """Write ``out/tokenizer_ablation.{json,csv,md}`` for an aggregated result; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    header, body = table_rows(result)
    columns = column_signatures(result)
    write_json_atomic(out / f"{TABLE_STEM}.json", result)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(_csv_rows(result))
    atomic_write_text(out / f"{TABLE_STEM}.csv", buf.getvalue())
    data = result.get("data", {})
    seeds = result["seeds"]
    extra = data.get("face_extra")
    note = (f"Tokenizer ablation (paper Table 3 layout) on {data.get('name', '?')} "
            f"({data.get('eval_split', '?')} split, {data.get('eval_samples', '?')} samples), config `{result['config']['name']}`, "
            f"{result['config']['epochs']} epochs, body model {result['body_model']}"
            + (f"; face tokenizers also trained on {extra['name']} {extra['split']} ({extra['samples']} clips)" if extra else "")
            + f". Cells: mean ± sample standard deviation over {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
            f"PA-VPE: per-frame Procrustes-aligned vertex error on the vertices each modality moves (mm); "
            f"Codebook %: share of the codebook used over the whole split.\n\n")
    signatures = "".join(f"- {label}: `{columns[label]}`\n" for label in header if label in columns)
    atomic_write_text(out / f"{TABLE_STEM}.md", note + tabulate(body, header, tablefmt="github") + "\n"
                      + (f"\nSignatures:\n\n{signatures}" if signatures else ""))
    return [out / f"{TABLE_STEM}.{ext}" for ext in ("json", "csv", "md")]

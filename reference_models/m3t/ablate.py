"""The tokenizer ablation (paper Table 3): FSQ vs VQ at the same codebook sizes, and FSQ over a small grid of
batch size (BS) and hidden width (HS); each row trains body, hand and face tokenizers on the training split
(the face tokenizer optionally also on a face-only corpus, as the paper adds MEAD), selects checkpoints on
the validation split and reports, on the evaluation split, PA-VPE per modality (mm) and codebook
utilisation (% of the codebook used over the whole split).

With several seeds (:func:`run_seeds`) every cell is the mean ± sample standard deviation over the seeds
(each seed draws its own initialisation, crops and batch order); each seed's full result is kept, and a
seed whose result file is already in the work folder (same config, grid and data) is not re-run.
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
from m3t_bench.fileio import atomic_write_text
from reference_models.m3t.checkpoint import load_tokenizer, write_json_atomic
from reference_models.m3t.config import TokenizerConfig
from reference_models.m3t.data import MODALITIES
from reference_models.m3t.evaluate import evaluate_tokenizer, modality_vertex_ids, region_vertices
from reference_models.m3t.train import train_tokenizer

TABLE_STEM = "tokenizer_ablation"
SEED_RESULT = "result.json"
#: Per-modality figures aggregated over seeds.
FIGURES = ("pa_vpe_mm", "utilisation_pct", "token_freq_std", "vertex_error_mm", "val_vertex_error_mm", "best_epoch")


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
                 grid: str = "small", device: str = "cpu", seed: int = 0, data_info: dict | None = None,
                 progress: bool = True, face_train_seqs: list | None = None) -> dict:
    """Train and evaluate every row of ``ablation_grid(cfg, grid)``; checkpoints go to ``work/<row>/<modality>``.
    ``face_train_seqs``: extra training sequences for the face tokenizer only (a face-only corpus).
    Returns the JSON-ready result (rows with per-modality ``pa_vpe_mm``, ``utilisation_pct``,
    ``token_freq_std``, ``val_vertex_error_mm``)."""
    vertex_ids = {m: modality_vertex_ids(body_model, m) for m in MODALITIES}
    references = {m: [region_vertices(body_model, seq, vertex_ids[m]) for seq in eval_seqs] for m in MODALITIES}
    rows = []
    for row in ablation_grid(cfg, grid):
        row_cfg = cfg.replace(batch_size=row.batch_size, width=row.width)
        result = {**asdict(row), "modalities": {}}
        for modality in MODALITIES:
            t0 = time.perf_counter()
            extra = list(face_train_seqs or []) if modality == "face" else []
            trained = train_tokenizer(modality, row_cfg, train_seqs + extra, val_seqs, work / row.tag / modality,
                                      quantizer=row.quantizer, body_model=body_model, device=device, seed=seed,
                                      data_info=data_info, progress=progress)
            model, _ = load_tokenizer(trained.out_dir, device=device)
            scores = evaluate_tokenizer(model, body_model, eval_seqs, vertex_ids=vertex_ids[modality],
                                        reference_vertices=references[modality])
            result["modalities"][modality] = {**scores, "val_vertex_error_mm": trained.best_val_mm,
                                              "best_epoch": trained.best_epoch, "parameters": trained.parameters,
                                              "train_seconds": round(time.perf_counter() - t0, 1)}
        rows.append(result)
    return {"table": "tokenizer-ablation@1", "tool_version": m3t_bench.__version__, "config": cfg.to_dict(),
            "grid": grid, "seed": seed, "device": device, "body_model": getattr(body_model, "model_id", None),
            "data": data_info or {}, "units": {"pa_vpe_mm": "mm", "utilisation_pct": "% of codebook"},
            "rows": rows}


def _seed_key(result: dict) -> dict:
    """What must match for a saved seed result to stand for a new run."""
    return {k: result.get(k) for k in ("table", "tool_version", "config", "grid", "seed", "device", "body_model", "data")}


def run_seeds(train_seqs: list, val_seqs: list, eval_seqs: list, body_model, cfg: TokenizerConfig, work: Path, *,
              seeds: list[int], grid: str = "small", device: str = "cpu", data_info: dict | None = None,
              progress: bool = True, face_train_seqs: list | None = None, log=print) -> dict:
    """:func:`run_ablation` for every seed (checkpoints and ``result.json`` under ``work/seed-<s>/``), then
    :func:`aggregate`. A seed whose ``result.json`` matches this run's config, grid, data and tool version
    is read instead of re-trained (so an interrupted multi-seed run resumes seed by seed)."""
    runs = []
    for seed in seeds:
        seed_dir = Path(work) / f"seed-{seed}"
        saved = seed_dir / SEED_RESULT
        t0 = time.perf_counter()
        if saved.is_file():
            previous = json.loads(saved.read_text())
            expected = {"table": "tokenizer-ablation@1", "tool_version": m3t_bench.__version__, "config": cfg.to_dict(),
                        "grid": grid, "seed": seed, "device": device, "body_model": getattr(body_model, "model_id", None),
                        "data": data_info or {}}
            if _seed_key(previous) == expected:
                runs.append(previous)
                log(f"seed {seed}: reused {saved}")
                continue
        result = run_ablation(train_seqs, val_seqs, eval_seqs, body_model, cfg, seed_dir, grid=grid, device=device,
                              seed=seed, data_info=data_info, progress=progress, face_train_seqs=face_train_seqs)
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
    None for one seed), ``<figure>_values`` = the per-seed values in seed order."""
    if not runs:
        raise ValueError("no runs to aggregate")
    first = runs[0]
    rows = []
    for i, row in enumerate(first["rows"]):
        out = {k: row[k] for k in ("quantizer", "batch_size", "width")}
        out["modalities"] = {}
        for m, figures in row["modalities"].items():
            out["modalities"][m] = {k: v for f in FIGURES if f in figures
                                    for k, v in _summary(f, [r["rows"][i]["modalities"][m][f] for r in runs]).items()}
        rows.append(out)
    return {"table": "tokenizer-ablation@2", "tool_version": first["tool_version"], "config": first["config"],
            "grid": first["grid"], "seeds": [r["seed"] for r in runs], "device": first["device"],
            "body_model": first["body_model"], "data": first["data"], "units": first["units"], "rows": rows,
            "runs": runs}


def _cell(scores: dict, figure: str, digits: int) -> str:
    std = scores[f"{figure}_std"]
    return f"{scores[figure]:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


_COLUMNS = (*((f"PA-VPE {m} (mm)", m, "pa_vpe_mm", 2) for m in MODALITIES),
            *((f"Codebook % {m}", m, "utilisation_pct", 1) for m in MODALITIES))


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


def write_tables(result: dict, out: Path) -> list[Path]:
    """Write ``out/tokenizer_ablation.{json,csv,md}`` for an aggregated result; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    header, body = table_rows(result)
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
    atomic_write_text(out / f"{TABLE_STEM}.md", note + tabulate(body, header, tablefmt="github") + "\n")
    return [out / f"{TABLE_STEM}.{ext}" for ext in ("json", "csv", "md")]

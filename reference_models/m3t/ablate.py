"""The tokenizer ablation (paper Table 3): FSQ vs VQ at the same codebook sizes, and FSQ over a small grid of
batch size (BS) and hidden width (HS); each row trains body, hand and face tokenizers on the training split,
selects checkpoints on the validation split and reports, on the evaluation split, PA-VPE per modality (mm)
and codebook utilisation (% of the codebook used over the whole split), under protocol ``tokenizer@1``: every
number is a signed results entry in the JSON, and the markdown lists each column's signature.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tabulate import tabulate

import m3t_bench
from m3t_bench.fileio import atomic_write_text
from reference_models.m3t.checkpoint import load_tokenizer, write_json_atomic
from reference_models.m3t.config import TokenizerConfig
from reference_models.m3t.data import MODALITIES
from reference_models.m3t.evaluate import PROTOCOL, evaluate_tokenizer, point_sets, set_points
from reference_models.m3t.train import train_tokenizer

TABLE_STEM = "tokenizer_ablation"
#: Results-entry metric -> the label of its Table 3 column (per modality).
COLUMN_LABELS = {"pa-vpe": "PA-VPE {modality} (mm)", "codebook-use": "Codebook % {modality}"}


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
                 progress: bool = True) -> dict:
    """Train and evaluate every row of ``ablation_grid(cfg, grid)``; checkpoints go to ``work/<row>/<modality>``.
    Returns the JSON-ready result (rows with per-modality signed ``scores`` and their values ``pa_vpe_mm``,
    ``utilisation_pct``, ``token_freq_std``, and ``val_vertex_error_mm``)."""
    references = {m: [set_points(body_model, seq, point_sets(m)) for seq in eval_seqs] for m in MODALITIES}
    dataset_id = (data_info or {}).get("name", "unknown")
    rows = []
    for row in ablation_grid(cfg, grid):
        row_cfg = cfg.replace(batch_size=row.batch_size, width=row.width)
        result = {**asdict(row), "modalities": {}}
        for modality in MODALITIES:
            t0 = time.perf_counter()
            trained = train_tokenizer(modality, row_cfg, train_seqs, val_seqs, work / row.tag / modality,
                                      quantizer=row.quantizer, body_model=body_model, device=device, seed=seed,
                                      data_info=data_info, progress=progress)
            model, _ = load_tokenizer(trained.out_dir, device=device)
            scores = evaluate_tokenizer(model, body_model, eval_seqs, reference_points=references[modality],
                                        dataset_id=dataset_id, seed=seed)
            result["modalities"][modality] = {**scores, "val_vertex_error_mm": trained.best_val_mm,
                                              "best_epoch": trained.best_epoch, "parameters": trained.parameters,
                                              "train_seconds": round(time.perf_counter() - t0, 1)}
        rows.append(result)
    return {"table": "tokenizer-ablation@1", "tool_version": m3t_bench.__version__, "config": cfg.to_dict(),
            "protocol": PROTOCOL, "grid": grid, "seed": seed, "device": device, "body_model": getattr(body_model, "model_id", None),
            "data": data_info or {}, "units": {"pa_vpe_mm": "mm", "utilisation_pct": "% of codebook"},
            "rows": rows}


def table_rows(result: dict) -> tuple[list[str], list[list]]:
    """Table 3's columns: method, BS, HS, PA-VPE (body, hand, face), codebook % (body, hand, face)."""
    header = ["Method", "BS", "HS", *(COLUMN_LABELS[metric].format(modality=m) for metric in COLUMN_LABELS
                                      for m in MODALITIES)]
    body = [[r["quantizer"].upper(), r["batch_size"], r["width"],
             *(round(r["modalities"][m]["pa_vpe_mm"], 2) for m in MODALITIES),
             *(round(r["modalities"][m]["utilisation_pct"], 1) for m in MODALITIES)] for r in result["rows"]]
    return header, body


def column_signatures(result: dict) -> dict[str, str]:
    """Table 3's signed columns -> their one signature (a column whose rows disagree is refused)."""
    out: dict[str, str] = {}
    for row in result["rows"]:
        for modality in MODALITIES:
            for entry in row["modalities"][modality].get("scores", []):
                if entry["metric"] not in COLUMN_LABELS:
                    continue
                label = COLUMN_LABELS[entry["metric"]].format(modality=modality)
                if out.setdefault(label, entry["signature"]) != entry["signature"]:
                    raise ValueError(f"column {label!r} would mix signatures {out[label]} and {entry['signature']}")
    return out


def write_tables(result: dict, out: Path) -> list[Path]:
    """Write ``out/tokenizer_ablation.{json,csv,md}``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    header, body = table_rows(result)
    write_json_atomic(out / f"{TABLE_STEM}.json", result)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *body])
    atomic_write_text(out / f"{TABLE_STEM}.csv", buf.getvalue())
    data = result.get("data", {})
    note = (f"Tokenizer ablation (paper Table 3 layout) on {data.get('name', '?')} "
            f"({data.get('eval_split', '?')} split, {data.get('eval_samples', '?')} samples), config `{result['config']['name']}`, "
            f"{result['config']['epochs']} epochs, seed {result['seed']}, body model {result['body_model']}. "
            f"PA-VPE: per-frame Procrustes-aligned vertex error on the vertices each modality moves (mm); "
            f"Codebook %: share of the codebook used over the whole split.\n\n")
    columns = column_signatures(result)
    signatures = "".join(f"- {label}: `{columns[label]}`\n" for label in header if label in columns)
    atomic_write_text(out / f"{TABLE_STEM}.md", note + tabulate(body, header, tablefmt="github") + "\n"
                      + (f"\nSignatures:\n\n{signatures}" if signatures else ""))
    return [out / f"{TABLE_STEM}.{ext}" for ext in ("json", "csv", "md")]

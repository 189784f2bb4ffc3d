"""Figures of a reproduce run (PNG, byte-reproducible through :func:`m3t_bench.report.figures.save_figure`):
token-frequency distributions FSQ vs VQ per modality (paper Fig. 5 / A.3) with the frequency standard
deviation, and the training curves of the tokenizers, the SMLMs and the back-translation models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from m3t_bench.fileio import atomic_write
from m3t_bench.report.figures import save_figure
from reference_models.reproduce.context import StageContext

QUANTIZER_COLOURS = {"fsq": "#1b7fbd", "vq": "#e08a2c"}
MODALITIES = ("body", "hand", "face")


def _write_png(path: Path, fig) -> Path:
    data = save_figure(fig, "png")
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def token_frequency_figure(counts: dict, out: Path) -> Path:
    """One panel per modality: each code's share of all tokens (%), codes sorted by frequency (rank on x), FSQ
    and VQ overlaid; the legend gives each quantizer's codebook use and frequency SD (``counts`` as written
    by the tokenizer-evaluation stage: quantizer -> modality -> counts, codebook_size, frequency_std)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(4.2 * len(MODALITIES), 3.0))
    axes = fig.subplots(1, len(MODALITIES), squeeze=False).ravel()
    for ax, modality in zip(axes, MODALITIES):
        for quantizer, per_modality in counts.items():
            entry = per_modality[modality]
            c = np.asarray(entry["counts"], dtype=np.float64)
            share = np.sort(c / max(c.sum(), 1.0) * 100.0)[::-1]
            used = int((c > 0).sum())
            ax.bar(np.arange(share.size), share, width=1.0, alpha=0.6, color=QUANTIZER_COLOURS.get(quantizer),
                   label=f"{quantizer.upper()}: SD {entry['frequency_std']:.3g}, {used}/{c.size} codes used")
        ax.set_title(f"{modality} tokens", fontsize=9, loc="left")
        ax.set_xlabel("code rank (most frequent first)", fontsize=8)
        ax.set_ylabel("share of tokens (%)", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _write_png(out, fig)


def _curve_panel(ax, series: dict[str, tuple[list, list]], title: str, ylabel: str) -> None:
    for label, (x, y) in series.items():
        pts = [(a, b) for a, b in zip(x, y) if b is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 12 else None,
                    markersize=3, label=label)
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, frameon=False)


def _history(path: Path) -> list[dict]:
    return json.loads(path.read_text())["history"] if path.is_file() else []


def tokenizer_curves_figure(folders: dict[str, Path], out: Path) -> Path:
    """Training loss and validation vertex error per epoch of every tokenizer (``folders``: quantizer ->
    tokenizer directory with ``<modality>/train_state.json``)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 3.2))
    loss_ax, val_ax = fig.subplots(1, 2)
    loss, val = {}, {}
    for quantizer, folder in folders.items():
        for modality in MODALITIES:
            hist = _history(folder / modality / "train_state.json")
            label = f"{quantizer.upper()} {modality}"
            loss[label] = ([h["epoch"] for h in hist], [h.get("train_loss") for h in hist])
            val[label] = ([h["epoch"] for h in hist], [h.get("val_vertex_error_mm") for h in hist])
    _curve_panel(loss_ax, loss, "tokenizers: training loss", "reconstruction loss")
    _curve_panel(val_ax, val, "tokenizers: validation vertex error", "mm")
    fig.tight_layout()
    return _write_png(out, fig)


def smlm_curves_figure(folders: dict[str, Path], out: Path) -> Path:
    """Production / translation loss and validation DTW-JPE per epoch of each SMLM (``folders``: system ->
    checkpoint folder with ``curves.csv``)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 3.2))
    loss_ax, val_ax = fig.subplots(1, 2)
    loss, val = {}, {}
    for system, folder in folders.items():
        with open(folder / "curves.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        epochs = [int(r["epoch"]) for r in rows]
        for objective in ("production", "translation"):
            values = [float(r[f"{objective}_loss"]) if r.get(f"{objective}_loss") else None for r in rows]
            if any(v is not None for v in values):
                loss[f"{system} {objective}"] = (epochs, values)
        val[system] = (epochs, [float(r["val_dtw_jpe_mm"]) if r.get("val_dtw_jpe_mm") else None for r in rows])
    _curve_panel(loss_ax, loss, "SMLM: training loss", "cross-entropy")
    _curve_panel(val_ax, val, "SMLM: validation DTW-JPE (body, hands)", "mm")
    fig.tight_layout()
    return _write_png(out, fig)


def backtranslation_curves_figure(folders: dict[str, Path], out: Path) -> Path:
    """Validation BLEU-4 (greedy) per epoch of each back-translation model (``folders``: dataset -> model)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    series = {}
    for dataset, folder in folders.items():
        hist = json.loads((folder / "manifest.json").read_text()).get("training", {}).get("history", [])
        series[dataset] = ([h["epoch"] for h in hist], [h.get("val_bleu4") for h in hist])
    _curve_panel(ax, series, "back-translation: validation BLEU-4", "BLEU-4")
    fig.tight_layout()
    return _write_png(out, fig)


def run_figures(ctx: StageContext) -> None:
    """``token_frequency.png``, ``tokenizer_curves.png``, ``smlm_curves.png``, ``backtranslation_curves.png``."""
    counts = json.loads((ctx.inputs["tokenizer-eval"] / "token_counts.json").read_text())
    ctx.step("token-frequency figure")
    token_frequency_figure(counts, ctx.out / "token_frequency.png")
    ctx.step("training curves")
    quantizers = {"fsq": ctx.inputs["tokenizers-fsq"]}
    if ctx.cfg.vq_ablation:
        quantizers["vq"] = ctx.inputs["tokenizers-vq"]
    tokenizer_curves_figure(quantizers, ctx.out / "tokenizer_curves.png")
    smlm_curves_figure({"m3t": ctx.inputs["smlm-slt"], "m3t-wo-slt": ctx.inputs["smlm-no-slt"]},
                       ctx.out / "smlm_curves.png")
    backtranslation_curves_figure({n: ctx.inputs["backtranslation"] / n for n in ctx.continuous},
                                  ctx.out / "backtranslation_curves.png")

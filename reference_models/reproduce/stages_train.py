"""Stages that build or train something: body model, datasets, tokenizers, SMLMs, back-translation models,
SLR probes. Each takes a :class:`~reference_models.reproduce.context.StageContext` and fills ``ctx.out``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from m3t_bench.fileio import atomic_write_text
from reference_models.reproduce.context import SOURCE_FILE, RunSettings, StageContext

MODALITIES = ("body", "hand", "face")
#: Resumable training state that a finished stage no longer needs (kept while a stage can still resume).
RESUME_FILES = ("last.safetensors", "optimizer.safetensors")


def _write_source(ctx: StageContext, path: Path, **extra) -> None:
    atomic_write_text(ctx.out / SOURCE_FILE, json.dumps({"path": str(Path(path).resolve()), **extra}, indent=1) + "\n")


def _drop_resume_state(folder: Path) -> None:
    for name in RESUME_FILES:
        for path in folder.rglob(name):
            path.unlink()


# ------------------------------------------------------------------------------------------ body model
def body_model_params(settings: RunSettings) -> dict:
    """The user's body-model folder and its files' hashes (none: the deterministic stand-in)."""
    from m3t_bench.fileio import sha256_file
    if settings.body_models is None:
        return {"body_models": "standin"}
    root = Path(settings.body_models)
    return {"body_models": str(root.resolve()),
            "files": {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}}


def run_body_model(ctx: StageContext) -> None:
    """Stand-in SMPL-X/FLAME files (byte-identical every time), or a pointer to the user's folder (checked by
    loading it)."""
    from m3t_bench.body import SMPLFX
    if ctx.settings.body_models is None:
        from m3t_bench.body.standin import write_standin_assets
        ctx.step("writing the stand-in SMPL-X/FLAME files")
        write_standin_assets(ctx.out)
        return
    ctx.step("loading the given SMPL-X/FLAME files")
    model = SMPLFX.from_dir(ctx.settings.body_models)
    _write_source(ctx, ctx.settings.body_models, model_id=model.model_id)


# ------------------------------------------------------------------------------------------ datasets
def datasets_params(settings: RunSettings) -> dict:
    """With ``--data-root``: the folder and every split's manifest hash (so edited data reruns the stages)."""
    if settings.data_root is None:
        return {"data_root": None}
    root = Path(settings.data_root)
    cards = {p.parent.relative_to(root).as_posix(): json.loads(p.read_text()).get("manifest_sha256")
             for p in sorted(root.glob("*/*/dataset.json"))}
    return {"data_root": str(root.resolve()), "manifests": cards}


def run_datasets(ctx: StageContext) -> None:
    """SynthSign (``synth_preset``, ``synth_seed``), or a record of the real pseudo-GT under ``--data-root``
    (every dataset the pipeline needs must be there)."""
    if ctx.settings.data_root is None:
        from m3t_bench.synth import generate
        ctx.step(f"generating SynthSign {ctx.cfg.synth_preset} (seed {ctx.cfg.synth_seed})")
        generate(ctx.out, preset=ctx.cfg.synth_preset, seed=ctx.cfg.synth_seed)
        return
    for name in (*ctx.continuous, ctx.isolated):
        for split in ("train", "test"):
            ctx.split(name, split)  # refuses a missing or damaged split with one line
    _write_source(ctx, ctx.settings.data_root, datasets_params(ctx.settings))


# ------------------------------------------------------------------------------------------ tokenizers
def _sequences(ctx: StageContext, split: str) -> tuple[list, dict]:
    seqs, names, hashes = [], [], {}
    for name in ctx.continuous:
        sp = ctx.split(name, split)
        seqs += [sp.load(i) for i in sp.ids]
        names.append(sp.spec.id)
        hashes[sp.spec.id] = sp.manifest_sha256
    return seqs, {"name": "+".join(names), "split": split, "manifest_sha256": hashes}


def train_tokenizers(ctx: StageContext, quantizer: str) -> None:
    """Body, hand and face tokenizers (``quantizer`` ``fsq`` or ``vq``) on the training splits of every
    continuous dataset; checkpoint selection on their validation splits (``ctx.out/<modality>/``)."""
    from reference_models.m3t.config import get_config
    from reference_models.m3t.train import train_tokenizer
    cfg = get_config(ctx.cfg.tokenizer_config).replace(epochs=ctx.cfg.tokenizer_epochs,
                                                       val_samples=ctx.cfg.tokenizer_val_samples)
    train, info = _sequences(ctx, "train")
    val, _ = _sequences(ctx, "val")
    body = ctx.body_model(ctx.cfg.device)
    for k, modality in enumerate(MODALITIES):
        ctx.step(f"{quantizer.upper()} {modality} tokenizer ({k + 1}/3, {cfg.epochs} epochs)")
        result = train_tokenizer(modality, cfg, train, val, ctx.out / modality, quantizer=quantizer, body_model=body,
                                 device=ctx.cfg.device, seed=ctx.cfg.seed, resume=ctx.resume, data_info=info,
                                 progress=False)
        print(f"{quantizer} {modality}: best validation vertex error {result.best_val_mm:.3f} mm at epoch "
              f"{result.best_epoch}, {result.parameters:,} parameters")
    _drop_resume_state(ctx.out)


def run_tokenizers_fsq(ctx: StageContext) -> None:
    train_tokenizers(ctx, "fsq")


def run_tokenizers_vq(ctx: StageContext) -> None:
    if not ctx.cfg.vq_ablation:
        atomic_write_text(ctx.out / "SKIPPED", "vq_ablation is off in this config\n")
        return
    train_tokenizers(ctx, "vq")


# ------------------------------------------------------------------------------------------ SMLM
def train_smlm_stage(ctx: StageContext, p_translate: float) -> None:
    """One multilingual SMLM on every continuous dataset with the FSQ tokenizers (``ctx.out``)."""
    from m3t_bench.datasets import open_split
    from reference_models.m3t.smlm import get_smlm_config
    from reference_models.m3t.smlm_train import train_smlm
    cfg = get_smlm_config(ctx.cfg.smlm_config).replace(epochs=ctx.cfg.smlm_epochs, p_translate=p_translate,
                                                       val_every=ctx.cfg.smlm_val_every,
                                                       val_samples=ctx.cfg.smlm_val_samples)
    train = [open_split(ctx.dataset_dir(n), "train") for n in ctx.continuous]
    val = [open_split(ctx.dataset_dir(n), "val") for n in ctx.continuous]
    ctx.step(f"SMLM {cfg.name}, p_translate {p_translate}, {cfg.epochs} epochs")
    result = train_smlm(cfg, train, val, ctx.inputs["tokenizers-fsq"], ctx.out, body_model=ctx.body_model(),
                        mbart_dir=ctx.settings.mbart, device=ctx.cfg.device, seed=ctx.cfg.seed, resume=ctx.resume,
                        progress=False, log=print)
    print(f"SMLM: best validation DTW-JPE {result.best_val_dtw_jpe_mm:.2f} mm at epoch {result.best_epoch}, "
          f"{result.parameters:,} parameters")
    shutil.rmtree(ctx.out / "token_cache", ignore_errors=True)
    _drop_resume_state(ctx.out)


def run_smlm_slt(ctx: StageContext) -> None:
    train_smlm_stage(ctx, ctx.cfg.smlm_p_translate)


def run_smlm_no_slt(ctx: StageContext) -> None:
    train_smlm_stage(ctx, 0.0)


# ------------------------------------------------------------------------------------------ back-translation
def run_backtranslation(ctx: StageContext) -> None:
    """One back-translation model per continuous dataset, on its ground truth only (``ctx.out/<dataset>/``)."""
    from reference_models.backtranslation.config import get_config
    from reference_models.backtranslation.train import train_backtranslator
    cfg = get_config(ctx.cfg.bt_config).replace(epochs=ctx.cfg.bt_epochs)
    for k, name in enumerate(ctx.continuous):
        target = ctx.out / name
        if ctx.resume and (target / "manifest.json").is_file():
            continue  # finished before an interruption
        ctx.step(f"back-translation {name} ({k + 1}/{len(ctx.continuous)}, {cfg.epochs} epochs)")
        result = train_backtranslator(cfg, ctx.split(name, "train"), ctx.split(name, "val"), target,
                                      device=ctx.cfg.device, seed=ctx.cfg.seed, progress=False)
        print(f"{name}: best validation BLEU-4 {result.best_val_bleu4:.2f} at epoch {result.best_epoch}")


# ------------------------------------------------------------------------------------------ SLR probe
SLR_PROBES = {"face-aware": "body,hand,face", "face-blind": "body,hand"}


def train_and_eval_probe(ctx: StageContext, role: str) -> None:
    """Train the SLR probe on the frozen FSQ encoders and evaluate it on the isolated test split:
    ``ctx.out/ckpt/`` and ``ctx.out/results/<dataset>/slr-probe-<role>.json`` (protocol ``slr@1``)."""
    data = ctx.dataset_dir(ctx.isolated)
    common = ["--data", data, "--body-models", ctx.body_models_dir(), "--device", ctx.cfg.device,
              "--seed", ctx.cfg.seed]
    ctx.step(f"SLR probe {role}: training")
    epochs = [] if ctx.cfg.slr_epochs is None else ["--epochs", ctx.cfg.slr_epochs]
    ctx.cli("train", "slr", *common, "--tokenizer", ctx.inputs["tokenizers-fsq"], "--out", ctx.out / "ckpt",
            "--modalities", SLR_PROBES[role], "--config", ctx.cfg.slr_config, *epochs, "--quiet")
    ctx.step(f"SLR probe {role}: evaluation")
    dataset_id = ctx.split(ctx.isolated, "test").spec.name
    ctx.cli("eval", "slr", *common, "--ckpt", ctx.out / "ckpt", "--split", "test", "--system", f"slr-probe-{role}",
            "--bootstrap", ctx.cfg.score_bootstrap,
            "--json", ctx.out / "results" / dataset_id / f"slr-probe-{role}.json")


def run_slr_face_aware(ctx: StageContext) -> None:
    train_and_eval_probe(ctx, "face-aware")


def run_slr_face_blind(ctx: StageContext) -> None:
    train_and_eval_probe(ctx, "face-blind")

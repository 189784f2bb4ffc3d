"""The pipeline graph: every stage, its inputs, the config fields it reads, in an order that runs each stage
after its inputs (paper order: body model -> datasets -> tokenizers -> SMLMs -> generation -> scoring ->
back-translation -> SLR probe -> tables, figures, renders -> index)."""

from __future__ import annotations

from reference_models.reproduce import stages_eval as ev
from reference_models.reproduce import stages_train as tr
from reference_models.reproduce.context import RunSettings, Stage, StageContext
from reference_models.reproduce.figures import run_figures
from reference_models.reproduce.index import write_index
from reference_models.reproduce.renders import run_renders

TOKENIZER_FIELDS = ("tokenizer_config", "tokenizer_epochs", "tokenizer_val_samples", "device", "seed")
SMLM_FIELDS = ("smlm_config", "smlm_epochs", "smlm_val_every", "smlm_val_samples", "device", "seed")
GENERATE_FIELDS = ("generate_batch_size", "generate_max_len", "device")
SCORE_FIELDS = ("score_bootstrap", "score_jobs", "device", "seed")
SLR_FIELDS = ("slr_config", "slr_epochs", "score_bootstrap", "device", "seed")
BASE = ("body-model", "datasets")


def _index_params(settings: RunSettings, records: dict) -> dict:
    """The index shows every stage's wall time: a stage rerun upstream changes the page."""
    return {"walls": {name: rec.get("wall_s") for name, rec in sorted(records.items())}}


def _run_index(ctx: StageContext) -> None:
    times = [{"name": s.name, "describe": s.describe, "wall_s": ctx.records.get(s.name, {}).get("wall_s"),
              "log": f"logs/{s.name}.log"} for s in STAGES if s.name != "index"]
    write_index(ctx, times, ctx.settings.command)


STAGES: tuple[Stage, ...] = (
    Stage("body-model", (), (), tr.run_body_model, "SMPL-FX body model files (stand-in or yours)", 5,
          params=lambda s, r: tr.body_model_params(s)),
    Stage("datasets", (), ("synth_preset", "synth_seed"), tr.run_datasets, "SynthSign corpus (or your pseudo-GT)", 25,
          params=lambda s, r: tr.datasets_params(s)),
    Stage("tokenizers-fsq", BASE, TOKENIZER_FIELDS, tr.run_tokenizers_fsq, "FSQ-VAE tokenizers: body, hand, face", 240),
    Stage("tokenizers-vq", BASE, ("vq_ablation", *TOKENIZER_FIELDS), tr.run_tokenizers_vq,
          "VQ-VAE tokenizers (ablation)", 240),
    Stage("tokenizer-eval", (*BASE, "tokenizers-fsq", "tokenizers-vq"), ("vq_ablation", "tokenizer_eval_samples", "device", "seed"),
          ev.run_tokenizer_eval, "Table 3 and token frequencies, FSQ vs VQ", 40),
    Stage("smlm-slt", (*BASE, "tokenizers-fsq"), ("smlm_p_translate", *SMLM_FIELDS), tr.run_smlm_slt,
          "SMLM with the translation objective (M3T)", 300),
    Stage("smlm-no-slt", (*BASE, "tokenizers-fsq"), SMLM_FIELDS, tr.run_smlm_no_slt,
          "SMLM without the translation objective (M3T w/o SLT)", 300),
    Stage("generate-slt", ("datasets", "smlm-slt"), GENERATE_FIELDS, ev.run_generate_slt,
          "M3T generates every test sentence", 40),
    Stage("generate-no-slt", ("datasets", "smlm-no-slt"), GENERATE_FIELDS, ev.run_generate_no_slt,
          "M3T w/o SLT generates every test sentence", 40),
    Stage("ground-truth", ("datasets",), (), ev.run_ground_truth, "ground-truth submissions (Table 2 upper bound)", 10),
    Stage("backtranslation", BASE, ("bt_config", "bt_epochs", "device", "seed"), tr.run_backtranslation,
          "back-translation models, ground truth only", 300),
    Stage("score-slt", (*BASE, "generate-slt", "backtranslation"), SCORE_FIELDS, ev.run_score_slt,
          "scoring M3T under m3t@1", 60),
    Stage("score-no-slt", (*BASE, "generate-no-slt", "backtranslation"), SCORE_FIELDS, ev.run_score_no_slt,
          "scoring M3T w/o SLT under m3t@1", 60),
    Stage("score-ground-truth", (*BASE, "ground-truth", "backtranslation"), SCORE_FIELDS, ev.run_score_ground_truth,
          "scoring the ground truth under m3t@1", 60),
    Stage("slr-face-aware", (*BASE, "tokenizers-fsq"), SLR_FIELDS, tr.run_slr_face_aware,
          "SLR probe on body, hand and face encoders", 60),
    Stage("slr-face-blind", (*BASE, "tokenizers-fsq"), SLR_FIELDS, tr.run_slr_face_blind,
          "SLR probe on body and hand encoders", 50),
    Stage("tables", ("tokenizer-eval", "score-slt", "score-no-slt", "score-ground-truth", "slr-face-aware",
                     "slr-face-blind"), (), ev.run_tables, "Tables 1-4 (markdown, LaTeX, CSV)", 5, version=2,
          params=lambda s, r: ev.tables_params(s)),
    Stage("figures", ("tokenizers-fsq", "tokenizers-vq", "tokenizer-eval", "smlm-slt", "smlm-no-slt", "backtranslation"),
          ("vq_ablation",), run_figures, "token-frequency figure, training curves", 10),
    Stage("renders", (*BASE, "generate-slt"), ("render_samples", "render_frames", "render_size"), run_renders,
          "generated vs ground-truth renders (PNG frames, GIF)", 60),
    Stage("index", (*BASE, "tables", "figures", "renders"), (), _run_index, "index.html", 5, version=1,
          params=_index_params, publish=("index.html",)),
)

STAGE_NAMES = tuple(s.name for s in STAGES)


def get_stage(name: str) -> Stage:
    from m3t_bench.errors import unknown_name
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise unknown_name("stage", name, STAGE_NAMES, field="--force")


def downstream(names: set[str]) -> set[str]:
    """``names`` and every stage that depends on one of them, directly or not."""
    out = set(names)
    for stage in STAGES:  # topological order: inputs come first
        if out & set(stage.inputs):
            out.add(stage.name)
    return out

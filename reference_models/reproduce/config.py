"""Settings of a reproduce run: one frozen record per named configuration (``micro``, ``tiny``, ``full``).

Each stage hashes only the fields it uses (:data:`reference_models.reproduce.stages.STAGES` names them), so
changing one field reruns exactly the stages that read it and the stages downstream of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference_models.configuration import JsonConfig

from m3t_bench.errors import UserError

#: The continuous-signing datasets (Tables 1 and 2) and the isolated-sign dataset (Table 4) of SynthSign.
SYNTH_CONTINUOUS = ("synthsign-asl", "synthsign-csl", "synthsign-dgs")
SYNTH_ISOLATED = "synthsign-nmfs"
#: The paper's datasets, when ``--data-root`` holds real pseudo-GT.
REAL_CONTINUOUS = ("how2sign", "csl-daily", "phoenix14t")
REAL_ISOLATED = "nmfs-csl"


@dataclass(frozen=True)
class ReproduceConfig(JsonConfig):
    """What every stage trains and evaluates (``None`` epochs: the model config's own value).

    synth_preset/synth_seed: the SynthSign corpus generated when no ``--data-root`` is given; tokenizer_*:
    FSQ-VAE (and with ``vq_ablation`` the VQ-VAE) config name, epochs, validation samples;
    tokenizer_eval_samples: test samples per dataset for Table 3 and the token-frequency figures;
    smlm_*: SMLM config name, epochs, the translation objective's probability for the "with SLT" model
    (the other model uses 0), validation every N epochs on M samples per dataset; generate_batch_size /
    generate_max_len: samples decoded together and the most tokens per sample (None: the model's default); bt_*: back-translation config and epochs; slr_*: SLR probe config and
    epochs; score_bootstrap/score_jobs: bootstrap resamples of the 95% CIs and DTW workers;
    render_*: samples rendered (per dataset), frames per sample and pixel size of one panel;
    device: ``cpu`` or ``cuda``; seed: of every training run.
    """

    name: str
    synth_preset: str = "small"
    synth_seed: int = 0
    tokenizer_config: str = "tiny"
    tokenizer_epochs: int | None = None
    tokenizer_val_samples: int | None = None
    vq_ablation: bool = True
    tokenizer_eval_samples: int = 20
    smlm_config: str = "tiny"
    smlm_epochs: int | None = None
    smlm_p_translate: float = 0.3
    smlm_val_every: int | None = None
    smlm_val_samples: int | None = None
    generate_batch_size: int = 16
    generate_max_len: int | None = None
    bt_config: str = "tiny"
    bt_epochs: int | None = None
    slr_config: str = "tiny"
    slr_epochs: int | None = None
    score_bootstrap: int = 1000
    score_jobs: int = 2
    render_samples: int = 1
    render_frames: int = 16
    render_size: int = 160
    device: str = "cpu"
    seed: int = 0

    label = "reproduce"


#: CI smoke test: SynthSign tiny, a couple of epochs everywhere, small renders (minutes on 2 cores).
MICRO = ReproduceConfig(name="micro", synth_preset="tiny", tokenizer_epochs=1, tokenizer_val_samples=1,
                        tokenizer_eval_samples=3, smlm_epochs=1, smlm_val_every=1, smlm_val_samples=1,
                        generate_max_len=16, bt_epochs=1, slr_epochs=1, score_bootstrap=50, render_frames=3, render_size=64)

#: The 2-core CPU reproduce on SynthSign small (budget: 30 minutes). Epochs are cut from the model configs'
#: own tiny values so that the whole pipeline fits the budget (see the README's reproduce section).
TINY = ReproduceConfig(name="tiny", synth_preset="small", tokenizer_epochs=10, tokenizer_eval_samples=20,
                       smlm_epochs=30, smlm_val_every=10, smlm_val_samples=10, bt_epochs=8, slr_epochs=20,
                       score_bootstrap=1000, render_samples=1, render_frames=16, render_size=160)

#: The paper's configuration (appendix D) for CUDA: every model's ``full`` config with its own epochs.
FULL = ReproduceConfig(name="full", synth_preset="full", tokenizer_config="full", tokenizer_eval_samples=300,
                       smlm_config="full", smlm_p_translate=0.5, bt_config="full", slr_config="full",
                       score_bootstrap=1000, score_jobs=8, render_samples=2, render_frames=48, render_size=256,
                       device="cuda")

CONFIGS: dict[str, ReproduceConfig] = {c.name: c for c in (MICRO, TINY, FULL)}


def get_config(name: str) -> ReproduceConfig:
    """The named configuration."""
    if name not in CONFIGS:
        raise UserError(f"unknown reproduce config {name!r}; expected one of {', '.join(CONFIGS)}", field="--config")
    return CONFIGS[name]


def with_overrides(cfg: ReproduceConfig, assignments: list[str]) -> ReproduceConfig:
    """``cfg`` with ``FIELD=VALUE`` assignments applied (values parsed as JSON, else taken as strings)."""
    import json
    fields = cfg.to_dict()
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or key not in fields or key == "name":
            raise UserError(f"expected FIELD=VALUE with FIELD one of {', '.join(k for k in fields if k != 'name')}, "
                            f"got {item!r}", field="--set")
        try:
            fields[key] = json.loads(raw)
        except json.JSONDecodeError:
            fields[key] = raw
    return ReproduceConfig.from_dict(fields)

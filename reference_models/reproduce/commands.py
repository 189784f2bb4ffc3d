"""``m3t-bench reproduce``: the whole M3T pipeline into one folder (``make reproduce-m3t``)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from m3t_bench.errors import UserError


def cmd_reproduce(args) -> int:
    import torch
    from reference_models.reproduce.config import get_config, with_overrides
    from reference_models.reproduce.context import RunSettings
    from reference_models.reproduce.runner import Pipeline, wall_time_table
    cfg = with_overrides(get_config(args.config), args.set or [])
    if args.device:
        cfg = cfg.replace(device=args.device)
    for flag, folder in (("--data-root", args.data_root), ("--body-models", args.body_models), ("--mbart", args.mbart)):
        if folder is not None and not Path(folder).is_dir():
            raise UserError(f"{folder} is not a folder", field=flag)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = RunSettings(out=Path(args.out).resolve(), data_root=_resolved(args.data_root),
                           body_models=_resolved(args.body_models), mbart=_resolved(args.mbart),
                           command="m3t-bench " + shlex.join(sys.argv[1:]))
    outcomes = Pipeline(cfg, settings, force=tuple(args.force or ()), progress=not args.quiet).run()
    print(wall_time_table(outcomes))
    print(f"index: {settings.out / 'index.html'}")
    return 0


def _resolved(folder: str | None) -> Path | None:
    return None if folder is None else Path(folder).resolve()


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce", help="the whole M3T pipeline end to end into one folder with an index.html",
        description="Run every stage (body model, datasets, tokenizers, SMLMs, generation, scoring, back-translation, "
                    "SLR probe, tables, figures, renders, index.html). Finished stages whose config and inputs are "
                    "unchanged are skipped; an interrupted run resumes; each stage logs to OUT/logs/<stage>.log.")
    p.add_argument("--config", default="tiny", choices=("micro", "tiny", "full"),
                   help="micro (CI smoke), tiny (2-core CPU, SynthSign small; default) or full (paper, CUDA)")
    p.add_argument("--out", default="runs/reproduce", help="output folder (default runs/reproduce)")
    p.add_argument("--data-root", help="folder with real pseudo-GT (how2sign, csl-daily, phoenix14t, nmfs-csl); "
                                       "default: generate SynthSign")
    p.add_argument("--body-models", help="SMPL-X/FLAME folder (default: $M3T_BODY_MODELS, else the stand-in)")
    p.add_argument("--mbart", help="local mBART-large-cc25 folder for the SMLM (default: random initialisation)")
    p.add_argument("--force", action="append", metavar="STAGE",
                   help="rerun this stage even if unchanged (repeatable); stages whose inputs then change rerun too")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override one config field (repeatable)")
    p.add_argument("--device", help="cpu or cuda (default: the config's)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_reproduce)

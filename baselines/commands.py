"""``m3t-bench baseline NAME --dataset D [--split test] --out DIR`` (registered through the
``m3t_bench.commands`` entry point)."""

from __future__ import annotations

import argparse
from pathlib import Path

from m3t_bench.datasets import add_data_root_argument


def _cmd_baseline(args) -> int:
    from baselines import run_baseline
    options = {"seed": args.seed}
    if args.lexicon is not None:
        options["lexicon_dir"] = args.lexicon
    out = run_baseline(args.name, args.dataset, args.out, split=args.split, data_root=args.data_root, **options)
    print(f"{args.name}: wrote submission {out}")
    return 0


def register(subparsers) -> None:
    """Add ``baseline`` to the ``m3t-bench`` command line."""
    from baselines import BASELINES, baseline_module
    p = subparsers.add_parser(
        "baseline", help="write a baseline system's submission",
        description="Write a baseline's submission folder for a dataset split:\n" + "\n".join(
            f"  {name}: {baseline_module(name).DESCRIPTION}" for name in BASELINES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", help=f"one of {', '.join(BASELINES)}")
    p.add_argument("--dataset", required=True, help="registered dataset name or a dataset/split folder")
    p.add_argument("--split", default="test", help="split to predict (default test); fitted on train")
    p.add_argument("--out", type=Path, required=True, help="submission folder to write")
    add_data_root_argument(p)
    p.add_argument("--seed", type=int, default=0, help="seed (gloss-oracle synthesis; default 0)")
    p.add_argument("--lexicon", type=Path, default=None,
                   help="gloss-oracle: SynthSign lexicon folder (default: <dataset>/../lexicon)")
    p.set_defaults(func=_cmd_baseline)

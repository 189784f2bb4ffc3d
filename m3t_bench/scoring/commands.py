"""``m3t-bench validate``, ``score``, ``table``, ``protocols list|show`` and ``metrics list|show``.

The handlers import the engine, the registries and the body model when they run: every command module is
imported to build the parser, so module-level imports here would make every ``m3t-bench`` call (``--help``
included) pay for numba and the scoring stack.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from m3t_bench import cli_args
from m3t_bench.datasets.loader import add_data_root_argument

DEFAULT_RESULTS_DIR = Path("leaderboards/results")
DEFAULT_REPORTED_DIR = Path("leaderboards/reported")


def _add_dataset_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pred_dir", type=Path, metavar="PRED_DIR", help="folder of <sample_id>.npz predictions")
    p.add_argument("--dataset", required=True, help="registered dataset name (e.g. csl-daily, synthsign-csl) or a "
                                                   "dataset/split folder")
    p.add_argument("--split", default="test", help="split to score against (default: test)")
    add_data_root_argument(p)


def _cmd_validate(args) -> int:
    from m3t_bench.scoring.score import validate_against_split
    sub, split = validate_against_split(args.pred_dir, args.dataset, split=args.split, data_root=args.data_root)
    print(f"{args.pred_dir}: valid submission for {split.spec.id} {split.split} ({len(sub.samples)} samples, "
          f"{sub.kind}; system {sub.meta['system']!r})")
    return 0


def _cmd_score(args) -> int:
    from m3t_bench.report.scores import format_scores
    from m3t_bench.datasets import open_split
    from m3t_bench.scoring.reference_cache import default_cache_dir
    from m3t_bench.scoring.score import check_output_paths, score_submission
    split = open_split(args.dataset, args.split, data_root=args.data_root)
    check_output_paths([args.json, args.per_sample], protected=split.root)  # before the work
    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    report = score_submission(args.pred_dir, args.dataset, split=args.split, protocol=args.protocol,
                              body_models=args.body_models, data_root=args.data_root, jobs=args.jobs,
                              seed=args.seed, bt_hyps=args.bt_hyps, bt_model=args.bt_model, progress=True,
                              cache_dir=cache_dir, device=args.device)
    report.write(json_path=args.json, per_sample_path=args.per_sample)
    print(format_scores(report.results))
    return 0


def _cmd_table(args) -> int:
    from m3t_bench.report.tables import render_table
    reported = None if args.no_reported else args.reported_dir
    sys.stdout.write(render_table(args.results_dir, args.dataset, fmt=args.format, table=args.table,
                                  reported_dir=reported, protocol=args.protocol))
    return 0


def _cmd_list(args) -> int:
    from m3t_bench.report.registry import format_metric_list, format_protocol_list
    print(format_protocol_list() if args.what == "protocols" else format_metric_list())
    return 0


def _cmd_show(args) -> int:
    from m3t_bench.protocols import get_metric, get_protocol
    from m3t_bench.report.registry import format_metric, format_protocol
    print(format_protocol(get_protocol(args.name)) if args.what == "protocols" else format_metric(get_metric(args.name)))
    return 0


def register(subparsers) -> None:
    """Add ``validate``, ``score``, ``table``, ``protocols`` and ``metrics`` to the ``m3t-bench`` command line."""
    from m3t_bench.body import add_body_models_argument

    p = subparsers.add_parser("validate", help="check a submission folder; report every problem at once",
                              description="Check a submission folder against a dataset split and report every "
                                          "problem, one line each. Exit 0 when valid, 2 otherwise.")
    _add_dataset_arguments(p)
    p.set_defaults(func=_cmd_validate)

    p = subparsers.add_parser("score", help="validate then score a submission under a protocol",
                              description="Validate, then score a submission: DTW-JPE / DTW-PA-JPE (body, "
                                          "hands), face DTW-VPE and, with --bt-model or --bt-hyps, back-"
                                          "translation BLEU-4 / ROUGE-L. Table on stdout, progress on stderr.")
    _add_dataset_arguments(p)
    p.add_argument("--protocol", default="m3t@1",
                   help="evaluation protocol (default m3t@1; m3t-bench protocols list shows them all)")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the results JSON here")
    p.add_argument("--per-sample", type=Path, default=None, metavar="OUT.jsonl",
                   help="write per-sample values (one JSON line per sample and metric)")
    p.add_argument("--jobs", type=cli_args.positive, default=1, help="parallel DTW workers (default 1)")
    p.add_argument("--seed", type=cli_args.seed, default=0, help="bootstrap seed for the 95%% CIs (default 0)")
    p.add_argument("--bt-hyps", type=Path, default=None, metavar="FILE",
                   help="back-translation hypotheses: one '<sample_id>\\t<text>' line per sample")
    p.add_argument("--bt-model", type=Path, default=None, metavar="DIR",
                   help="back-translation model folder (e.g. from m3t-bench train bt): decodes the submission's "
                        "motion into text for BLEU-4 / ROUGE-L")
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                   help="reference cache: the split's reference evaluation points, computed once (default "
                        "$M3T_CACHE_DIR or the user's cache directory, m3t-bench/references)")
    p.add_argument("--no-cache", action="store_true", help="compute the references' points without a cache")
    p.add_argument("--device", default=None, metavar="DEVICE",
                   help="torch device for the body-model forward and the DTW cost matrices, e.g. cuda "
                        "(default: the compiled CPU kernels; a device agrees with them within float32 rounding)")
    add_body_models_argument(p)
    p.set_defaults(func=_cmd_score)

    p = subparsers.add_parser("table", help="regenerate leaderboard tables (paper Table 1, 2 or 4)",
                              description="Regenerate a leaderboard table from results files; published numbers "
                                          "are shown in a separate block.")
    p.add_argument("--dataset", default="all", help="dataset name or 'all' (default)")
    p.add_argument("--format", default="md", choices=("md", "latex", "csv"))
    p.add_argument("--table", type=int, default=1, choices=(1, 2, 4),
                   help="1: DTW-PA-JPE / DTW-JPE (default); 2: back-translation R / B4; 4: isolated-sign "
                        "recognition top-1 / top-5 (overall, confusing, normal)")
    p.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                   help=f"folder of <dataset>/<system>.json (default {DEFAULT_RESULTS_DIR})")
    p.add_argument("--reported-dir", type=Path, default=DEFAULT_REPORTED_DIR,
                   help=f"published numbers (default {DEFAULT_REPORTED_DIR})")
    p.add_argument("--no-reported", action="store_true", help="leave the published-numbers block out")
    p.add_argument("--protocol", default=None, help="only results scored under this protocol (default: all; "
                                                    "mixed signatures in a column are refused)")
    p.set_defaults(func=_cmd_table)

    for what, about in (("protocols", "evaluation protocols: their metrics, parameters and signature keys"),
                        ("metrics", "metric definitions: unit, inputs, parts, parameters and signature keys")):
        p = subparsers.add_parser(what, help=f"list or show the registered {about}")
        sub = p.add_subparsers(dest=f"{what}_action", metavar="ACTION", parser_class=type(p))
        sub.required = True
        sub.add_parser("list", help=f"one line per registered {what[:-1]}").set_defaults(func=_cmd_list, what=what)
        show = sub.add_parser("show", help=f"everything about one {what[:-1]}")
        show.add_argument("name", metavar="NAME", help=f"a registered {what[:-1]} (m3t-bench {what} list)")
        show.set_defaults(func=_cmd_show, what=what)


__all__ = ["register"]

"""``m3t-bench site``: the static leaderboard site (:mod:`m3t_bench.report.site`)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_RESULTS_DIR = Path("leaderboards/results")
DEFAULT_REPORTED_DIR = Path("leaderboards/reported")


def _cmd_site(args) -> int:
    from m3t_bench.report.site import build_site
    reported = None if args.no_reported else args.reported
    out = build_site(args.results, args.out, reported_dir=reported)
    print(f"site written to {out}/ (open {out / 'index.html'})")
    return 0


def register(subparsers) -> None:
    """Add ``site`` to the ``m3t-bench`` command line."""
    p = subparsers.add_parser("site", help="build the static leaderboard site (HTML, opens from disk)",
                              description="Build the static leaderboard site from results files: per dataset "
                                          "and protocol sortable tables with signatures, the published numbers "
                                          "apart, a page per system and a page explaining protocols and metrics. "
                                          "Per-sample values (<system>.per-sample.jsonl) and renders "
                                          "(<system>.renders/) beside a results file are shown when present.")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS_DIR,
                   help=f"folder of <dataset>/<system>.json (default {DEFAULT_RESULTS_DIR})")
    p.add_argument("--reported", type=Path, default=DEFAULT_REPORTED_DIR,
                   help=f"published numbers (default {DEFAULT_REPORTED_DIR})")
    p.add_argument("--no-reported", action="store_true", help="leave the published-numbers blocks out")
    p.add_argument("--out", type=Path, default=Path("site"),
                   help="output folder (default site/); replaced as a whole only when the build succeeds")
    p.set_defaults(func=_cmd_site)


__all__ = ["register"]

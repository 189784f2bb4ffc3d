"""``m3t-bench study serve | report | pairs``: the pairwise preference study (paper appendix A.1)."""

from __future__ import annotations

import sys
from pathlib import Path

from m3t_bench import cli_args


def _cmd_serve(args) -> int:
    from m3t_bench.study.app import serve
    serve(args.pairs, args.db, host=args.host, port=args.port)
    return 0


def _cmd_report(args) -> int:
    from m3t_bench.study.report import build_report, render_markdown, write_report
    report = build_report(args.db)
    sys.stdout.write(render_markdown(report))
    if args.out is not None:
        for path in write_report(report, args.out):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _cmd_pairs(args) -> int:
    from m3t_bench.study.pairs import build_pairs

    def load_model():
        from m3t_bench.body import SMPLFX, resolve_body_models
        return SMPLFX.from_dir(resolve_body_models(args.body_models))

    path = build_pairs(args.a, args.b, args.out, n=args.n, seed=args.seed, dataset=args.dataset, split=args.split,
                       data_root=args.data_root, name_a=args.name_a, name_b=args.name_b, add=args.add,
                       load_model=load_model, fps=args.fps,
                       clip_options={"size": args.size, "max_frames": args.max_frames, "fps_out": args.clip_fps})
    print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    """Add ``study`` with its sub-commands to the ``m3t-bench`` command line."""
    study = subparsers.add_parser("study", help="pairwise preference study: serve, report, pairs",
                                  description="The pairwise preference study of the M3T paper (appendix A.1): "
                                              "build the pairs, serve the rating app, report the preferences.")
    sub = study.add_subparsers(dest="study_command", metavar="COMMAND", parser_class=type(study), required=True)

    p = sub.add_parser("serve", help="run the local rating web app",
                       description="Serve the rating app: each rater sees every pair once, in a random order with "
                                   "a random left/right arrangement, and answers the paper's two questions. "
                                   "Votes go to an SQLite file; raters resume with the same id.")
    p.add_argument("--pairs", type=Path, required=True, metavar="PAIRS.json", help="pairs file (m3t-bench study pairs)")
    p.add_argument("--db", type=Path, required=True, metavar="study.sqlite",
                   help="SQLite file of votes (created on first use; bound to this pairs file)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=cli_args.int_range(1, 65535), default=8000, help="port (default 8000)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("report", help="preference shares, 95%% intervals, sign test, bar chart",
                       description="Tally the votes: per question the shares preferring each system or neither "
                                   "(Wilson 95%% intervals) and a two-sided sign test; a markdown table on stdout, "
                                   "with --out also preference.{md,json,png}.")
    p.add_argument("--db", type=Path, required=True, metavar="study.sqlite")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="also write preference.md/.json/.png here")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("pairs", help="build PAIRS.json from two systems' renders or predictions",
                       description="Pick N samples both systems have and write OUT/pairs.json with one clip per "
                                   "system: a system's render <id>.gif|png|mp4|webm is copied; otherwise its "
                                   "<id>.npz prediction is rendered to an animated GIF (SMPL-FX).")
    p.add_argument("--a", type=Path, required=True, metavar="DIR", help="system A: renders or a submission folder")
    p.add_argument("--b", type=Path, required=True, metavar="DIR", help="system B: renders or a submission folder")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="study folder (pairs.json + media/)")
    p.add_argument("--name-a", default=None, help="name of system A (default: its meta.json 'system', else folder)")
    p.add_argument("--name-b", default=None, help="name of system B")
    p.add_argument("--n", type=cli_args.positive, default=6, help="number of pairs (default 6, as in the paper)")
    p.add_argument("--seed", type=cli_args.seed, default=0, help="seed of the sample choice (default 0)")
    p.add_argument("--dataset", default=None, help="dataset name or folder: sentences and frame rate")
    p.add_argument("--split", default="test")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--add", action="store_true", help="append to an existing OUT/pairs.json (same two systems)")
    p.add_argument("--fps", type=float, default=None, help="frame rate of the predictions without --dataset (25)")
    p.add_argument("--size", type=cli_args.positive, default=256, help="rendered clip size in pixels (default 256)")
    p.add_argument("--max-frames", type=cli_args.positive, default=48, help="frames per rendered clip at most (default 48)")
    p.add_argument("--clip-fps", type=float, default=10.0, help="rendered frames per second of motion (default 10)")
    from m3t_bench.body import add_body_models_argument
    add_body_models_argument(p)
    p.set_defaults(func=_cmd_pairs)


__all__ = ["register"]

"""``m3t-bench assets standin --out DIR``: write the deterministic stand-in body-model folder."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    assets = subparsers.add_parser("assets", help="generated assets (stand-in body model)")
    sub = assets.add_subparsers(dest="assets_command", metavar="ASSET", parser_class=type(assets))
    standin = sub.add_parser("standin", help="write stand-in SMPL-X/FLAME/correspondence files (official formats)")
    standin.add_argument("--out", required=True, metavar="DIR", help="folder to write (created if missing)")
    standin.set_defaults(func=_standin)


def _standin(args: argparse.Namespace) -> int:
    from m3t_bench.body.files import locate_body_model_files
    from m3t_bench.body.standin import write_standin_assets
    out = write_standin_assets(args.out)
    print(f"wrote stand-in body models to {out} (model id {locate_body_model_files(out).model_id}); "
          f"use --body-models {out} or M3T_BODY_MODELS={out}")
    return 0

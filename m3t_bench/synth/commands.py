"""``m3t-bench synth``: generate a SynthSign corpus and print its summary (or summarise an existing one)."""

from __future__ import annotations

import sys
import time

from m3t_bench import cli_args
from m3t_bench.errors import UserError
from m3t_bench.synth.presets import PRESETS


def register(subparsers) -> None:
    p = subparsers.add_parser("synth", help="generate the SynthSign procedural corpus",
                              description="Generate SynthSign (seeded; same seed -> byte-identical files).")
    p.add_argument("--out", help="output folder (one sub-folder per dataset, plus lexicon/)")
    p.add_argument("--summary", metavar="DIR", help="only print the summary (sizes and face statistics) of the "
                                                    "corpus already in DIR")
    p.add_argument("--preset", choices=list(PRESETS), default="small", help="corpus size (default: small)")
    p.add_argument("--seed", type=cli_args.seed, default=0, help="random seed (default: 0)")
    p.add_argument("--annotations", default="none", metavar="DIR|auto|none",
                   help="take sentences and glosses from real annotation files: a folder laid out like "
                        "../shared/data, 'auto' ($M3T_DATA or ../shared/data if present), or 'none' "
                        "(built-in grammar; default)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from m3t_bench.synth.generate import generate
    from m3t_bench.synth.summary import summarize

    if (args.out is None) == (args.summary is None):
        raise UserError("give either --out DIR (generate) or --summary DIR (summarise an existing corpus)",
                        field="--out")
    if args.summary is not None:
        print(summarize(args.summary))
        return 0
    start = time.perf_counter()
    out = generate(args.out, preset=args.preset, seed=args.seed, annotations=args.annotations,
                   progress=not args.quiet and sys.stderr.isatty())
    print(summarize(out))
    print(f"generated in {time.perf_counter() - start:.1f} s")
    return 0

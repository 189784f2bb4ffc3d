"""``python -m m3t_bench.bench [--quick] [NAME ...]``: run the speed benchmarks.

Every module ``m3t_bench/bench/<name>.py`` exposing ``run(quick: bool) -> list[str]`` is a benchmark;
each prints absolute figures and ratios against the peers' way of doing the same work, measured in the
same run. Figures depend on the machine: the header records it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import sys
import time

import m3t_bench.bench as bench_pkg
from m3t_bench.cli import plain_text


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench_pkg.__path__) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m m3t_bench.bench", description=plain_text(__doc__))
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(available())})")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (smoke run)")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    print(f"# m3t_bench benchmarks — {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    for name in names:
        module = importlib.import_module(f"m3t_bench.bench.{name}")
        print(f"\n## {name}")
        t0 = time.perf_counter()
        for line in module.run(quick=args.quick):
            print(line, flush=True)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

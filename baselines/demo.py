"""``python -m m3t_bench.demo --work DIR`` (what ``make demo`` runs): the main job on the embedded default.

Stages: stand-in body model files -> one SMPL-FX forward pass rendered to a PNG -> SynthSign ``small``
(with a one-screen summary) -> every baseline writes a submission -> each is scored under ``m3t@1`` ->
the leaderboard table is printed. Every stage uses the same code a user calls from the CLI.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _stage(title: str):
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def run(work: Path, *, preset: str = "small", seed: int = 0, jobs: int = 2) -> int:
    from m3t_bench.body import SMPLFX
    from m3t_bench.body.demo import render_frame
    from m3t_bench.body.standin import write_standin_assets
    from m3t_bench.scoring import demo_pipeline
    from m3t_bench.synth import generate, summarize

    work.mkdir(parents=True, exist_ok=True)
    t = _stage("stand-in body model (SMPL-X / FLAME / correspondence files in the official formats)")
    assets = write_standin_assets(work / "body-models")
    model = SMPLFX.from_dir(assets)
    png = render_frame(model, None, work / "frame0.png")
    print(f"model {model.model_id}: {model.n_vertices} vertices, {len(model.joint_names)} joints; "
          f"rendered {png} ({time.perf_counter() - t:.1f} s)")

    t = _stage(f"SynthSign '{preset}' (seed {seed})")
    data = generate(work / "synthsign", preset=preset, seed=seed, annotations=None)
    print(summarize(data))
    print(f"({time.perf_counter() - t:.1f} s)")

    t = _stage("baselines -> score (protocol m3t@1) -> leaderboard")
    print(demo_pipeline(work, body_models=assets, data=data, jobs=jobs))
    print(f"({time.perf_counter() - t:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m m3t_bench.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    parser.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    from m3t_bench.errors import UserError
    try:
        return run(args.work, preset=args.preset, seed=args.seed, jobs=args.jobs)
    except UserError as exc:
        print(f"m3t-bench demo: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``python -m baselines.demo --work DIR`` (what ``make demo`` runs): the main job on the embedded default.

Stages: stand-in body model files -> SynthSign ``small`` (with a one-screen summary) -> one SMPL-FX forward
pass of a test frame rendered to a PNG -> every baseline writes a submission -> each is scored under ``m3t@1`` ->
results filed as ``DIR/leaderboards/results/<dataset>/<system>.json`` -> the leaderboard table is printed.
Every stage uses the same code a user calls from the CLI. It lives in ``baselines`` because it drives both
the toolkit and the systems (``m3t_bench`` never imports ``baselines``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from baselines import BASELINES, run_baseline
from m3t_bench.cli import plain_text
from m3t_bench.errors import UserError

#: SynthSign datasets the demo scores (the continuous-signing ones; ``synthsign-nmfs`` is isolated signs).
DEMO_DATASETS = ("synthsign-asl", "synthsign-csl", "synthsign-dgs")


def score_baselines(work_dir: Path, *, model, data: Path, jobs: int = 2, seed: int = 0,
                    datasets: tuple[str, ...] = DEMO_DATASETS, protocol: str = "m3t@1") -> Path:
    """Run every baseline on the ``test`` split of each SynthSign dataset under ``data`` (the folder written by
    :func:`m3t_bench.synth.generate`), score each under ``protocol`` with ``model`` and file the results as
    ``work_dir/leaderboards/results/<dataset>/<system>.json``; returns that results folder."""
    from m3t_bench.scoring.score import score_submission

    results_dir = work_dir / "leaderboards" / "results"
    for dataset in datasets:
        for name in BASELINES:
            t = time.perf_counter()
            sub = run_baseline(name, data / dataset, work_dir / "submissions" / dataset / name, seed=seed)
            report = score_submission(sub, data / dataset, protocol=protocol, model=model, jobs=jobs, seed=seed)
            report.write_json(results_dir / dataset / f"{name}.json")
            print(f"  {dataset}: {name} scored ({time.perf_counter() - t:.1f} s)", flush=True)
    return results_dir


def _stage(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def run(work: Path, *, preset: str = "small", seed: int = 0, jobs: int = 2,
        datasets: tuple[str, ...] = DEMO_DATASETS) -> int:
    from m3t_bench.body import SMPLFX
    from m3t_bench.body.demo import render_frame
    from m3t_bench.body.standin import write_standin_assets
    from m3t_bench.datasets import open_split
    from m3t_bench.report.tables import render_table
    from m3t_bench.synth import generate, summarize

    work.mkdir(parents=True, exist_ok=True)
    t = _stage("stand-in body model (SMPL-X / FLAME / correspondence files in the official formats)")
    assets = write_standin_assets(work / "body-models")
    model = SMPLFX.from_dir(assets)
    print(f"model {model.model_id}: {model.template.shape[0]} vertices, {len(model.joint_names)} joints "
          f"({time.perf_counter() - t:.1f} s)")

    t = _stage(f"SynthSign '{preset}' (seed {seed})")
    data = generate(work / "synthsign", preset=preset, seed=seed, annotations=None)
    print(summarize(data))
    sample = open_split(data / datasets[0], "test")
    first = sample.ids[0]
    png = render_frame(model, sample.load(first), work / "frame0.png")
    print(f"SMPL-FX forward pass of the middle frame of {datasets[0]}/test/{first} rendered to {png} "
          f"({time.perf_counter() - t:.1f} s)")

    t = _stage(f"baselines -> score (protocol m3t@1, --jobs {jobs}) -> leaderboard")
    results = score_baselines(work, model=model, data=data, jobs=jobs, seed=seed, datasets=datasets)
    print(render_table(results, "all", fmt="md", table=1))
    print(f"\nresults: {results}  ({time.perf_counter() - t:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baselines.demo", description=plain_text(__doc__))
    parser.add_argument("--work", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    parser.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--datasets", nargs="+", default=list(DEMO_DATASETS), metavar="NAME",
                        help=f"SynthSign datasets to score (default: {' '.join(DEMO_DATASETS)})")
    args = parser.parse_args(argv)
    try:
        return run(args.work, preset=args.preset, seed=args.seed, jobs=args.jobs, datasets=tuple(args.datasets))
    except UserError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

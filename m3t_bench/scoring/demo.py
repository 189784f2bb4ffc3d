"""The scoring stage of ``make demo``: every baseline on SynthSign, scored, filed, tabulated.

The baselines live in the top-level ``baselines`` package (they are systems, not toolkit); this stage is the
one place in ``m3t_bench`` that drives them, imported lazily so the toolkit never needs them otherwise.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from m3t_bench.errors import UserError

#: The demo scores one language to stay within ~3 minutes on 2 cores (face DTW-VPE over 5,023 vertices
#: dominates); pass ``datasets=ALL_SYNTHSIGN`` for all three.
DEMO_DATASETS = ("synthsign-csl",)
ALL_SYNTHSIGN = ("synthsign-asl", "synthsign-csl", "synthsign-dgs")


def demo_pipeline(work_dir: str | Path, *, body_models: str | Path, data: str | Path, jobs: int = 2, seed: int = 0,
                  datasets: tuple[str, ...] = DEMO_DATASETS, protocol: str = "m3t@1") -> str:
    """Run every baseline on the ``test`` split of each SynthSign dataset under ``data`` (the folder written
    by :func:`m3t_bench.synth.generate`), score each under ``protocol`` with the body model in ``body_models``,
    write ``work_dir/leaderboards/results/<dataset>/<system>.json`` and return the Table 1 markdown."""
    try:
        baselines = importlib.import_module("baselines")
    except ModuleNotFoundError:
        raise UserError("the 'baselines' package is not importable; install the project (pip install -e .)") from None
    from m3t_bench.body import SMPLFX
    from m3t_bench.report.tables import render_table
    from m3t_bench.scoring.score import score_submission

    work_dir, data = Path(work_dir), Path(data)
    model = SMPLFX.from_dir(body_models)
    results_dir = work_dir / "leaderboards" / "results"
    for dataset in datasets:
        for name in baselines.BASELINES:
            sub = baselines.run_baseline(name, data / dataset, work_dir / "submissions" / dataset / name, seed=seed)
            report = score_submission(sub, data / dataset, protocol=protocol, model=model, jobs=jobs, seed=seed)
            report.write_json(results_dir / dataset / f"{name}.json")
            print(f"  {dataset}: {name} scored", flush=True)
    return render_table(results_dir, "all", fmt="md", table=1)

"""Baseline systems that write valid m3t_bench submissions (``m3t-bench baseline NAME ...``).

Each baseline module exposes ``DESCRIPTION`` and ``predict(train, test, **options) -> {id: MotionSequence}``
(``train``/``test`` are opened :class:`m3t_bench.datasets.Split` objects); :func:`run_baseline` opens the
splits and writes the submission folder with its ``meta.json``. All are deterministic.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from m3t_bench.errors import unknown_name

#: Baseline name -> module (under ``baselines``).
BASELINES = {
    "ground-truth": "ground_truth",
    "mean-pose": "mean_pose",
    "nearest-neighbour": "nearest_neighbour",
    "gloss-oracle": "gloss_oracle",
}


def baseline_module(name: str):
    """The module implementing baseline ``name`` (UserError with the known names otherwise)."""
    if name not in BASELINES:
        raise unknown_name("baseline", name, BASELINES)
    return importlib.import_module(f"baselines.{BASELINES[name]}")


def run_baseline(name: str, dataset: str | Path, out_dir: str | Path, *, split: str = "test",
                 train_split: str = "train", data_root: str | Path | None = None, **options) -> Path:
    """Run baseline ``name`` on ``dataset``'s ``split`` (fitting on ``train_split``); write the submission."""
    from baselines.common import write_submission
    from m3t_bench.datasets import open_split
    module = baseline_module(name)
    test = open_split(dataset, split, data_root=data_root)
    train = open_split(dataset, train_split, data_root=data_root) if name != "ground-truth" else None
    predictions = module.predict(train, test, **options)
    return write_submission(out_dir, predictions, system=name)


__all__ = ["BASELINES", "baseline_module", "run_baseline"]

"""`make demo`'s driver end to end on the tiny preset: every stage runs and the table it prints has the
right systems, with ground truth at exactly zero error."""

from __future__ import annotations

import json

import pytest

from baselines import BASELINES
from baselines.demo import run


@pytest.mark.slow
def test_demo_runs_every_stage_on_tiny(tmp_path, capsys):
    assert run(tmp_path, preset="tiny", datasets=("synthsign-dgs",)) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "frame0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "synthsign-dgs" in out and "Table 1" in out
    results = tmp_path / "leaderboards" / "results" / "synthsign-dgs"
    assert sorted(p.stem for p in results.glob("*.json")) == sorted(BASELINES)
    for name in BASELINES:
        assert f"| {name} |" in out
    gt = json.loads((results / "ground-truth.json").read_text())
    joint_scores = [s for s in gt["scores"] if s["metric"] in ("dtw-jpe", "dtw-vpe")]
    assert joint_scores and all(s["value"] == 0.0 for s in joint_scores)

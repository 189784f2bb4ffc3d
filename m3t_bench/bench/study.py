"""The preference-study app under load: simulated raters voting concurrently against a live server on
localhost (absolute figures; the target is "nothing lost", the rate is for the record)."""

from __future__ import annotations

import tempfile

from m3t_bench.study.loadtest import run_load_test


def run(quick: bool) -> list[str]:
    """20 raters x 50 votes (5 x 10 with ``quick``): votes/s, latency, server CPU per vote, lost votes."""
    raters, votes = (5, 10) if quick else (20, 50)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_load_test(tmp, raters=raters, votes=votes)
    return [f"study app: {result.summary()}"]

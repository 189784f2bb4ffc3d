"""The human-readable scores of one results file, as ``m3t-bench score`` prints them."""

from __future__ import annotations

from tabulate import tabulate


def format_scores(results: dict) -> str:
    """One row per number (value, 95% CI, n, unit), then each number's signature and the skipped metrics."""
    rows = [[s["metric"], s["part"], f"{s['value']:.3f}",
             "" if s["ci95"] is None else f"[{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]", s["n"], s["unit"]]
            for s in results["scores"]]
    ds = results["dataset"]
    head = (f"{results['system']['system']} on {ds['name']}@{ds['version']} {ds['split']} "
            f"({results['predictions']['kind']}), protocol {results['protocol']}, body model "
            f"{results['body_model']['model_id']}")
    lines = [head, tabulate(rows, headers=["metric", "part", "value", "95% CI", "n", "unit"], tablefmt="github")]
    lines += [f"{s['metric']}/{s['part']}: {s['signature']}" for s in results["scores"]]
    lines += [f"skipped {s['metric']}/{s['part']}: {s['reason']}" for s in results["skipped"]]
    return "\n".join(lines)

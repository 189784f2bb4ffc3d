"""``m3t-bench baseline ...`` (registered through the ``m3t_bench.commands`` entry point)."""


def register(subparsers) -> None:
    """Baseline sub-commands are added by the scoring work (issue: score/validate/baselines)."""

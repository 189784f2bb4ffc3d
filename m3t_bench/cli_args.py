"""Argument types shared by every command: integers in a stated range, checked by argparse so that a bad value
is one ``m3t-bench: error: argument --seed: ...`` line with exit 2 before any work starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable

#: Seeds are fed to numpy/torch generators, which take unsigned 32-bit values at most on every platform.
MAX_SEED = 2**32 - 1


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` accepting a decimal integer ``low <= n <= high`` (``high`` ``None``: no bound)."""
    expected = f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r}; expected {expected}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value}; expected {expected}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its own messages
    return parse


#: ``--seed`` of every command.
seed = int_range(0, MAX_SEED)
#: Counts that must be at least one (epochs, batch sizes, jobs, samples).
positive = int_range(1)

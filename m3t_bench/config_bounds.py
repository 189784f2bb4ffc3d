"""Bounds of configuration fields read from a user's file (a checkpoint's ``config.json``, ``fit --config``):
checked before anything is built, so a config cannot ask for gigabytes of weights, a million layers, a
million optimiser steps or a non-number. Each config class states its bounds beside its fields."""

from __future__ import annotations

import math


def check_bounds(config, int_bounds: dict[str, tuple[int, int]],
                 float_bounds: dict[str, tuple[float, float]] | None = None) -> None:
    """``ValueError`` (one line naming the field) unless every field of ``int_bounds`` holds an integer and
    every field of ``float_bounds`` a finite number within its inclusive ``(low, high)`` bounds: a config read
    from a checkpoint cannot ask for gigabytes of weights, a million layers or a non-number before anything
    is built."""
    for key, (low, high) in int_bounds.items():
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{key} {value!r:.40}: expected an integer from {low} to {high}")
    for key, (low, high) in (float_bounds or {}).items():
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            raise ValueError(f"{key} {value!r:.40}: expected a finite number from {low:g} to {high:g}")


def check_name(name) -> None:
    """``ValueError`` unless a config's ``name`` is 1-64 printable characters."""
    if not isinstance(name, str) or not name.isprintable() or not 1 <= len(name) <= 64:
        raise ValueError(f"name {name!r:.80}: expected 1-64 printable characters")

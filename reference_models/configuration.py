"""The JSON round trip shared by the reference models' configuration dataclasses (a checkpoint stores the
config that made it)."""

from __future__ import annotations

import dataclasses
import math

from m3t_bench.errors import UserError


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


class JsonConfig:
    """Mixin for frozen dataclass configs: :meth:`replace`, :meth:`to_dict` (tuples become lists) and
    :meth:`from_dict` (unknown or missing fields, invalid values: :class:`UserError`). ``label`` names the
    kind of config in messages."""

    label = "model"

    def replace(self, **changes):
        """A copy with some fields changed (``None`` values are ignored); :class:`UserError` when invalid."""
        try:
            return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        except (TypeError, ValueError) as exc:
            raise UserError(f"invalid {self.label} config ({exc})", field="config") from None

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict, *, file=None):
        """Rebuild a config from its JSON form."""
        if not isinstance(data, dict):
            raise UserError(f"expected the {cls.label} config as a JSON object", file=file, field="config")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError(f"unknown {cls.label} config field(s) {unknown}", file=file, field="config")
        try:
            return cls._from_fields(data)
        except (TypeError, ValueError) as exc:
            raise UserError(f"invalid {cls.label} config ({exc})", file=file, field="config") from None

    @classmethod
    def _from_fields(cls, data: dict):
        """The config from its checked top-level fields; a config with nested configs rebuilds them here."""
        return cls(**data)

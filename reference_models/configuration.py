"""The JSON round trip shared by the reference models' configuration dataclasses (a checkpoint stores the
config that made it)."""

from __future__ import annotations

import dataclasses

from m3t_bench.errors import UserError


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

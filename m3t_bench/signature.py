"""Signatures: every reported number carries the settings that produced it, sacrebleu-style.

``dtw-jpe@1|part:body|align:root|norm:path|unit:mm|dtw:exact|bm:smplfx-standin@1|ds:csl-daily@1|v:0.1.0``

The first field is ``<metric id>@<metric version>``; then ``key:value`` fields in a fixed order (known keys
in :data:`KEY_ORDER`, any other key after them alphabetically), the toolkit version ``v`` always last.
Keys: ``part`` (joint/vertex set or ``text``), ``align``, ``norm``, ``unit``, ``dtw`` (``exact`` or
``fastdtw-r<radius>``), ``tok`` (text tokenisation), ``bt`` (back-translation model id), ``boot``
(``<resamples>-s<seed>``), ``bm`` (body-model id), ``ds`` (dataset@version), ``proto`` (protocol).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from m3t_bench import __version__
from m3t_bench.errors import UserError

KEY_ORDER = ("part", "align", "norm", "unit", "dtw", "tok", "bt", "boot", "bm", "ds", "proto")
_FORBIDDEN = "|:\n"


def _check_text(text: str, what: str) -> str:
    text = str(text)
    if not text or any(ch in text for ch in _FORBIDDEN):
        raise UserError(f"signature {what} {text!r} must be non-empty and free of '|', ':' and newlines",
                        field="signature")
    return text


@dataclass(frozen=True)
class Signature:
    """A metric id, its version and the ordered ``(key, value)`` fields (toolkit version last)."""

    metric: str
    version: int
    fields: tuple[tuple[str, str], ...]

    @classmethod
    def build(cls, metric: str, version: int, params: Mapping[str, object], *,
              toolkit_version: str = __version__) -> Signature:
        """Signature from the parameters actually used; ``None`` values are left out."""
        items = {_check_text(k, "key"): _check_text(v, "value") for k, v in params.items() if v is not None}
        if "v" in items:
            raise UserError("'v' is reserved for the toolkit version", field="signature")
        known = [k for k in KEY_ORDER if k in items]
        others = sorted(k for k in items if k not in KEY_ORDER)
        ordered = tuple((k, items[k]) for k in [*known, *others]) + (("v", _check_text(toolkit_version, "version")),)
        return cls(_check_text(metric, "metric"), int(version), ordered)

    @classmethod
    def parse(cls, text: str) -> Signature:
        """Inverse of ``str(signature)``; raises :class:`UserError` on a malformed string."""
        head, *rest = str(text).strip().split("|")
        metric, at, version = head.partition("@")
        if not at or not version.isdigit() or not rest:
            raise UserError(f"{text!r} is not a signature like 'dtw-jpe@1|part:body|...|v:0.1.0'",
                            field="signature")
        fields = []
        for item in rest:
            key, colon, value = item.partition(":")
            if not colon:
                raise UserError(f"field {item!r} of signature {text!r} is not key:value", field="signature")
            fields.append((key, value))
        if fields[-1][0] != "v":
            raise UserError(f"signature {text!r} must end with the toolkit version 'v:<version>'", field="signature")
        params = dict(fields[:-1])
        built = cls.build(metric, int(version), params, toolkit_version=fields[-1][1])
        if str(built) != str(text).strip():
            raise UserError(f"signature {text!r} is not in canonical key order", field="signature")
        return built

    @property
    def params(self) -> dict[str, str]:
        """The fields as a dict (toolkit version under ``v``)."""
        return dict(self.fields)

    def __str__(self) -> str:
        return "|".join([f"{self.metric}@{self.version}", *(f"{k}:{v}" for k, v in self.fields)])

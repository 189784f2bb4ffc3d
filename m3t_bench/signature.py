"""Signatures: every reported number carries the settings that produced it, sacrebleu-style.

``dtw-jpe@1|part:body|align:root|norm:path|unit:mm|dtw:exact|bm:smplfx-standin@1|ds:csl-daily@1|v:0.1.0``

The first field is ``<metric id>@<metric version>``; then ``key:value`` fields in a fixed order (the keys of
:data:`SIGNATURE_KEYS`, in its order; any other key after them alphabetically), the toolkit version ``v``
always last. :data:`SIGNATURE_KEYS` is the one declaration of the known keys: what each means and how its
value is found in the settings of a number (its protocol item's parameters and part, and the run's context);
each metric spec (:mod:`m3t_bench.protocols`) names the keys its numbers carry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from m3t_bench import __version__
from m3t_bench.errors import UserError
from m3t_bench.metrics.text import tokenizer_id

_FORBIDDEN = "|:\n"


@dataclass(frozen=True)
class SignatureKey:
    """A signature key: ``name``, what it ``means``, and ``value``: the function that finds its value in the
    settings of a number (a mapping of the protocol item's parameters, ``part``, and the run's context:
    ``language``, ``backend``, ``bm``, ``ds``, ``bt``, ``boot``, ``proto``); ``None`` leaves the key out."""

    name: str
    means: str
    value: Callable[[Mapping[str, object]], object]


def _setting(name: str) -> Callable[[Mapping[str, object]], object]:
    return lambda settings: settings.get(name)


def _dtw_backend(settings: Mapping[str, object]) -> str | None:
    """The DTW ``backend`` used (``exact``), or ``fastdtw-r<fastdtw_radius>``."""
    used = settings.get("backend")
    if used is None:
        return None
    return f"fastdtw-r{settings.get('fastdtw_radius', 1)}" if used == "fastdtw" else str(used)


def _text_tokenisation(settings: Mapping[str, object]) -> str:
    if settings.get("language") is None:
        raise UserError("a text metric needs the dataset language for its signature", field="language")
    return tokenizer_id(str(settings["language"]), str(settings.get("zh_tokenize", "jieba")))


#: The known keys in canonical order (the toolkit version ``v`` follows them all).
SIGNATURE_KEYS: tuple[SignatureKey, ...] = (
    SignatureKey("part", "what the number is reported for: a joint/vertex set, a modality, text or a class "
                         "subset", _setting("part")),
    SignatureKey("align", "alignment before the frame cost: root (translation), procrustes or none",
                 _setting("align")),
    SignatureKey("norm", "DTW normalisation: path (mean over the warping path), ref (per reference frame) or "
                         "sum (raw path sum)", _setting("norm")),
    SignatureKey("unit", "unit of the number (mm or m)", _setting("unit")),
    SignatureKey("dtw", "DTW used: exact or fastdtw-r<radius>", _dtw_backend),
    SignatureKey("tok", "text tokenisation (13a-lc, jieba-<version>-lc, zh-char-lc)", _text_tokenisation),
    SignatureKey("bt", "back-translation source: a model id, or hyps-<sha256 prefix> of a hypotheses file",
                 _setting("bt")),
    SignatureKey("boot", "bootstrap of the 95% CI: <resamples>-s<seed>", _setting("boot")),
    SignatureKey("bm", "body-model id (smplfx-standin@1 or smplfx-<sha256 prefix> of real files)", _setting("bm")),
    SignatureKey("ds", "dataset id <name>@<version>", _setting("ds")),
    SignatureKey("proto", "protocol <name>@<version>", _setting("proto")),
)
KEY_ORDER: tuple[str, ...] = tuple(key.name for key in SIGNATURE_KEYS)
_KEYS: Mapping[str, SignatureKey] = {key.name: key for key in SIGNATURE_KEYS}


def signature_fields(keys: tuple[str, ...], settings: Mapping[str, object]) -> dict[str, object]:
    """The values of ``keys`` (names in :data:`KEY_ORDER`) found in ``settings`` (see :class:`SignatureKey`)."""
    return {name: _KEYS[name].value(settings) for name in keys}


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

"""The one registry of metric specs, and the evaluation protocols built on it (frozen after import).

A metric spec says what a metric id means (version, unit, direction, the keyword parameters it takes);
a protocol is a versioned list of items, each = (metric id, part, joint-set name, parameters), where the
parameters are the keyword arguments of the metric function (:mod:`m3t_bench.metrics`). A breaking change
to a metric or protocol gets a new version (``@2``), never a silent edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from m3t_bench.errors import UserError, unknown_name
from m3t_bench.signature import Signature


@dataclass(frozen=True)
class MetricSpec:
    """``id``, ``version``, ``unit`` (``mm``/``m`` via parameter, ``%``, ``BLEU``...), ``higher_is_better``,
    ``parameters`` (keyword names the metric function takes), ``description``."""

    id: str
    version: int
    unit: str
    higher_is_better: bool
    parameters: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class ProtocolItem:
    """One number of a protocol: metric id, part (what it is reported for), joint/vertex set name (None for
    text/token metrics) and the metric function's keyword parameters (read-only)."""

    metric: str
    part: str
    joint_set: str | None
    params: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


@dataclass(frozen=True)
class Protocol:
    """A named, versioned bundle of metric items (``name`` like ``m3t@1``)."""

    name: str
    description: str
    items: tuple[ProtocolItem, ...]

    def signature_for(self, item: ProtocolItem, *, body_model_id: str | None, dataset_id: str,
                      backend: str | None = None, language: str | None = None,
                      extra: Mapping[str, str] | None = None) -> Signature:
        """The signature of ``item``'s number: metric@version, part, its parameters, the DTW ``backend``
        actually used (default: the item's; ``fastdtw-r<radius>`` for fastdtw), the text tokenisation
        (needs ``language`` for text metrics), body-model id, dataset id, protocol name and ``extra`` keys
        (e.g. ``bt`` for the back-translation model), toolkit version last."""
        spec = get_metric(item.metric)
        params = dict(item.params)
        fields: dict[str, object] = {"part": item.part}
        for key in ("align", "norm", "unit"):
            if key in params:
                fields[key] = params[key]
        if "backend" in params:
            used = backend or str(params["backend"])
            fields["dtw"] = f"fastdtw-r{params.get('fastdtw_radius', 1)}" if used == "fastdtw" else used
        if "zh_tokenize" in spec.parameters:
            if language is None:
                raise UserError(f"{item.metric} needs the dataset language for its signature", field="language")
            from m3t_bench.metrics.text import tokenizer_id
            fields["tok"] = tokenizer_id(language, str(params.get("zh_tokenize", "jieba")))
        fields.update({"bm": body_model_id if item.joint_set else None, "ds": dataset_id, "proto": self.name})
        fields.update(extra or {})
        return Signature.build(spec.id, spec.version, fields)


_METRICS: dict[str, MetricSpec] = {}
_PROTOCOLS: dict[str, Protocol] = {}
_frozen = False


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add a metric spec; only possible while this module is being imported."""
    if _frozen:
        raise RuntimeError("the metric registry is frozen after import; add metrics in m3t_bench/protocols.py")
    if spec.id in _METRICS:
        raise RuntimeError(f"metric {spec.id!r} registered twice")
    _METRICS[spec.id] = spec
    return spec


def register_protocol(protocol: Protocol) -> Protocol:
    """Add a protocol (its metrics must be registered); only possible while this module is being imported."""
    if _frozen:
        raise RuntimeError("the protocol registry is frozen after import; add protocols in m3t_bench/protocols.py")
    unknown = [item.metric for item in protocol.items if item.metric not in _METRICS]
    if unknown or protocol.name in _PROTOCOLS:
        raise RuntimeError(f"protocol {protocol.name!r}: duplicate name or unknown metrics {unknown}")
    _PROTOCOLS[protocol.name] = protocol
    return protocol


def _lookup(registry: Mapping[str, object], name: str, what: str):
    if name in registry:
        return registry[name]
    raise unknown_name(what, name, registry)


def get_metric(name: str) -> MetricSpec:
    """The metric spec registered under ``name`` ("did you mean" on unknown names)."""
    return _lookup(METRICS, name, "metric")


def get_protocol(name: str) -> Protocol:
    """The protocol registered under ``name`` (e.g. ``m3t@1``; "did you mean" on unknown names)."""
    return _lookup(PROTOCOLS, name, "protocol")


_DTW = ("align", "norm", "unit", "root", "scored", "backend", "fastdtw_radius")
_TEXT = ("lang", "zh_tokenize")
for _spec in (
    MetricSpec("dtw-jpe", 1, "mm|m", False, _DTW,
               "DTW joint position error: mean scored-joint Euclidean distance after root translation, "
               "summed along the exact DTW path, normalised (path|ref|sum)"),
    MetricSpec("dtw-pa-jpe", 1, "mm|m", False, _DTW,
               "DTW-JPE with a similarity Procrustes (rotation, scale, translation) fitted on the scored "
               "joints in every DTW cell"),
    MetricSpec("dtw-vpe", 1, "mm|m", False, _DTW,
               "DTW vertex position error on the face-region vertices, head-joint translation alignment"),
    MetricSpec("pa-jpe", 1, "mm|m", False, ("scored", "unit"),
               "per-frame Procrustes-aligned joint error of a reconstruction (no DTW), mean over frames"),
    MetricSpec("pa-vpe", 1, "mm|m", False, ("scored", "unit"),
               "per-frame Procrustes-aligned vertex error of a reconstruction (no DTW), mean over frames"),
    MetricSpec("bleu4", 1, "BLEU", True, _TEXT, "corpus BLEU-4 (sacrebleu formula, exp smoothing), 0-100"),
    MetricSpec("rouge-l", 1, "ROUGE", True, _TEXT, "sentence ROUGE-L F (beta 1) averaged, x100"),
    MetricSpec("codebook-use", 1, "%", True, ("codebook_size",),
               "share of codebook entries used at least once over the evaluation set"),
    MetricSpec("token-freq-std", 1, "%", False, ("codebook_size",),
               "standard deviation over codes of each code's share of all tokens (percent points)"),
    MetricSpec("top1", 1, "%", True, (), "top-1 recognition accuracy"),
    MetricSpec("top5", 1, "%", True, (), "top-5 recognition accuracy"),
):
    register_metric(_spec)

_M3T_DTW = {"norm": "path", "unit": "mm", "backend": "exact"}
register_protocol(Protocol(
    "m3t@1",
    "M3T benchmark convention: exact DTW, mean over the warping path, millimetres; JPE aligns the root "
    "(spine2 / wrist) by translation, PA-JPE fits a similarity Procrustes on the scored joints in every "
    "DTW cell; face DTW-VPE on the FLAME-region vertices; BLEU-4 and ROUGE-L on back-translations "
    "(jieba for Chinese).",
    tuple(
        [ProtocolItem(metric, part, part, {"align": align, **_M3T_DTW})
         for part in ("body", "lhand", "rhand")
         for metric, align in (("dtw-jpe", "root"), ("dtw-pa-jpe", "procrustes"))]
        + [ProtocolItem("dtw-vpe", "face", "face", {"align": "root", **_M3T_DTW}),
           ProtocolItem("bleu4", "text", None, {"zh_tokenize": "jieba"}),
           ProtocolItem("rouge-l", "text", None, {"zh_tokenize": "jieba"})]),
))
register_protocol(Protocol(
    "soke@1",
    "SOKE's released DTW convention, reproduced: exact symmetric DTW, raw path sum (no normalisation), "
    "metres, translation alignment on the pelvis (body) or wrist (hands), SOKE's joint sets. SOKE prints "
    "these numbers under 'DTW_MPJPE_PA' names although no Procrustes is applied. Its text metrics are not "
    "part of this protocol (its ROUGE-L variant differs).",
    tuple(ProtocolItem("dtw-jpe", f"soke-{part}", f"soke-{part}", {"align": "root", "norm": "sum", "unit": "m",
                                                            "backend": "exact"})
          for part in ("body", "lhand", "rhand")),
))

register_protocol(Protocol(
    "slr@1",
    "Isolated sign recognition (NMFs-CSL style): top-1 and top-5 accuracy in percent over all test samples, "
    "on the samples of confusing classes (signs that differ only in non-manual features) and on the normal "
    "ones.",
    tuple(ProtocolItem(metric, part, None) for metric in ("top1", "top5") for part in ("overall", "confusing",
                                                                                       "normal")),
))

METRICS: Mapping[str, MetricSpec] = MappingProxyType(_METRICS)
PROTOCOLS: Mapping[str, Protocol] = MappingProxyType(_PROTOCOLS)
_frozen = True

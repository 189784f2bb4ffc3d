"""The one registry of metric specs, and the evaluation protocols built on it (frozen after import).

A metric spec is everything the toolkit knows about a metric id: version, unit, direction, the function
that computes its per-sample values (or per-sample sufficient statistics) from one kind of input, the
aggregation of those into the reported number, the protocol parameters it takes, the signature keys its
numbers carry and the parts it can be reported for. The scoring engine (:mod:`m3t_bench.scoring.score`)
and the other evaluators call a metric only through its spec.

A protocol is a versioned list of items, each = (metric id, part, joint-set name, parameters), where the
parameters are keyword arguments of the metric's function. A breaking change to a metric or protocol gets
a new version (``@2``), never a silent edit.

Adding a metric is one :class:`MetricSpec` in :data:`_SPECS` below, its pure function in
:mod:`m3t_bench.metrics`, and its tests; registration checks the declaration against the function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from m3t_bench.errors import UserError, unknown_name
from m3t_bench.metrics import (bleu_from_statistics, bleu_statistics, code_count_rows, dtw_jpe_many,
                               frequency_std_from_counts, pa_jpe_many, pa_vpe_many, rouge_l_per_sentence,
                               sample_mean, top1_per_sample, top5_per_sample, utilisation_from_counts)
from m3t_bench.signature import KEY_ORDER, Signature, signature_fields

#: What a metric's function computes from, and the context keywords the caller can pass to it (a spec's
#: ``context`` names the ones its function takes). The function's positional arguments, per kind:
INPUTS: Mapping[str, tuple[str, tuple[str, ...]]] = MappingProxyType({
    "points": ("preds, refs: lists of (T, P, 3) point sequences in metres of the item's joint set",
               ("root", "scored", "jobs")),
    "text": ("hyps, refs: lists of back-translation hypotheses and reference texts", ("lang",)),
    "tokens": ("tokens: list of one modality's code-index arrays, one per sample", ("codebook_size",)),
    "recognition": ("scores (N, C), labels (N,): class scores and true classes", ()),
})
#: Keys every protocol number carries besides its metric's own: the bootstrap and the protocol.
RUN_KEYS = ("boot", "proto")


@dataclass(frozen=True)
class MetricSpec:
    """A metric id and its behaviour.

    ``id``, ``version``; ``unit`` (``mm|m`` when the ``unit`` parameter chooses it); ``higher_is_better``;
    ``parameters``: the protocol parameters (keywords of ``compute``); ``description``; ``inputs``: a key of
    :data:`INPUTS`; ``compute(*inputs, **context, **parameters)`` -> per-sample values (N,) or per-sample
    sufficient statistics (N, K); ``context``: the context keywords ``compute`` takes; ``aggregate``: per-sample
    array -> the reported number (also the bootstrap statistic); ``signature_keys``: keys of
    :data:`m3t_bench.signature.KEY_ORDER` the number carries (besides :data:`RUN_KEYS`); ``parts``: what an
    item of this metric may be reported for.
    """

    id: str
    version: int
    unit: str
    higher_is_better: bool
    parameters: tuple[str, ...]
    description: str
    inputs: str = "points"
    compute: Callable[..., np.ndarray] | None = None
    context: tuple[str, ...] = ()
    aggregate: Callable[[np.ndarray], float] = sample_mean
    signature_keys: tuple[str, ...] = ("part", "ds")
    parts: tuple[str, ...] = ()

    def unit_for(self, params: Mapping[str, object]) -> str:
        """The unit of a number computed with ``params`` (the ``unit`` parameter where the spec lets it choose)."""
        return str(params.get("unit", self.unit))

    def per_sample(self, *inputs, params: Mapping[str, object], context: Mapping[str, object]) -> np.ndarray:
        """``compute`` on ``inputs`` (see :data:`INPUTS`) with the spec's context keywords taken from
        ``context`` and the item's ``params``."""
        return self.compute(*inputs, **{k: context[k] for k in self.context}, **params)


@dataclass(frozen=True)
class ProtocolItem:
    """One number of a protocol: metric id, part (what it is reported for), joint/vertex set name (only for
    metrics on points; None otherwise) and the metric function's keyword parameters (read-only)."""

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
        """The signature of ``item``'s number: metric@version, then the metric's signature keys found in
        the item's part and parameters and in the run's context — the DTW ``backend`` actually used
        (default: the item's), the dataset ``language`` (text tokenisation), body-model id, dataset id —
        the protocol name and ``extra`` (``boot``; ``bt`` for back-translation), toolkit version last."""
        spec = get_metric(item.metric)
        unknown = sorted(set(extra or {}) - set(KEY_ORDER))
        if unknown:
            raise UserError(f"unknown signature key(s) {', '.join(unknown)}; expected keys of {', '.join(KEY_ORDER)}",
                            field="signature")
        settings = {**item.params, "part": item.part, "language": language, "bm": body_model_id,
                    "ds": dataset_id, "proto": self.name, **(extra or {})}
        if backend is not None:
            settings["backend"] = backend
        return Signature.build(spec.id, spec.version, signature_fields(spec.signature_keys + RUN_KEYS, settings))


_METRICS: dict[str, MetricSpec] = {}
_PROTOCOLS: dict[str, Protocol] = {}
_frozen = False


def spec_problems(spec: MetricSpec) -> list[str]:
    """Where a spec's declaration disagrees with its function or the known inputs, keys and parts."""
    if spec.inputs not in INPUTS or not callable(spec.compute):
        return [f"inputs must be one of {', '.join(INPUTS)} and compute a function"]
    accepted = inspect.signature(spec.compute).parameters
    out = [f"context keyword {k!r} is not one {spec.inputs} metrics get" for k in spec.context
           if k not in INPUTS[spec.inputs][1]]
    out += [f"{spec.compute.__name__} takes no keyword {k!r}" for k in (*spec.parameters, *spec.context)
            if k not in accepted]
    out += [f"signature key {k!r} is not in m3t_bench.signature.KEY_ORDER" for k in spec.signature_keys
            if k not in KEY_ORDER or k in RUN_KEYS]
    return out + ([] if spec.parts else ["no parts declared"])


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add a metric spec; only possible while this module is being imported."""
    if _frozen:
        raise RuntimeError("the metric registry is frozen after import; add metrics in m3t_bench/protocols.py")
    problems = spec_problems(spec) + (["registered twice"] if spec.id in _METRICS else [])
    if problems:
        raise RuntimeError(f"metric {spec.id!r}: {'; '.join(problems)}")
    _METRICS[spec.id] = spec
    return spec


def item_problems(item: ProtocolItem) -> list[str]:
    """Where a protocol item disagrees with its metric's spec (unknown metric, part, joint set, parameters)."""
    spec = _METRICS.get(item.metric)
    if spec is None:
        return [f"unknown metric {item.metric!r}"]
    out = [] if item.part in spec.parts else [f"{item.metric} is not reported for part {item.part!r}"]
    if (item.joint_set is not None) != (spec.inputs == "points"):
        out.append(f"{item.metric}/{item.part}: a joint set is needed exactly for metrics on points")
    return out + [f"{item.metric} takes no parameter {k!r}" for k in item.params if k not in spec.parameters]


def register_protocol(protocol: Protocol) -> Protocol:
    """Add a protocol (its items must fit their metric specs); only possible while this module is being
    imported."""
    if _frozen:
        raise RuntimeError("the protocol registry is frozen after import; add protocols in m3t_bench/protocols.py")
    problems = [p for item in protocol.items for p in item_problems(item)]
    if problems or protocol.name in _PROTOCOLS:
        raise RuntimeError(f"protocol {protocol.name!r}: duplicate name or {'; '.join(problems)}")
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


# ------------------------------------------------------------------------------------------------ metrics
_DTW = dict(inputs="points", compute=dtw_jpe_many, parameters=("align", "norm", "unit", "backend", "fastdtw_radius"),
            context=("root", "scored", "jobs"), signature_keys=("part", "align", "norm", "unit", "dtw", "bm", "ds"))
_PA = dict(inputs="points", parameters=("unit",), context=("scored",), signature_keys=("part", "unit", "bm", "ds"))
_TEXT = dict(inputs="text", parameters=("zh_tokenize",), context=("lang",), signature_keys=("part", "tok", "bt", "ds"),
             parts=("text",))
_CODES = dict(inputs="tokens", compute=code_count_rows, parameters=(), context=("codebook_size",),
              parts=("body", "hand", "face"))
_RECOGNITION = dict(inputs="recognition", parameters=(), parts=("overall", "confusing", "normal"))
_HANDS = ("lhand", "rhand")
_SPECS = (
    MetricSpec("dtw-jpe", 1, "mm|m", False, description=(
        "DTW joint position error: mean scored-joint Euclidean distance after root translation, summed along "
        "the exact DTW path, normalised (path|ref|sum)"), parts=("body", *_HANDS, "soke-body", "soke-lhand",
                                                                 "soke-rhand"), **_DTW),
    MetricSpec("dtw-pa-jpe", 1, "mm|m", False, description=(
        "DTW-JPE with a similarity Procrustes (rotation, scale, translation) fitted on the scored joints in "
        "every DTW cell"), parts=("body", *_HANDS), **_DTW),
    MetricSpec("dtw-vpe", 1, "mm|m", False, description=(
        "DTW vertex position error on the face-region vertices, head-joint translation alignment"),
               parts=("face",), **_DTW),
    MetricSpec("pa-jpe", 1, "mm|m", False, description=(
        "per-frame Procrustes-aligned joint error of a reconstruction (no DTW), mean over frames"),
               compute=pa_jpe_many, parts=("body", *_HANDS), **_PA),
    MetricSpec("pa-vpe", 1, "mm|m", False, description=(
        "per-frame Procrustes-aligned vertex error of a reconstruction (no DTW) on the vertices a modality "
        "moves, mean over frames"), compute=pa_vpe_many, parts=("body", "hand", "face"), **_PA),
    MetricSpec("bleu4", 1, "BLEU", True, description="corpus BLEU-4 (sacrebleu formula, exp smoothing), 0-100",
               compute=bleu_statistics, aggregate=bleu_from_statistics, **_TEXT),
    MetricSpec("rouge-l", 1, "ROUGE", True, description="sentence ROUGE-L F (beta 1) averaged, x100",
               compute=rouge_l_per_sentence, **_TEXT),
    MetricSpec("codebook-use", 1, "%", True, description=(
        "share of codebook entries used at least once over the evaluation set"),
               aggregate=utilisation_from_counts, **_CODES),
    MetricSpec("token-freq-std", 1, "%", False, description=(
        "standard deviation over codes of each code's share of all tokens (percent points)"),
               aggregate=frequency_std_from_counts, **_CODES),
    MetricSpec("top1", 1, "%", True, description="top-1 recognition accuracy", compute=top1_per_sample,
               **_RECOGNITION),
    MetricSpec("top5", 1, "%", True, description="top-5 recognition accuracy", compute=top5_per_sample,
               **_RECOGNITION),
)
for _spec in _SPECS:
    register_metric(_spec)

# ------------------------------------------------------------------------------------------------ protocols
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
    "tokenizer@1",
    "Reconstruction quality of per-modality motion tokenizers (paper Table 3): PA-VPE in millimetres on the "
    "vertices each modality moves (joint sets region-body, region-hand, region-face; the other streams at "
    "their reference values), codebook use (% of codes used over the whole evaluated split) and the standard "
    "deviation of token frequencies, per modality (body, hand = both hands through one tokenizer, face); and "
    "PA-JPE in millimetres on the body, lhand and rhand joint sets (as SOKE's tokenizer evaluation reports).",
    tuple([ProtocolItem("pa-vpe", m, f"region-{m}", {"unit": "mm"}) for m in ("body", "hand", "face")]
          + [ProtocolItem("pa-jpe", part, part, {"unit": "mm"}) for part in ("body", "lhand", "rhand")]
          + [ProtocolItem(metric, m, None) for metric in ("codebook-use", "token-freq-std")
             for m in ("body", "hand", "face")]),
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
#: Every part a metric can be reported for, in declaration order (the results schema accepts these).
PARTS: tuple[str, ...] = tuple(dict.fromkeys(p for spec in _METRICS.values() for p in spec.parts))
_frozen = True

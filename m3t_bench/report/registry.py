"""The metric and protocol registries as text: what ``m3t-bench metrics|protocols list|show`` print."""

from __future__ import annotations

import textwrap

from tabulate import tabulate

from m3t_bench.protocols import INPUTS, METRICS, PROTOCOLS, RUN_KEYS, MetricSpec, Protocol
from m3t_bench.signature import SIGNATURE_KEYS

WIDTH = 100
_MEANS = {key.name: key.means for key in SIGNATURE_KEYS}


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].split(": ")[0].rstrip(".")


def _wrapped(label: str, text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=f"{label:<17}", subsequent_indent=" " * 17)


def _function_name(fn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def format_protocol_list() -> str:
    """One row per protocol: name, number of items, metric ids, the first sentence of its description."""
    rows = [[p.name, len(p.items), ", ".join(dict.fromkeys(i.metric for i in p.items)), _first_sentence(p.description)]
            for p in PROTOCOLS.values()]
    return tabulate(rows, headers=["protocol", "numbers", "metrics", "about"], maxcolwidths=[None, None, 30, 50])


def format_protocol(protocol: Protocol) -> str:
    """A protocol's description, its items (metric, part, joint set, parameters, signature keys) and the
    meaning of every signature key they carry."""
    rows, keys = [], {}
    for item in protocol.items:
        spec = METRICS[item.metric]
        item_keys = spec.signature_keys + RUN_KEYS
        keys.update(dict.fromkeys(item_keys))
        rows.append([f"{spec.id}@{spec.version}", item.part, item.joint_set or "-",
                     ", ".join(f"{k}={v}" for k, v in item.params.items()) or "-", ", ".join(item_keys)])
    lines = [protocol.name, *textwrap.wrap(protocol.description, WIDTH), "",
             tabulate(rows, headers=["metric", "part", "joint set", "parameters", "signature keys"]), "",
             "Signature keys (plus the toolkit version v, always last):"]
    lines += [f"  {k:<6} {_MEANS[k]}" for k in _MEANS if k in keys]
    return "\n".join(lines)


def format_metric_list() -> str:
    """One row per metric: id@version, unit, direction, inputs, parts, description."""
    rows = [[f"{s.id}@{s.version}", s.unit, "higher" if s.higher_is_better else "lower", s.inputs, ", ".join(s.parts),
             s.description] for s in METRICS.values()]
    return tabulate(rows, headers=["metric", "unit", "better", "inputs", "parts", "definition"],
                    maxcolwidths=[None, None, None, None, 24, 50])


def format_metric(spec: MetricSpec) -> str:
    """Everything a metric spec declares, and the protocols that use it."""
    used = [p.name for p in PROTOCOLS.values() if any(i.metric == spec.id for i in p.items)]
    lines = [f"{spec.id}@{spec.version}", *textwrap.wrap(spec.description, WIDTH), ""]
    for label, text in (("unit", spec.unit), ("better", "higher" if spec.higher_is_better else "lower"),
                        ("inputs", f"{spec.inputs}: {INPUTS[spec.inputs][0]}"),
                        ("per sample", f"{_function_name(spec.compute)}"
                                       f"({', '.join((*spec.context, *spec.parameters)) or ''})"),
                        ("aggregation", _function_name(spec.aggregate)),
                        ("parameters", ", ".join(spec.parameters) or "-"), ("parts", ", ".join(spec.parts)),
                        ("protocols", ", ".join(used) or "-")):
        lines += _wrapped(label, text)
    keys = set(spec.signature_keys + RUN_KEYS)
    lines += ["signature keys"] + [f"  {k:<6} {_MEANS[k]}" for k in _MEANS if k in keys]
    return "\n".join(lines)

"""The metric/protocol registry: frozen, did-you-mean, and the two protocols' documented conventions."""

from __future__ import annotations

import dataclasses

import pytest

import m3t_bench.protocols as protocols
from m3t_bench.errors import UserError
from m3t_bench.protocols import METRICS, PROTOCOLS, MetricSpec, get_metric, get_protocol

INTERFACE_IDS = {"dtw-jpe", "dtw-pa-jpe", "dtw-vpe", "pa-jpe", "pa-vpe", "bleu4", "rouge-l", "codebook-use",
                 "token-freq-std", "top1", "top5"}


def test_registry_holds_the_interface_ids():
    assert set(METRICS) == INTERFACE_IDS
    assert set(PROTOCOLS) == {"m3t@1", "soke@1", "slr@1"}


def test_registry_is_frozen_after_import():
    with pytest.raises(RuntimeError):
        protocols.register_metric(MetricSpec("new", 1, "mm", False, (), "x"))
    with pytest.raises(TypeError):
        METRICS["new"] = METRICS["dtw-jpe"]           # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        METRICS["dtw-jpe"].version = 2                # type: ignore[misc]
    with pytest.raises(TypeError):
        PROTOCOLS["m3t@1"].items[0].params["norm"] = "sum"  # type: ignore[index]


def test_unknown_names_suggest_the_closest():
    with pytest.raises(UserError, match="did you mean dtw-jpe"):
        get_metric("dtw-jp")
    with pytest.raises(UserError, match="did you mean m3t@1"):
        get_protocol("m3t")


def test_m3t_protocol_convention():
    items = {(i.metric, i.part): i for i in get_protocol("m3t@1").items}
    for part in ("body", "lhand", "rhand"):
        assert items[("dtw-jpe", part)].params["align"] == "root"
        assert items[("dtw-pa-jpe", part)].params["align"] == "procrustes"
        assert items[("dtw-jpe", part)].joint_set == part
    assert items[("dtw-vpe", "face")].joint_set == "face"
    for item in get_protocol("m3t@1").items:
        if item.joint_set:
            assert (item.params["norm"], item.params["unit"], item.params["backend"]) == ("path", "mm", "exact")
    assert {("bleu4", "text"), ("rouge-l", "text")} <= set(items)


def test_soke_protocol_convention():
    for item in get_protocol("soke@1").items:
        assert item.metric == "dtw-jpe" and item.joint_set.startswith("soke-")
        assert (item.params["align"], item.params["norm"], item.params["unit"]) == ("root", "sum", "m")


def test_protocol_parameters_are_accepted_by_the_metric_functions():
    for protocol in PROTOCOLS.values():
        for item in protocol.items:
            assert set(item.params) <= set(get_metric(item.metric).parameters)

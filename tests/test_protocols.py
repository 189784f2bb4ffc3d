"""The metric/protocol registry: frozen, did-you-mean, specs checked against their functions, and the
protocols' documented conventions."""

from __future__ import annotations

import dataclasses

import pytest

import m3t_bench.protocols as protocols
from m3t_bench.body import JOINT_SETS
from m3t_bench.errors import UserError
from m3t_bench.protocols import METRICS, PROTOCOLS, MetricSpec, get_metric, get_protocol
from m3t_bench.results import SCORE_PARTS
from m3t_bench.signature import KEY_ORDER, SIGNATURE_KEYS

INTERFACE_IDS = {"dtw-jpe", "dtw-pa-jpe", "dtw-vpe", "pa-jpe", "pa-vpe", "bleu4", "rouge-l", "codebook-use",
                 "token-freq-std", "top1", "top5"}


def test_registry_holds_the_interface_ids():
    assert set(METRICS) == INTERFACE_IDS
    assert set(PROTOCOLS) == {"m3t@1", "soke@1", "tokenizer@1", "slr@1"}


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


def test_new_protocols_declare_the_tokenizer_and_recognition_figures():
    tokenizer = {(i.metric, i.part): i for i in get_protocol("tokenizer@1").items}
    assert set(tokenizer) == {(m, p) for m in ("pa-vpe", "codebook-use", "token-freq-std")
                              for p in ("body", "hand", "face")} | {("pa-jpe", p) for p in ("body", "lhand", "rhand")}
    assert all(tokenizer[("pa-jpe", p)].joint_set == p for p in ("body", "lhand", "rhand"))
    assert all(tokenizer[("pa-vpe", p)].joint_set == f"region-{p}" for p in ("body", "hand", "face"))
    slr = {(i.metric, i.part) for i in get_protocol("slr@1").items}
    assert slr == {(m, p) for m in ("top1", "top5") for p in ("overall", "confusing", "normal")}


def test_every_metric_is_used_by_a_protocol():
    used = {item.metric for protocol in PROTOCOLS.values() for item in protocol.items}
    assert used == set(METRICS)


def test_every_spec_carries_a_function_that_takes_its_declared_keywords():
    for spec in METRICS.values():
        assert protocols.spec_problems(spec) == [], spec.id
        assert spec.inputs in protocols.INPUTS and spec.parts
        assert set(spec.signature_keys) <= set(KEY_ORDER)


def test_a_spec_that_disagrees_with_its_function_is_refused():
    spec = dataclasses.replace(METRICS["dtw-jpe"], id="bad", parameters=("align", "smoothing"))
    assert any("smoothing" in p for p in protocols.spec_problems(spec))
    wrong_part = protocols.ProtocolItem("dtw-jpe", "face", "face", {"norm": "path"})
    no_set = protocols.ProtocolItem("pa-jpe", "body", None, {"unit": "mm"})
    assert any("part 'face'" in p for p in protocols.item_problems(wrong_part))
    assert any("joint set" in p for p in protocols.item_problems(no_set))


def test_score_parts_and_signature_order_derive_from_the_registries():
    assert set(SCORE_PARTS) == {p for spec in METRICS.values() for p in spec.parts}
    assert KEY_ORDER == tuple(key.name for key in SIGNATURE_KEYS)


def test_every_protocol_joint_set_is_registered():
    for protocol in PROTOCOLS.values():
        for item in protocol.items:
            assert item.joint_set is None or item.joint_set in JOINT_SETS, (protocol.name, item)


def test_cli_lists_and_shows_protocols_and_metrics(capsys):
    from m3t_bench.cli import main
    assert main(["protocols", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in PROTOCOLS)
    assert main(["protocols", "show", "tokenizer@1"]) == 0
    shown = capsys.readouterr().out
    assert "region-face" in shown and "codebook-use@1" in shown and "bootstrap of the 95% CI" in shown
    assert main(["metrics", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(f"{spec.id}@{spec.version}" in listing for spec in METRICS.values())
    assert main(["metrics", "show", "bleu4"]) == 0
    shown = capsys.readouterr().out
    assert "bleu_statistics" in shown and "bleu_from_statistics" in shown and "m3t@1" in shown
    assert main(["protocols", "show", "m3t"]) == 2
    assert "did you mean m3t@1" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["score"], ["table"], ["validate"], ["baseline"], ["datasets", "verify"],
                                     ["tokenize"], ["detokenize"], ["protocols", "show"], ["train", "smlm"],
                                     ["generate"], ["train", "bt"], ["backtranslate"], ["train", "slr"],
                                     ["eval", "slr"], ["fit"], ["site"], ["study", "serve"], ["reproduce"]])
def test_help_is_plain_text(command, capsys):
    from m3t_bench.cli import main
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and out and "`" not in out

"""Signatures: canonical order, round trip through text, and every parameter changes the string."""

from __future__ import annotations

import pytest

from m3t_bench import __version__
from m3t_bench.errors import UserError
from m3t_bench.protocols import PROTOCOLS, ProtocolItem, get_protocol
from m3t_bench.signature import Signature

BASE = {"part": "body", "align": "root", "norm": "path", "unit": "mm", "dtw": "exact",
        "bm": "smplfx-standin@1", "ds": "csl-daily@1"}


def test_format_and_order_are_canonical():
    shuffled = dict(reversed(list(BASE.items())))
    sig = Signature.build("dtw-jpe", 1, shuffled)
    assert str(sig) == ("dtw-jpe@1|part:body|align:root|norm:path|unit:mm|dtw:exact|bm:smplfx-standin@1|"
                        f"ds:csl-daily@1|v:{__version__}")


def test_parse_round_trip():
    sig = Signature.build("bleu4", 1, {"part": "text", "tok": "jieba-0.42.1-lc", "ds": "csl-daily@1",
                                       "boot": "1000-s0", "bt": "slt-zh-abc123"})
    assert Signature.parse(str(sig)) == sig


@pytest.mark.parametrize("key", [*BASE, "metric", "version", "toolkit"])
def test_changing_any_parameter_changes_the_signature(key):
    base = str(Signature.build("dtw-jpe", 1, BASE))
    if key == "metric":
        other = Signature.build("dtw-pa-jpe", 1, BASE)
    elif key == "version":
        other = Signature.build("dtw-jpe", 2, BASE)
    elif key == "toolkit":
        other = Signature.build("dtw-jpe", 1, BASE, toolkit_version="9.9.9")
    else:
        other = Signature.build("dtw-jpe", 1, {**BASE, key: BASE[key] + "x"})
    assert str(other) != base


def test_every_protocol_parameter_reaches_the_signature():
    protocol = get_protocol("m3t@1")
    context = {"body_model_id": "smplfx-standin@1", "dataset_id": "csl-daily@1", "language": "zh"}
    for item in protocol.items:
        base = str(protocol.signature_for(item, **context))
        for key, value in item.params.items():
            changed = {"align": "none", "norm": "sum", "unit": "m", "backend": "fastdtw",
                       "zh_tokenize": "char"}[key]
            assert changed != value
            other = ProtocolItem(item.metric, item.part, item.joint_set, {**item.params, key: changed})
            assert str(protocol.signature_for(other, **context)) != base, (item, key)
        for key, value in context.items():
            if key == "body_model_id" and item.joint_set is None:
                continue
            if key == "language" and item.joint_set is not None:
                continue
            other = str(protocol.signature_for(item, **{**context, key: "en" if key == "language" else value + "x"}))
            assert other != base, (item, key)


def test_fastdtw_radius_is_recorded():
    protocol = PROTOCOLS["soke@1"]
    item = protocol.items[0]
    sig = protocol.signature_for(item, body_model_id="b", dataset_id="d", backend="fastdtw")
    assert "dtw:fastdtw-r1" in str(sig)
    wide = ProtocolItem(item.metric, item.part, item.joint_set, {**item.params, "fastdtw_radius": 10})
    assert "dtw:fastdtw-r10" in str(protocol.signature_for(wide, body_model_id="b", dataset_id="d",
                                                           backend="fastdtw"))


@pytest.mark.parametrize("text", ["dtw-jpe|part:body|v:1", "dtw-jpe@1|part:body", "dtw-jpe@1|partbody|v:1",
                                  "dtw-jpe@1|ds:x|part:body|v:1"])
def test_malformed_signatures_are_user_errors(text):
    with pytest.raises(UserError):
        Signature.parse(text)


def test_values_with_separators_are_refused():
    with pytest.raises(UserError):
        Signature.build("dtw-jpe", 1, {"part": "a|b"})

"""The slr@1 numbers of a probe's class scores: values against hand-counted cases and the independent
recognition_accuracy, bootstrap intervals, signatures, skipped subsets, and a schema-valid results file."""

from __future__ import annotations

import numpy as np
import pytest

from m3t_bench.datasets.nmfs import NmfsClass
from m3t_bench.metrics import recognition_accuracy
from m3t_bench.results import results_problems
from m3t_bench.signature import Signature
from reference_models.m3t.slr_eval import (confusing_mask, default_system_name, format_scores, probe_role,
                                           score_value, slr_scores)

CLASSES = [NmfsClass(0, "a", "g0", True), NmfsClass(1, "b", "g0", True), NmfsClass(2, "c", None, False),
           *(NmfsClass(i, f"n{i}", None, False) for i in range(3, 7))]


def _case():
    # 4 confusing samples (classes 0/1) and 2 normal samples; by hand: top-1 right on samples 0, 1, 4 -> overall
    # 3/6, confusing 2/4, normal 1/2; top-5 (7 classes) misses only sample 5, whose class scores lowest
    logits = np.array([[5, 1, 0, 0, 0, 0, 0], [1, 5, 0, 0, 0, 0, 0], [5, 1, 0, 0, 0, 0, 0], [0, 1, 5, 0, 0, 0, 0],
                       [0, 0, 5, 1, 0, 0, 0], [9, 8, 7, 6, 5, 4, -1]], dtype=np.float32)
    labels = np.array([0, 1, 1, 0, 2, 6])
    return logits, labels


def test_values_match_hand_counts_and_recognition_accuracy():
    logits, labels = _case()
    confusing = confusing_mask(labels, CLASSES)
    assert confusing.tolist() == [True, True, True, True, False, False]
    scores, skipped = slr_scores(logits, labels, confusing, dataset_id="synthsign-nmfs@1", seed=0, n_resamples=200)
    assert skipped == [] and len(scores) == 6
    expected = {("top1", "overall"): 50.0, ("top1", "confusing"): 50.0, ("top1", "normal"): 50.0,
                ("top5", "overall"): 500 / 6, ("top5", "confusing"): 100.0, ("top5", "normal"): 50.0}
    for (metric, part), value in expected.items():
        assert score_value(scores, metric, part) == pytest.approx(value)
    independent = recognition_accuracy(logits, labels, confusing)
    for metric in ("top1", "top5"):
        assert score_value(scores, metric, "overall") == pytest.approx(independent[metric])
        for part in ("confusing", "normal"):
            assert score_value(scores, metric, part) == pytest.approx(independent[f"{metric}_{part}"])
    for s in scores:
        assert s["ci95"][0] <= s["value"] <= s["ci95"][1]
        assert s["n"] == {"overall": 6, "confusing": 4, "normal": 2}[s["part"]]
        assert s["unit"] == "%" and s["higher_is_better"] is True


def test_signature_records_part_bootstrap_dataset_and_protocol():
    logits, labels = _case()
    scores, _ = slr_scores(logits, labels, confusing_mask(labels, CLASSES), dataset_id="synthsign-nmfs@1", seed=3,
                           n_resamples=50)
    sig = next(s["signature"] for s in scores if (s["metric"], s["part"]) == ("top1", "confusing"))
    params = Signature.parse(sig).params
    assert sig.startswith("top1@1|part:confusing|") and params["boot"] == "50-s3"
    assert params["ds"] == "synthsign-nmfs@1" and params["proto"] == "slr@1" and "bm" not in params
    other, _ = slr_scores(logits, labels, confusing_mask(labels, CLASSES), dataset_id="synthsign-nmfs@1", seed=4,
                          n_resamples=50)
    assert {s["signature"] for s in other}.isdisjoint(s["signature"] for s in scores)
    assert "top1/confusing: top1@1|part:confusing" in format_scores(scores)


def test_a_subset_without_samples_is_skipped():
    logits, labels = _case()
    normal_only = ~confusing_mask(labels, CLASSES)
    scores, skipped = slr_scores(logits[normal_only], labels[normal_only], np.zeros(2, dtype=bool),
                                 dataset_id="synthsign-nmfs@1", n_resamples=20)
    assert {(s["metric"], s["part"]) for s in skipped} == {("top1", "confusing"), ("top5", "confusing")}
    assert all(s["reason"] for s in skipped) and len(scores) == 4


def test_roles_and_names():
    assert [probe_role(m) for m in (["body", "hand", "face"], ["body", "hand"], ["face"], ["hand", "face"])] == \
        ["face-aware", "face-blind", "face-only", "face-aware"]
    meta = {"modalities": ["body", "hand"], "config": {"name": "tiny"}, "tokenizer": {"dir": "/x/tok-csl-tiny"}}
    assert default_system_name(meta) == "SLR probe body+hand (face-blind; tiny, tokenizer tok-csl-tiny)"


def test_results_object_is_schema_valid(tmp_path):
    from types import SimpleNamespace
    from reference_models.m3t.slr_eval import slr_results
    logits, labels = _case()
    scores, skipped = slr_scores(logits, labels, confusing_mask(labels, CLASSES), dataset_id="synthsign-nmfs@1",
                                 n_resamples=20)
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    class Split:  # the parts of an opened split the results use
        spec = SimpleNamespace(name="synthsign-nmfs", version=1)
        split, manifest_sha256 = "test", "0" * 64

        def __len__(self):
            return 6

    split = Split()
    meta = {"modalities": ["face"], "config": {"name": "tiny"}, "tokenizer": {"dir": "/t/tok", "sha256": {"face": "f"}},
            "body_model": "smplfx-standin@1", "validation": "held-out signers s1", "best": {"epoch": 3}, "seed": 0}
    results = slr_results(scores, skipped, logits=logits, meta=meta, split=split, ckpt=tmp_path, system=None, seed=0,
                          n_resamples=20)
    assert results_problems(results) == []
    assert results["protocol"] == "slr@1" and results["predictions"]["n_files"] == 6
    assert results["system"]["system"] == "SLR probe face (face-only; tiny, tokenizer tok)"

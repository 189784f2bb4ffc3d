"""The scoring engine end to end on SynthSign tiny with the stand-in body model: ground truth scores 0,
nearest neighbour beats mean pose, schema-valid and reproducible JSON, thread-count independence,
skeleton-only submissions, back-translation plumbing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines import run_baseline
from m3t_bench.cli import main
from m3t_bench.errors import UserError
from m3t_bench.results import TIMESTAMP_FIELD, dumps_results, read_results, results_problems
from m3t_bench.scoring.score import score_submission

pytestmark = pytest.mark.slow  # ~45 s: five full scorings incl. face DTW-VPE

DATASET = "synthsign-csl"
JOINT_METRICS = {"dtw-jpe", "dtw-pa-jpe"}


@pytest.fixture(scope="module")
def submissions(synth_tiny, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("subs")
    return {name: run_baseline(name, synth_tiny / DATASET, root / name)
            for name in ("ground-truth", "mean-pose", "nearest-neighbour")}


@pytest.fixture(scope="module")
def scored(submissions, synth_tiny, smplfx) -> dict[str, dict]:
    return {name: score_submission(path, synth_tiny / DATASET, model=smplfx, jobs=1).results
            for name, path in submissions.items()}


def _values(results: dict) -> dict[tuple[str, str], float]:
    return {(s["metric"], s["part"]): s["value"] for s in results["scores"]}


def test_ground_truth_scores_exactly_zero(scored):
    values = _values(scored["ground-truth"])
    geometric = {k: v for k, v in values.items() if k[0] in JOINT_METRICS | {"dtw-vpe"}}
    assert {p for _, p in geometric} >= {"body", "lhand", "rhand"}
    exact = {k: v for k, v in geometric.items() if k[0] != "dtw-pa-jpe"}
    assert exact and all(v == 0.0 for v in exact.values()), exact
    # Procrustes fitted in every DTW cell: identical frames give 0 up to float64 rounding of the fit
    assert all(v < 1e-9 for k, v in geometric.items() if k[0] == "dtw-pa-jpe"), geometric


def test_nearest_neighbour_beats_mean_pose(scored):
    mean, nn = _values(scored["mean-pose"]), _values(scored["nearest-neighbour"])
    for key in (("dtw-jpe", "body"), ("dtw-jpe", "rhand")):
        assert nn[key] < mean[key], (key, nn[key], mean[key])


def test_results_are_schema_valid_and_record_provenance(scored, smplfx, synth_tiny):
    r = scored["mean-pose"]
    assert results_problems(r) == []
    assert r["body_model"]["model_id"] == smplfx.model_id
    assert r["dataset"]["name"] == DATASET and r["protocol"] == "m3t@1"
    assert all(s["signature"].count("|") >= 3 and f"bm:{smplfx.model_id}" in s["signature"]
               for s in r["scores"] if s["part"] != "text")
    assert {s["metric"] for s in r["skipped"]} >= {"bleu4", "rouge-l"}  # no back-translation given
    assert all(s["ci95"][0] <= s["value"] <= s["ci95"][1] for s in r["scores"])


def test_rescoring_and_thread_count_give_identical_json(submissions, scored, synth_tiny, smplfx):
    again = score_submission(submissions["nearest-neighbour"], synth_tiny / DATASET, model=smplfx, jobs=2).results
    first = dict(scored["nearest-neighbour"])
    first.pop(TIMESTAMP_FIELD), again.pop(TIMESTAMP_FIELD)
    assert dumps_results(first) == dumps_results(again)


def test_cli_writes_json_and_per_sample(submissions, synth_tiny, standin_dir, tmp_path, capsys):
    out, per = tmp_path / "r.json", tmp_path / "per.jsonl"
    code = main(["score", str(submissions["mean-pose"]), "--dataset", str(synth_tiny / DATASET), "--json", str(out),
                 "--per-sample", str(per), "--body-models", str(standin_dir), "--jobs", "2"])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "dtw-jpe" in stdout and "signature" not in stdout.splitlines()[0]
    data = read_results(out)
    rows = [json.loads(line) for line in per.read_text().splitlines()]
    body = [r["value"] for r in rows if (r["metric"], r["part"]) == ("dtw-jpe", "body")]
    assert np.isclose(np.mean(body), _values(data)[("dtw-jpe", "body")], rtol=0, atol=1e-12)


def test_skeleton_only_submission(synth_tiny, smplfx, tmp_path):
    from m3t_bench.datasets import open_split
    test = open_split(synth_tiny / DATASET, "test")
    sub = tmp_path / "joints"
    sub.mkdir()
    for sample_id in test.ids:
        ref = test.load(sample_id)
        with torch.no_grad():
            out = smplfx(body=torch.from_numpy(ref.body), lhand=torch.from_numpy(ref.lhand),
                         rhand=torch.from_numpy(ref.rhand), face=torch.from_numpy(ref.face),
                         shape=torch.from_numpy(ref.full_shape()))
        np.savez(sub / f"{sample_id}.npz", joints=out.joints.numpy().astype(np.float32))
    r = score_submission(sub, synth_tiny / DATASET, model=smplfx).results
    assert r["predictions"]["kind"] == "joints"
    values = _values(r)
    assert ("dtw-jpe", "body") in values and values[("dtw-jpe", "body")] < 1e-3  # mm: same joints, float32 paths
    skipped = {(s["metric"], s["part"]) for s in r["skipped"]}
    assert ("dtw-jpe", "lhand") in skipped and "skeleton-only" in next(
        s["reason"] for s in r["skipped"] if s["part"] == "lhand")


def test_back_translation_hypotheses(submissions, synth_tiny, smplfx, tmp_path):
    from m3t_bench.datasets import open_split
    test = open_split(synth_tiny / DATASET, "test")
    hyps = tmp_path / "hyps.tsv"
    hyps.write_text("".join(f"{e['id']}\t{e['text']}\n" for e in test.entries), encoding="utf-8")
    r = score_submission(submissions["ground-truth"], synth_tiny / DATASET, model=smplfx, bt_hyps=hyps).results
    values = _values(r)
    assert values[("bleu4", "text")] == pytest.approx(100.0) and values[("rouge-l", "text")] == pytest.approx(100.0)
    hyps.write_text(f"{test.ids[0]}\tonly one\nnot-an-id\tx\n", encoding="utf-8")
    with pytest.raises(UserError) as exc:
        score_submission(submissions["ground-truth"], synth_tiny / DATASET, model=smplfx, bt_hyps=hyps)
    assert "not-an-id" in str(exc.value) and f"{test.ids[1]}: missing hypothesis" in str(exc.value)


def test_bt_model_is_refused_without_faking_numbers(submissions, synth_tiny, smplfx, tmp_path):
    # a folder that is not a back-translation model (no manifest naming its kind) gives no number
    with pytest.raises(UserError, match="manifest.json: file not found"):
        score_submission(submissions["ground-truth"], synth_tiny / DATASET, model=smplfx, bt_model=tmp_path)


def test_each_item_is_computed_by_its_own_metric(synth_tiny, smplfx, tmp_path):
    """The engine dispatches through the metric spec: a pa-jpe item on a joint set gives the per-frame
    Procrustes-aligned joint error of the evaluation points (computed here independently with pa_jpe on the
    model's points), not the DTW-JPE of the same joints."""
    from dataclasses import replace

    from m3t_bench.body import JOINT_SETS
    from m3t_bench.datasets import open_split
    from m3t_bench.metrics import pa_jpe
    from m3t_bench.motion import save_sample
    from m3t_bench.protocols import Protocol, ProtocolItem

    test = open_split(synth_tiny / DATASET, "test")
    sub = tmp_path / "noisy-body"
    rng = np.random.default_rng(0)
    expected = []
    for sample_id in test.ids:
        ref = test.load(sample_id)
        pred = replace(ref, body=ref.body + rng.normal(scale=0.05, size=ref.body.shape).astype(np.float32))
        save_sample(sub / f"{sample_id}.npz", pred)
        with torch.no_grad():
            points = [smplfx.evaluation_points("body", body=s.body, lhand=s.lhand, rhand=s.rhand, face=s.face,
                                               shape=ref.full_shape()).numpy() for s in (pred, ref)]
        expected.append(pa_jpe(*points, scored=JOINT_SETS["body"].scored, unit="mm"))
    protocol = Protocol("dispatch@test", "pa-jpe and dtw-jpe of the same joints",
                        (ProtocolItem("pa-jpe", "body", "body", {"unit": "mm"}),
                         ProtocolItem("dtw-jpe", "body", "body", {"align": "root", "norm": "path", "unit": "mm",
                                                                  "backend": "exact"})))
    r = score_submission(sub, synth_tiny / DATASET, protocol=protocol, model=smplfx).results
    values = _values(r)
    # points here come from one sample per forward pass, the engine's from batches: float32 rounding differs
    assert values[("pa-jpe", "body")] == pytest.approx(float(np.mean(expected)), rel=1e-6, abs=0)
    assert abs(values[("pa-jpe", "body")] - values[("dtw-jpe", "body")]) > 1.0
    assert r["scores"][0]["signature"].startswith("pa-jpe@1|part:body|unit:mm|boot:1000-s0|bm:")


def test_back_translations_from_a_producer_carry_its_id(submissions, synth_tiny, smplfx):
    """Text metrics take hypotheses from any producer (e.g. a back-translation model); its id is the
    signature's ``bt`` key."""
    from m3t_bench.datasets import open_split
    from m3t_bench.protocols import Protocol, ProtocolItem
    from m3t_bench.scoring import BackTranslations

    test = open_split(synth_tiny / DATASET, "test")
    hyps = BackTranslations({e["id"]: e["text"] for e in test.entries}, source_id="bt-model-0123abcd")
    protocol = Protocol("text@test", "BLEU-4 only", (ProtocolItem("bleu4", "text", None, {"zh_tokenize": "jieba"}),))
    r = score_submission(submissions["mean-pose"], synth_tiny / DATASET, protocol=protocol, model=smplfx,
                         back_translations=hyps).results
    assert _values(r) == {("bleu4", "text"): pytest.approx(100.0)}
    assert "|bt:bt-model-0123abcd|" in r["scores"][0]["signature"]


def test_back_translations_must_cover_the_split_exactly():
    from m3t_bench.errors import ValidationFailed
    from m3t_bench.scoring import BackTranslations
    from m3t_bench.scoring.backtranslation import check_back_translations

    with pytest.raises(ValidationFailed) as exc:
        check_back_translations(BackTranslations({"a": "x", "z": "y"}, "bt-0"), ["a", "b"])
    assert [p.split(": ", 1)[1] for p in exc.value.problems] == ["b: missing hypothesis; expected one per split id",
                                                                 "z: not in the split"]
    check_back_translations(BackTranslations({"a": "x", "b": "y"}, "bt-0"), ["a", "b"])


def test_very_long_predictions_are_scored_in_chunks_with_the_same_numbers(submissions, scored, synth_tiny, smplfx,
                                                                          monkeypatch):
    """With a point budget so small that every prediction counts as very long, each one's points are computed
    in chunks of frames and streamed through the DTW: every number equals the batched path's (the DTW is
    bit-identical on equal points; the forward of other frame groupings may round float32 differently, which
    can move a rounding-level path tie)."""
    from m3t_bench.scoring import points
    monkeypatch.setattr(points, "POINT_BUDGET", 200)
    monkeypatch.setattr(points, "STREAM_CHUNK_POINTS", 5_000)  # a few frames of the face region per chunk
    chunked = score_submission(submissions["nearest-neighbour"], synth_tiny / DATASET, model=smplfx, jobs=1).results
    want = _values(scored["nearest-neighbour"])
    got = _values(chunked)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-5), (key, got[key], value)

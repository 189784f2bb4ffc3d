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

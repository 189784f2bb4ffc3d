"""Baselines: valid and deterministic submissions, the properties each one promises, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines import BASELINES, run_baseline
from baselines.common import text_tokens
from baselines.mean_pose import fit_length_model, predict as mean_pose_predict, project_to_rotation
from baselines.nearest_neighbour import TfidfIndex
from m3t_bench.datasets import open_split
from m3t_bench.errors import UserError
from m3t_bench.motion import axis_angle_to_matrix
from m3t_bench.scoring.submission import check_submission

DATASET = "synthsign-csl"


def _expected(split):
    return {e["id"]: e["n_frames"] for e in split.entries}


@pytest.mark.parametrize("name", list(BASELINES))
def test_each_baseline_writes_a_valid_deterministic_submission(name, synth_tiny, tmp_path):
    test = open_split(synth_tiny / DATASET, "test")
    a = run_baseline(name, synth_tiny / DATASET, tmp_path / "a")
    b = run_baseline(name, synth_tiny / DATASET, tmp_path / "b")
    sub = check_submission(a, _expected(test))
    assert sub.kind == "streams" and sub.meta["system"] == name and sub.ids == sorted(test.ids)
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_ground_truth_copies_the_reference_parameters(synth_tiny, tmp_path):
    test = open_split(synth_tiny / DATASET, "test")
    sub = check_submission(run_baseline("ground-truth", synth_tiny / DATASET, tmp_path / "gt"), _expected(test))
    for sample_id in test.ids:
        ref = test.load(sample_id)
        for stream, arr in ref.streams().items():
            np.testing.assert_array_equal(getattr(sub.samples[sample_id], stream), arr)


def test_mean_pose_never_reads_test_references(synth_tiny, monkeypatch):
    train, test = (open_split(synth_tiny / DATASET, s) for s in ("train", "test"))
    monkeypatch.setattr(test, "load", lambda *a, **k: pytest.fail("mean pose read a test reference"))
    out = mean_pose_predict(train, test)
    first = next(iter(out.values()))
    assert np.all(first.body == first.body[:1])  # one static pose


def test_projection_to_rotation_recovers_a_rotation_mean():
    rng = np.random.default_rng(0)
    r = axis_angle_to_matrix(torch.from_numpy(rng.normal(0, 1, 3))).numpy()
    assert np.allclose(project_to_rotation(3 * r), r, atol=1e-12)
    noisy = project_to_rotation(r + 0.05 * rng.standard_normal((3, 3)))
    assert np.allclose(noisy @ noisy.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(noisy), 1.0)


def test_length_model_recovers_a_linear_relation():
    class FakeSplit:
        class spec:
            text_tokenization = "13a"
        entries = [{"text": " ".join(["w"] * k), "n_frames": 20 + 30 * k} for k in range(1, 9)]
    a, b = fit_length_model(FakeSplit)
    assert np.isclose(a, 20) and np.isclose(b, 30)


def test_tfidf_nearest_neighbour_exact_match_and_ties():
    docs = [text_tokens(t, "13a") for t in ("the cat sleeps", "a dog runs", "the dog sleeps")]
    index = TfidfIndex(docs)
    assert list(index.nearest([text_tokens("A dog RUNS!", "13a"), ["unseen"]])) == [1, 0]


def test_chinese_tokens_use_jieba():
    tokens = text_tokens("我今天很高兴。", "jieba")
    assert "今天" in tokens and "。" not in tokens


def test_gloss_oracle_refuses_non_synthsign(tmp_path):
    from m3t_bench.datasets.specs import get_spec
    from m3t_bench.datasets.store import SplitWriter
    from tests.test_submission import random_sequence
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        w = SplitWriter(tmp_path / "csl-daily" / split, get_spec("csl-daily"), split)
        w.add("a", random_sequence(5, rng), text="你好", gloss="你好", signer="p0")
        w.close()
    with pytest.raises(UserError, match="needs a continuous SynthSign dataset"):
        run_baseline("gloss-oracle", tmp_path / "csl-daily", tmp_path / "out")


def test_unknown_baseline_suggests_names():
    with pytest.raises(UserError, match="did you mean mean-pose"):
        run_baseline("mean-pos", "x", "y")

"""Submission validation: one test per malformed-submission class (exit code 2, the message names the file,
nothing written), plus the all-problems-at-once property and meta.json checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from m3t_bench.cli import main
from m3t_bench.datasets.specs import get_spec
from m3t_bench.datasets.store import SplitWriter
from m3t_bench.motion import MotionSequence, save_sample
from m3t_bench.scoring.submission import MAX_LENGTH_FACTOR, check_submission, meta_problems
from m3t_bench.errors import ValidationFailed

LENGTHS = {"s0": 12, "s1": 9, "s2": 15}


def random_sequence(n_frames: int, rng: np.random.Generator) -> MotionSequence:
    """Valid SMPL-FX streams: identity 6D rotations plus small noise, random expressions."""
    ident = np.array([1, 0, 0, 0, 1, 0], dtype=np.float32)
    rot = lambda j: (ident + 0.05 * rng.standard_normal((n_frames, j, 6))).astype(np.float32)
    face = np.concatenate([rng.standard_normal((n_frames, 102)) * 0.3,
                           ident + 0.05 * rng.standard_normal((n_frames, 6))], axis=1).astype(np.float32)
    return MotionSequence(body=rot(12), lhand=rot(15), rhand=rot(15), face=face)


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    writer = SplitWriter(tmp_path_factory.mktemp("data") / "synthsign-csl" / "test", get_spec("synthsign-csl"),
                         "test", body_model_id="smplfx-standin@1")
    for sample_id, n in LENGTHS.items():
        writer.add(sample_id, random_sequence(n, rng), text="你好 世界", gloss="你好 世界", signer="p0")
    return writer.close()


@pytest.fixture()
def good_submission(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    sub = tmp_path / "pred"
    for sample_id, n in LENGTHS.items():
        save_sample(sub / f"{sample_id}.npz", random_sequence(n + 3, rng))
    (sub / "meta.json").write_text(json.dumps({"system": "unit", "paper": None, "url": None, "params": 7}))
    return sub


def run_validate(sub: Path, split_dir: Path, capsys) -> tuple[int, str]:
    before = sorted((p.name, p.stat().st_mtime_ns) for p in sub.parent.rglob("*"))
    code = main(["validate", str(sub), "--dataset", str(split_dir)])
    after = sorted((p.name, p.stat().st_mtime_ns) for p in sub.parent.rglob("*"))
    assert before == after, "validate must not write anything"
    return code, capsys.readouterr().err


def test_valid_submission_exits_0(good_submission, split_dir, capsys):
    assert main(["validate", str(good_submission), "--dataset", str(split_dir)]) == 0
    assert "valid submission" in capsys.readouterr().out


def _break(sub: Path, how: str) -> str:
    """Apply one malformation; return the file name the message must name."""
    rng = np.random.default_rng(2)
    seq = random_sequence(LENGTHS["s1"], rng)
    path = sub / "s1.npz"
    if how == "missing id":
        path.unlink()
    elif how == "unknown id":
        save_sample(sub / "zz9.npz", seq)
        return "zz9.npz"
    elif how == "wrong shape":
        save_sample(path, MotionSequence(**{**seq.streams(), "body": seq.body[:, :10]}))
    elif how == "wrong dtype":
        np.savez(path, **{**seq.to_arrays(), "face": np.zeros((LENGTHS["s1"], 108), dtype=np.int32)})
    elif how == "nan":
        seq.rhand[3, 2, 1] = np.nan
        save_sample(path, seq)
    elif how == "inf":
        seq.face[0, 5] = np.inf
        save_sample(path, seq)
    elif how == "empty":
        save_sample(path, MotionSequence(**{k: v[:0] for k, v in seq.streams().items()}))
    elif how == "too long":
        n = MAX_LENGTH_FACTOR * LENGTHS["s1"] + 1
        save_sample(path, random_sequence(n, rng))
    elif how == "not npz":
        path.write_bytes(b"this is not a zip archive")
    elif how == "pickled":
        np.savez(path, **{**seq.to_arrays(), "body": np.array([{"evil": 1}], dtype=object)})
    elif how == "meta invalid json":
        (sub / "meta.json").write_text("{system: unquoted")
        return "meta.json"
    elif how == "meta bad field":
        (sub / "meta.json").write_text(json.dumps({"system": "", "params": "many", "colour": "red"}))
        return "meta.json"
    elif how == "mixed":
        np.savez(path, joints=np.zeros((LENGTHS["s1"], 42, 3), dtype=np.float32))
        return "mixed submission"
    elif how == "joint count":
        for sid, n in LENGTHS.items():
            np.savez(sub / f"{sid}.npz", joints=np.zeros((n, 42 if sid != "s1" else 17, 3), dtype=np.float32))
    return "s1.npz"


MALFORMATIONS = ["missing id", "unknown id", "wrong shape", "wrong dtype", "nan", "inf", "empty", "too long",
                 "not npz", "pickled", "meta invalid json", "meta bad field", "mixed", "joint count"]


@pytest.mark.parametrize("how", MALFORMATIONS)
def test_each_malformation_exits_2_naming_the_file(how, good_submission, split_dir, capsys):
    needle = _break(good_submission, how)
    code, err = run_validate(good_submission, split_dir, capsys)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err


def test_score_refuses_a_malformed_submission_before_anything_else(good_submission, split_dir, tmp_path, capsys):
    _break(good_submission, "nan")
    out = tmp_path / "results.json"
    code = main(["score", str(good_submission), "--dataset", str(split_dir), "--json", str(out),
                 "--per-sample", str(tmp_path / "per.jsonl"), "--body-models", str(tmp_path / "absent")])
    assert code == 2
    assert "s1.npz: rhand" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "per.jsonl").exists()


def test_all_problems_are_reported_at_once(good_submission, split_dir):
    for how in ("missing id", "unknown id", "meta bad field"):
        _break(good_submission, how)
    rng = np.random.default_rng(3)
    bad = random_sequence(LENGTHS["s2"], rng)
    bad.body[0, 0, :] = np.nan
    bad.lhand = bad.lhand[:, :3]
    save_sample(good_submission / "s2.npz", bad)
    with pytest.raises(ValidationFailed) as exc:
        check_submission(good_submission, LENGTHS)
    lines = exc.value.problems
    assert any("s1.npz" in l and "missing" in l for l in lines)
    assert any("zz9.npz" in l for l in lines)
    assert any("s2.npz: body" in l and "non-finite" in l for l in lines)
    assert any("s2.npz: lhand" in l and "shape" in l for l in lines)
    assert sum("meta.json" in l for l in lines) == 3  # empty system, params type, unknown key
    assert all(l.count(": ") >= 2 for l in lines), "every line names file and field"


def test_joints_only_submission_is_accepted(good_submission, split_dir):
    for sample_id, n in LENGTHS.items():
        np.savez(good_submission / f"{sample_id}.npz", joints=np.zeros((n, 42, 3), dtype=np.float32))
    sub = check_submission(good_submission, LENGTHS)
    assert sub.kind == "joints" and sub.ids == sorted(LENGTHS) and sub.meta["params"] == 7


def test_meta_defaults_to_folder_name(good_submission):
    (good_submission / "meta.json").unlink()
    assert check_submission(good_submission, LENGTHS).meta["system"] == "pred"


@pytest.mark.parametrize("meta,ok", [({"system": "x"}, True), ({"system": "x", "params": True}, False),
                                     ({"system": "x", "params": -1}, False), ({"system": "x", "url": 3}, False),
                                     ([], False), ({"paper": "p"}, False)])
def test_meta_schema(meta, ok):
    assert (meta_problems(meta, "meta.json") == []) is ok

"""The reference cache: scores with a cold and a warm cache equal scores without one; a warm cache skips the
references' forward; corrupted or foreign entries are recomputed, never trusted; concurrent writers leave
valid entries; the key separates everything the points depend on; --no-cache writes nothing. And the
device path (torch cost matrices, here on the CPU) agrees with the compiled kernels."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from baselines import run_baseline
from m3t_bench.cli import main
from m3t_bench.results import TIMESTAMP_FIELD, dumps_results
from m3t_bench.scoring.reference_cache import ReferenceCache, open_reference_cache
from m3t_bench.scoring.score import score_submission

pytestmark = pytest.mark.slow  # several full scorings incl. face DTW-VPE

DATASET = "synthsign-csl"


@pytest.fixture(scope="module")
def submission(synth_tiny, tmp_path_factory) -> Path:
    return run_baseline("nearest-neighbour", synth_tiny / DATASET, tmp_path_factory.mktemp("subs") / "nn")


@pytest.fixture(scope="module")
def uncached(submission, synth_tiny, smplfx) -> dict:
    return score_submission(submission, synth_tiny / DATASET, model=smplfx).results


def _same(a: dict, b: dict) -> bool:
    a, b = dict(a), dict(b)
    a.pop(TIMESTAMP_FIELD), b.pop(TIMESTAMP_FIELD)
    return dumps_results(a) == dumps_results(b)


def _count_forwards(model, monkeypatch) -> list[int]:
    """Frames through the model's evaluation-point pass, one entry per call."""
    calls, original = [], model.evaluation_points_many

    def counted(names, **streams):
        calls.append(len(streams["body"]))
        return original(names, **streams)
    monkeypatch.setattr(model, "evaluation_points_many", counted)
    return calls


def test_cold_and_warm_cache_give_the_uncached_scores(submission, uncached, synth_tiny, smplfx, tmp_path,
                                                      monkeypatch):
    cold = score_submission(submission, synth_tiny / DATASET, model=smplfx, cache_dir=tmp_path).results
    entries = sorted(tmp_path.glob("*/*.npz"))
    assert entries and len({p.parent for p in entries}) == 1        # the joint sets' pass (not the face)
    with np.load(entries[0], allow_pickle=False) as f:
        assert sorted(f.files) == ["body", "lhand", "rhand", "sha256"]
    calls = _count_forwards(smplfx, monkeypatch)
    warm = score_submission(submission, synth_tiny / DATASET, model=smplfx, cache_dir=tmp_path).results
    assert _same(cold, uncached) and _same(warm, uncached)
    # the warm run forwards the predictions of both passes and the references of the face pass only
    from m3t_bench.scoring.score import validate_against_split
    sub, split = validate_against_split(submission, synth_tiny / DATASET)
    predicted = sum(s.n_frames for s in sub.samples.values())
    assert sum(calls) == 2 * predicted + sum(int(e["n_frames"]) for e in split.entries)


def test_corrupted_entries_are_recomputed(submission, uncached, synth_tiny, smplfx, tmp_path):
    score_submission(submission, synth_tiny / DATASET, model=smplfx, cache_dir=tmp_path)
    entries = sorted(tmp_path.glob("*/*.npz"))
    entries[0].write_bytes(b"not a zip file")                          # unreadable
    raw = bytearray(entries[1].read_bytes())
    raw[len(raw) // 2] ^= 0xFF                                           # one flipped byte inside an array
    entries[1].write_bytes(bytes(raw))
    with np.load(entries[2], allow_pickle=False) as f:                   # valid file, numbers changed
        arrays = {k: f[k] for k in f.files}
    name = next(k for k in arrays if k != "sha256")
    arrays[name] = arrays[name] + np.float32(0.01)
    np.savez(entries[2], **arrays)
    again = score_submission(submission, synth_tiny / DATASET, model=smplfx, cache_dir=tmp_path).results
    # recomputed alone, not in the batch of the first run: float32 points agree to rounding (batch-dependent
    # last bits of the matrix products), so the scores agree to ~1e-7 relative, not bit for bit
    expected = {(s["metric"], s["part"]): s["value"] for s in uncached["scores"]}
    for s in again["scores"]:
        assert s["value"] == pytest.approx(expected[(s["metric"], s["part"])], rel=1e-6)
    cache = ReferenceCache(root=entries[2].parent, sizes={k: v.shape[1] for k, v in arrays.items() if k != "sha256"})
    assert cache.load(entries[2].stem, arrays[name].shape[0]) is not None   # rewritten with the right points
    assert not np.array_equal(np.load(entries[2])[name], arrays[name])


def test_concurrent_writers_leave_valid_entries(tmp_path):
    cache = ReferenceCache(root=tmp_path / "entry", sizes={"a": 5})
    points = {"a": np.random.default_rng(0).normal(size=(40, 5, 3)).astype(np.float32)}
    seen, stop = [], threading.Event()

    def write():
        for _ in range(30):
            cache.store("s1", points)

    def read():
        while not stop.is_set():
            got = cache.load("s1", 40)
            seen.append(got is None or np.array_equal(got["a"], points["a"]))
    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write) for _ in range(2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert all(seen) and np.array_equal(cache.load("s1", 40)["a"], points["a"])
    assert cache.load("s1", 41) is None                                  # wrong frame count: not trusted
    assert [p.name for p in (tmp_path / "entry").iterdir()] == ["s1.npz"]  # no temporary files left


def test_the_key_separates_what_the_points_depend_on(synth_tiny, smplfx, tmp_path):
    from m3t_bench.datasets import open_split
    test, train = open_split(synth_tiny / DATASET, "test"), open_split(synth_tiny / DATASET, "train")
    roots = {open_reference_cache(tmp_path, split=test, model=smplfx, names=("lhand",)).root,
             open_reference_cache(tmp_path, split=train, model=smplfx, names=("lhand",)).root,
             open_reference_cache(tmp_path, split=test, model=smplfx, names=("body", "lhand")).root}
    smplfx.fast_mesh = False
    try:
        roots.add(open_reference_cache(tmp_path, split=test, model=smplfx, names=("lhand",)).root)
    finally:
        smplfx.fast_mesh = True
    assert len(roots) == 4
    assert open_reference_cache(tmp_path, split=test, model=smplfx, names=("lhand",)).root in roots
    assert open_reference_cache(tmp_path, split=test, model=smplfx, names=("face",)) is None   # recomputed


def test_cli_cache_dir_and_no_cache(submission, synth_tiny, standin_dir, tmp_path, capsys):
    args = ["score", str(submission), "--dataset", str(synth_tiny / DATASET), "--body-models", str(standin_dir)]
    assert main([*args, "--cache-dir", str(tmp_path / "c")]) == 0
    assert list((tmp_path / "c").glob("*/*.npz"))
    assert main([*args, "--no-cache", "--cache-dir", str(tmp_path / "n")]) == 0
    assert not (tmp_path / "n").exists()
    capsys.readouterr()


def test_device_path_agrees_with_the_compiled_kernels(submission, uncached, synth_tiny, smplfx):
    on_device = score_submission(submission, synth_tiny / DATASET, model=smplfx, device="cpu").results
    expected = {(s["metric"], s["part"]): s["value"] for s in uncached["scores"]}
    got = {(s["metric"], s["part"]): s["value"] for s in on_device["scores"]}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key

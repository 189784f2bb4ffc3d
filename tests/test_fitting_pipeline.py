"""``m3t-bench fit``: a folder of keypoint files -> a dataset split (card, manifest, quality report, overlays),
per-clip resume, non-converged clips reported and skipped, torchrun sharding (2 CPU processes, gloo), bad
input, and a real signer's MediaPipe ``.pose`` file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from m3t_bench.cli import main
from m3t_bench.datasets import open_split, verify_split
from m3t_bench.fitting.face_maps import load_face_map
from m3t_bench.fitting.layouts import get_layout, resolve_layout
from m3t_bench.fitting.synthetic import corrupt, perturb_init, render_keypoints
from m3t_bench.motion import write_npz

#: Small settings for pipeline mechanics (accuracy is tested in test_fitting.py).
FAST = {"camera_iterations": 10, "reach_iterations": 10, "iterations": 40}


@pytest.fixture(scope="module")
def keypoint_folder(tmp_path_factory, synth_tiny, smplfx):
    """Two synthetic COCO-WholeBody clips (+ tracker starts) and one clip of random noise."""
    from m3t_bench.datasets import open_split as open_
    root = tmp_path_factory.mktemp("kp")
    (root / "keypoints").mkdir()
    (root / "init").mkdir()
    resolved = resolve_layout(get_layout("coco-wholebody"), load_face_map(None, smplfx))
    split = open_(synth_tiny / "synthsign-csl", "test")
    rng = np.random.default_rng(0)
    for clip_id in split.ids[:2]:
        seq = split.load(clip_id)
        seq = type(seq)(body=seq.body[:16], lhand=seq.lhand[:16], rhand=seq.rhand[:16], face=seq.face[:16], shape=seq.shape)
        clip, _ = render_keypoints(smplfx, resolved, seq)
        noisy = corrupt(clip, rng, noise_px=1.0, drop=0.2)
        write_npz(root / "keypoints" / f"{clip_id}.npz", {
            "keypoints": np.concatenate([noisy.xy, noisy.confidence[..., None]], -1), "image_size": np.array([1280, 720]),
            "fps": np.array(30.0)})
        write_npz(root / "init" / f"{clip_id}.npz", perturb_init(seq, rng).sequence.to_arrays())
    noise = rng.uniform(0, 720, (16, 133, 3)).astype(np.float32)
    noise[..., 2] = 1.0
    write_npz(root / "keypoints" / "zz_noise.npz", {"keypoints": noise, "image_size": np.array([1280, 720]),
                                                   "fps": np.array(30.0)})
    write_npz(root / "init" / "zz_noise.npz", perturb_init(seq, rng).sequence.to_arrays())
    (root / "config.json").write_text(json.dumps(FAST))
    (root / "texts.tsv").write_text("id\ttext\tgloss\tsigner\n" + "".join(
        f"{i}\tsentence {i}\tG{i}\tsigner-a\n" for i in split.ids[:2]))
    return root


def _fit_args(root, out, *extra):
    return ["fit", "--keypoints", str(root / "keypoints"), "--format", "coco-wholebody", "--out", str(out),
            "--name", "fitted-csl", "--split", "test", "--language", "zh", "--init", str(root / "init"),
            "--config", str(root / "config.json"), "--texts", str(root / "texts.tsv"), "--quiet", *extra]


def test_fit_writes_a_verified_split_with_card_report_and_overlays(keypoint_folder, standin_dir, tmp_path, capsys):
    out = tmp_path / "data"
    assert main(_fit_args(keypoint_folder, out, "--body-models", str(standin_dir))) == 0
    captured = capsys.readouterr()
    assert "fitted 2 of 3 clips" in captured.out and "zz_noise" in captured.err
    split, problems = verify_split(out / "fitted-csl", "test")
    assert problems == [] and len(split) == 2 and split.body_model_id == "smplfx-standin@1"
    assert split.entries[0]["text"].startswith("sentence") and split.entries[0]["signer"] == "signer-a"
    assert split.entries[0]["fit_reprojection_px"] < 5.0 and split.spec.fps == 30.0
    fitting = split.card["fitting"]
    assert fitting["layout"] == "coco-wholebody" and fitting["config"]["iterations"] == FAST["iterations"]
    assert set(fitting["clips"]) == {*split.ids, "zz_noise"} and not fitting["clips"]["zz_noise"]["converged"]
    assert "above max_error" in fitting["clips"]["zz_noise"]["reason"]
    assert all(fitting["clips"][i]["losses"]["total"] > 0 for i in split.ids)
    report = json.loads((split.root / "quality.json").read_text())
    assert report["summary"]["n_converged"] == 2 and (split.root / "quality.md").read_text().startswith("# Fitting")
    assert sorted(p.name for p in (split.root / "overlays").iterdir()) == [f"{i}.png" for i in split.ids]
    assert (split.root / "overlays" / f"{split.ids[0]}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_skips_finished_clips_and_refits_on_new_settings(keypoint_folder, standin_dir, tmp_path, monkeypatch):
    from m3t_bench.fitting import pipeline
    out = tmp_path / "data"
    args = _fit_args(keypoint_folder, out, "--body-models", str(standin_dir), "--no-overlays")
    assert main(args) == 0
    first = {p.name: p.read_bytes() for p in (out / "fitted-csl" / "test").glob("*.npz")}
    calls = []
    original = pipeline._fit_one
    monkeypatch.setattr(pipeline, "_fit_one", lambda *a, **k: calls.append(a[3].clip_id) or original(*a, **k))
    assert main(args) == 0 and calls == []                      # every clip has its record: nothing refitted
    assert {p.name: p.read_bytes() for p in (out / "fitted-csl" / "test").glob("*.npz")} == first
    record = out / "fitted-csl" / "test.fitting" / "clips" / f"{sorted(first)[0][:-4]}.json"
    record.unlink()                                             # an interrupted clip
    assert main(args) == 0 and calls == [sorted(first)[0][:-4]]
    assert main([*args, "--max-error", "14"]) == 0 and len(calls) == 1 + 3   # new settings: all refitted


def test_torchrun_two_processes_shard_clips_and_match_one_process(keypoint_folder, standin_dir, tmp_path):
    single, double = tmp_path / "one", tmp_path / "two"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun worker (OMP_NUM_THREADS=1): float reductions depend on threads
    try:
        assert main(_fit_args(keypoint_folder, single, "--body-models", str(standin_dir), "--no-overlays")) == 0
    finally:
        torch.set_num_threads(threads)
    with socket.socket() as sock:   # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "m3t_bench.cli", *_fit_args(keypoint_folder, double, "--body-models", str(standin_dir), "--no-overlays")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("fitted 2 of 3 clips") == 1          # rank 0 merged, once
    a, b = open_split(single / "fitted-csl", "test"), open_split(double / "fitted-csl", "test")
    assert a.ids == b.ids and [e["sha256"] for e in a.entries] == [e["sha256"] for e in b.entries]
    records = sorted((double / "fitted-csl" / "test.fitting" / "clips").glob("*.json"))
    assert [r.stem for r in records] == sorted([*a.ids, "zz_noise"])


def test_bad_input_is_one_line_and_exit_2(keypoint_folder, standin_dir, tmp_path, capsys):
    base = ["fit", "--out", str(tmp_path), "--name", "x", "--split", "test", "--language", "de",
            "--body-models", str(standin_dir), "--quiet"]
    assert main([*base, "--keypoints", str(tmp_path / "nowhere"), "--format", "openpose"]) == 2
    assert "keypoint folder not found" in capsys.readouterr().err
    assert main([*base, "--keypoints", str(keypoint_folder / "keypoints"), "--format", "openpose",
                 "--image-size", "wide"]) == 2
    assert "--image-size: 'wide', expected WIDTHxHEIGHT" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"iterationz": 3}')
    assert main([*base, "--keypoints", str(keypoint_folder / "keypoints"), "--format", "coco", "--config",
                 str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "unknown field(s) iterationz" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        main([*base, "--keypoints", str(keypoint_folder / "keypoints"), "--format", "kinect"])
    assert exc.value.code == 2


@pytest.mark.realdata
def test_real_signer_pose_file_fits_with_falling_error_and_smooth_motion(shared_data, smplfx):
    """A real DGS-Korpus signer (MediaPipe Holistic, reduced to 178 points) fitted from the rest pose."""
    from m3t_bench.fitting.camera import project, to_camera
    from m3t_bench.fitting.optimise import fit_clip
    from m3t_bench.fitting.readers import discover_clips, read_clip
    from m3t_bench.fitting.synthetic import model_keypoints
    resolved = resolve_layout(get_layout("mediapipe"), load_face_map(None, smplfx))
    source = next(s for s in discover_clips(shared_data / "dgs-korpus-poses") if s.clip_id == "train_13_original")
    clip = read_clip(source, resolved.layout)
    index = resolved.layout.index()
    from pose_format import Pose                                        # every point of the file is in our layout
    header = Pose.read(source.path.read_bytes()).header
    assert all((c.name, p) in index for c in header.components for p in c.points)
    result = fit_clip(smplfx, resolved, clip)
    m = result.metrics
    assert result.converged and m["reprojection_px"] < 0.1 * m["reprojection_px_init"] and m["reprojection_px"] < 10
    assert m["reprojection_px_face"] < 10 and m["reprojection_px_lhand"] < 10 and m["reprojection_px_rhand"] < 10
    # smooth: the projected fit jitters less than the detections it explains
    import torch
    px = project(to_camera(model_keypoints(smplfx, resolved, result.sequence), torch.tensor(result.camera["root_rotation"]),
                           torch.tensor(result.camera["translation"])), result.camera["focal"], result.camera["cx"],
                 result.camera["cy"]).numpy()
    seen = (clip.confidence[2:] > 0.5) & (clip.confidence[1:-1] > 0.5) & (clip.confidence[:-2] > 0.5) & resolved.mapped
    accel = lambda xy: np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=-1)[seen].mean()  # noqa: E731
    assert accel(px) < accel(clip.xy)
    assert m["joint_acceleration_mm"] < 10.0


@pytest.mark.realdata
def test_real_lifted_3d_skeleton_fits(shared_data, smplfx):
    """A real Phoenix14T 3D skeleton (Progressive Transformers' 50 joints, lifted from OpenPose, unknown scale
    and axes) fitted as 3D keypoints up to a per-clip similarity."""
    from m3t_bench.fitting.keypoints import KeypointClip
    from m3t_bench.fitting.optimise import FitConfig, fit_clip
    skeletons = np.load(shared_data / "skeletons" / "phoenix14t_3d_skels_50joints.npz", allow_pickle=False)
    name = min(skeletons.files, key=lambda k: skeletons[k].shape[0])
    xyz = skeletons[name].astype(np.float32)
    t = len(xyz)
    resolved = resolve_layout(get_layout("pt50"), None)
    clip = KeypointClip(name, resolved.layout, np.zeros((t, 50, 2), np.float32), np.zeros((t, 50), np.float32),
                        (1, 1), 25.0, xyz, np.ones((t, 50), np.float32)).checked()
    result = fit_clip(smplfx, resolved, clip, FitConfig(iterations=150))
    m = result.metrics
    assert result.converged and m["keypoints_3d_mm"] < 0.5 * m["keypoints_3d_mm_init"] and m["keypoints_3d_mm"] < 40

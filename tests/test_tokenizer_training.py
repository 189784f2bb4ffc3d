"""Tokenizer training, resuming, the CLI (train / tokenize / detokenize / ablate) and DDP, on SynthSign tiny
with the stand-in SMPL-FX model."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from m3t_bench.cli import main
from m3t_bench.motion import load_sample, write_npz
from reference_models.m3t.config import TINY
from reference_models.m3t.train import LAST_WEIGHTS, build_model, learning_rate, train_tokenizer

DATASET = "synthsign-asl"


@pytest.fixture(scope="module")
def asl(synth_tiny):
    from m3t_bench.datasets import open_split
    splits = {s: open_split(synth_tiny / DATASET, s) for s in ("train", "val", "test")}
    return {s: [sp.load(i) for i in sp.ids] for s, sp in splits.items()}


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = TINY.replace(lr=1e-3, min_lr=1e-5, warmup_fraction=0.25)
    lrs = [learning_rate(s, 100, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-3 / 25) and lrs[24] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[25:], lrs[26:]))
    assert learning_rate(100, 100, cfg) == pytest.approx(1e-5)


def test_tiny_fsq_vae_overfits_a_few_sequences(asl, smplfx, tmp_path):
    # the two shortest training sequences, crops nearly as long as them: a near-fixed training set
    few = sorted(asl["train"], key=lambda s: s.n_frames)[:2]
    cfg = TINY.replace(batch_size=2, epochs=100, lr=3e-3, warmup_fraction=0.05, window=few[0].n_frames // 4 * 4,
                       val_every=50, val_samples=1)
    result = train_tokenizer("body", cfg, few, asl["val"][:1], tmp_path, body_model=smplfx, progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) / 10, losses[::10]
    errors = [h["val_vertex_error_mm"] for h in result.history if "val_vertex_error_mm" in h]
    assert len(errors) == 2 and result.best_val_mm == min(errors)


def test_resume_continues_exactly(asl, smplfx, tmp_path):
    cfg = TINY.replace(epochs=4, batch_size=4)
    kwargs = dict(quantizer="vq", body_model=smplfx, progress=False, seed=3)
    train_tokenizer("face", cfg, asl["train"][:8], asl["val"][:1], tmp_path / "straight", **kwargs)
    train_tokenizer("face", cfg, asl["train"][:8], asl["val"][:1], tmp_path / "resumed", stop_after_epochs=2, **kwargs)
    assert json.loads((tmp_path / "resumed" / "train_state.json").read_text())["epoch"] == 2
    train_tokenizer("face", cfg, asl["train"][:8], asl["val"][:1], tmp_path / "resumed", resume=True, **kwargs)
    a, b = load_file(tmp_path / "straight" / LAST_WEIGHTS), load_file(tmp_path / "resumed" / LAST_WEIGHTS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(Exception, match="another configuration"):
        train_tokenizer("face", cfg.replace(width=16), asl["train"][:8], asl["val"][:1], tmp_path / "resumed",
                        resume=True, **kwargs)


@pytest.fixture(scope="module")
def trained_dir(synth_tiny, standin_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tokenizers")
    for modality in ("body", "hand", "face"):
        rc = main(["train", "tokenizer", "--modality", modality, "--config", "tiny", "--data", str(synth_tiny / DATASET),
                   "--out", str(out), "--epochs", "1", "--quiet", "--body-models", str(standin_dir)])
        assert rc == 0
    return out


def test_cli_tokenize_then_detokenize_gives_valid_samples(trained_dir, synth_tiny, tmp_path, capsys):
    test_split = synth_tiny / DATASET / "test"
    assert main(["tokenize", str(test_split), "--ckpt-dir", str(trained_dir), "--out", str(tmp_path / "tok")]) == 0
    manifest = [json.loads(line) for line in (test_split / "manifest.jsonl").read_text().splitlines()]
    sizes = json.loads((tmp_path / "tok" / "tokens.json").read_text())["codebook_size"]
    for entry in manifest:
        tokens = np.load(tmp_path / "tok" / f"{entry['id']}.npz", allow_pickle=False)
        for stream, modality in (("body", "body"), ("lhand", "hand"), ("rhand", "hand"), ("face", "face")):
            assert tokens[stream].shape == (math.ceil(entry["n_frames"] / 4),)
            assert tokens[stream].dtype == np.int64 and 0 <= tokens[stream].min() <= tokens[stream].max() < sizes[modality]
    assert main(["detokenize", str(tmp_path / "tok"), "--ckpt-dir", str(trained_dir), "--out", str(tmp_path / "dec")]) == 0
    for entry in manifest:
        seq = load_sample(tmp_path / "dec" / f"{entry['id']}.npz")   # validates: raises on any problem
        assert seq.n_frames == entry["n_frames"]


def test_cli_rejects_bad_token_files(trained_dir, tmp_path, capsys):
    good = {"body": np.zeros(3, np.int64), "lhand": np.zeros(3, np.int64), "rhand": np.zeros(3, np.int64),
            "face": np.zeros(3, np.int64), "n_frames": np.asarray([11])}
    write_npz(tmp_path / "tok" / "a.npz", {**good, "face": np.array([0, 320, 1])})
    assert main(["detokenize", str(tmp_path / "tok"), "--ckpt-dir", str(trained_dir), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "a.npz: face: token out of range [0, 320)" in err and "Traceback" not in err
    write_npz(tmp_path / "tok" / "a.npz", {**good, "n_frames": np.asarray([20])})
    assert main(["detokenize", str(tmp_path / "tok"), "--ckpt-dir", str(trained_dir), "--out", str(tmp_path / "o")]) == 2
    assert "n_frames" in capsys.readouterr().err
    assert main(["tokenize", str(tmp_path / "missing"), "--ckpt-dir", str(trained_dir), "--out", str(tmp_path)]) == 2


def test_cli_ablation_writes_a_table_3_shaped_table(synth_tiny, standin_dir, tmp_path):
    rc = main(["ablate", "tokenizer", "--data", str(synth_tiny / DATASET), "--out", str(tmp_path), "--grid", "none",
               "--epochs", "1", "--eval-samples", "3", "--quiet", "--body-models", str(standin_dir)])
    assert rc == 0
    result = json.loads((tmp_path / "tokenizer_ablation.json").read_text())
    assert result["data"]["eval_samples"] == 3
    assert [(r["quantizer"], r["batch_size"], r["width"]) for r in result["rows"]] == [("vq", 8, 32), ("fsq", 8, 32)]
    for row in result["rows"]:
        for modality, scores in row["modalities"].items():
            assert 0 < scores["utilisation_pct"] <= 100 and scores["pa_vpe_mm"] >= 0, (modality, scores)
            signed = {(s["metric"], s["part"]): s for s in scores["scores"]}   # every figure is a tokenizer@1 number
            joint_parts = {"body": ("body",), "hand": ("lhand", "rhand"), "face": ()}[modality]
            assert set(signed) == {(m, modality) for m in ("pa-vpe", "codebook-use", "token-freq-std")} | {
                ("pa-jpe", p) for p in joint_parts}
            assert signed[("pa-vpe", modality)]["n"] == 3
            assert signed[("pa-vpe", modality)]["value"] == scores["pa_vpe_mm"]
            for (_, part), entry in signed.items():
                assert entry["ci95"][0] <= entry["value"] <= entry["ci95"][1]
                assert f"|part:{part}|" in entry["signature"] and "|proto:tokenizer@1|" in entry["signature"]
                assert f"|ds:{DATASET}@1|" in entry["signature"]
    header = (tmp_path / "tokenizer_ablation.csv").read_text().splitlines()[0]
    assert header.startswith("Method,BS,HS,PA-VPE body (mm)")
    table = (tmp_path / "tokenizer_ablation.md").read_text()
    assert "| FSQ" in table and "- PA-VPE face (mm): `pa-vpe@1|part:face|unit:mm|" in table


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process(synth_tiny, standin_dir, tmp_path):
    args = ["train", "tokenizer", "--modality", "hand", "--config", "tiny", "--data", str(synth_tiny / DATASET),
            "--epochs", "2", "--batch-size", "8", "--quiet", "--body-models", str(standin_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "m3t_bench.cli", *args, "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    a = load_file(tmp_path / "single" / "hand" / LAST_WEIGHTS)
    b = load_file(tmp_path / "ddp" / "hand" / LAST_WEIGHTS)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-4, rtol=1e-4), key
    # training moved the weights: the comparison is not between two untouched initialisations
    init = build_model("hand", TINY, "fsq", seed=0).state_dict()
    assert max(float((a[k] - init[k]).abs().max()) for k in init if k.endswith("weight")) > 1e-3

"""``m3t-bench train slr`` / ``eval slr`` end to end on SynthSign tiny's isolated set, their errors on bad
input, and two-process (DDP, gloo) training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

import pytest
import torch
from safetensors.torch import load_file

from m3t_bench.cli import main
from reference_models.m3t.checkpoint import save_tokenizer
from reference_models.m3t.config import TINY
from reference_models.m3t.train import build_model
from tests.torchrun import run_cli_distributed

DATASET = "synthsign-nmfs"


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """Untrained tiny tokenizers saved as a tokenizer directory: the plumbing needs no trained encoder."""
    out = tmp_path_factory.mktemp("slr-cli-tok")
    for seed, modality in enumerate(("body", "hand", "face")):
        save_tokenizer(build_model(modality, TINY, "fsq", seed), out / modality)
    return out


def _train_args(synth_tiny, tokenizer_dir, standin_dir):
    return ["train", "slr", "--data", str(synth_tiny / DATASET), "--tokenizer", str(tokenizer_dir), "--epochs", "2",
            "--batch-size", "8", "--quiet", "--body-models", str(standin_dir)]


@pytest.fixture(scope="module")
def trained(synth_tiny, tokenizer_dir, standin_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("slr-cli") / "probe"
    assert main([*_train_args(synth_tiny, tokenizer_dir, standin_dir), "--out", str(out)]) == 0
    return out


def test_train_writes_a_checkpoint_with_its_provenance(trained, tokenizer_dir):
    meta = json.loads((trained / "config.json").read_text())
    assert meta["format"] == "m3t-slr@1" and meta["modalities"] == ["body", "hand", "face"]
    assert meta["streams"] == ["body", "lhand", "rhand", "face"] and meta["n_classes"] == 6
    assert meta["body_model"] == "smplfx-standin@1" and len(meta["history"]) == 2
    assert meta["validation"].startswith("held-out signers ")
    assert set(meta["tokenizer"]["sha256"]) == {"body", "hand", "face"}
    assert meta["config"]["window"]["enabled"] is True
    assert (trained / "model.safetensors").is_file()


def test_eval_writes_slr_results_that_table_4_shows_beside_the_papers_rows(trained, synth_tiny, standin_dir, tmp_path,
                                                                           capsys):
    from m3t_bench.results import read_results
    results = tmp_path / "results" / DATASET / "probe.json"
    capsys.readouterr()
    rc = main(["eval", "slr", "--ckpt", str(trained), "--data", str(synth_tiny / DATASET), "--split", "test",
               "--body-models", str(standin_dir), "--bootstrap", "50", "--json", str(results)])
    assert rc == 0
    out = capsys.readouterr().out
    for part in ("overall", "confusing", "normal"):
        assert f"top1   {part}" in out and f"top5   {part}" in out
    data = read_results(results)
    assert data["protocol"] == "slr@1" and data["dataset"]["name"] == DATASET and data["dataset"]["n_samples"] == 6
    assert {(s["metric"], s["part"]) for s in data["scores"]} == {(m, p) for m in ("top1", "top5")
                                                                  for p in ("overall", "confusing", "normal")}
    assert data["system"]["system"].startswith("SLR probe body+hand+face (face-aware; tiny")
    reported = Path(__file__).parents[1] / "leaderboards" / "reported"
    assert main(["table", "--table", "4", "--results-dir", str(tmp_path / "results"), "--reported-dir",
                 str(reported)]) == 0
    table = capsys.readouterr().out
    scored, published = table.split("Reported in publications")
    assert "| SLR probe body+hand+face" in scored and "synthsign-nmfs T-1 Conf." in scored
    assert "M3T (pose) |" in published and "NMFs-CSL T-1 Conf." in published
    # the paper's row in its own NMFs-CSL columns, nothing in ours
    assert "| M3T (pose) | 74.10 | 95.10 | 58.30 | 93.00 | 93.50 | 97.60 | – | – | – | – | – | – |" in published
    assert "`top1@1|part:confusing|boot:50-s0|ds:synthsign-nmfs@2|proto:slr@1|" in table
    # the production table lists continuous-signing datasets only
    assert main(["table", "--table", "1", "--results-dir", str(tmp_path / "results"), "--no-reported"]) == 2


def test_bad_inputs_exit_2_with_one_line(trained, synth_tiny, tokenizer_dir, standin_dir, tmp_path, capsys):
    args = [*_train_args(synth_tiny, tokenizer_dir, standin_dir), "--out", str(tmp_path / "x")]
    assert main([*args, "--modalities", "body,nose"]) == 2
    assert "modalities" in capsys.readouterr().err
    classes = tmp_path / "classes.tsv"
    classes.write_text("class_id\tgloss\tgroup\tconfusing\n0\ta\t\t0\n1\tb\t\t0\n", encoding="utf-8")
    assert main([*args, "--classes", str(classes)]) == 2
    assert "label" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # refused by the command line's integer range, before any work
        main([*args, "--epochs", "0"])
    assert stop.value.code == 2 and "--epochs" in capsys.readouterr().err
    # a tokenizer whose weights changed since training is refused
    changed = tmp_path / "tok"
    shutil.copytree(tokenizer_dir, changed)
    save_tokenizer(build_model("face", TINY, "fsq", 99), changed / "face")
    rc = main(["eval", "slr", "--ckpt", str(trained), "--data", str(synth_tiny / DATASET), "--tokenizer", str(changed),
               "--body-models", str(standin_dir)])
    assert rc == 2 and "face tokenizer weights differ" in capsys.readouterr().err
    assert main(["eval", "slr", "--ckpt", str(tmp_path / "missing"), "--data", str(synth_tiny / DATASET),
                 "--body-models", str(standin_dir)]) == 2
    assert main(["eval"]) == 2


def test_converted_nmfs_csl_pseudo_gt_with_a_user_class_list(synth_tiny, tokenizer_dir, standin_dir, tmp_path, capsys):
    # NMFs-CSL pseudo-GT arrives as per-sample arrays plus a table with the gloss; labels come from the class list
    from m3t_bench.datasets import open_split
    from m3t_bench.datasets.convert import convert_folder
    source = synth_tiny / DATASET
    for split in ("train", "test"):
        sp = open_split(source, split)
        raw = tmp_path / "raw" / split
        raw.mkdir(parents=True)
        rows = ["id\ttext\tgloss\tsigner"]
        for entry in sp.entries:
            np.save(raw / f"{entry['id']}.npy", sp.load(entry["id"]).features())
            rows.append(f"{entry['id']}\t{entry['text']}\t{entry['gloss']}\t{entry['signer']}")
        (tmp_path / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        convert_folder(raw, tmp_path / "data", source="flat360", name="nmfs-csl", split=split,
                       texts=tmp_path / f"{split}.tsv")
    assert "label" not in open_split(tmp_path / "data" / "nmfs-csl", "test").entries[0]
    classes = tmp_path / "user-classes.tsv"
    shutil.copy(source / "classes.tsv", classes)
    data = ["--data", str(tmp_path / "data" / "nmfs-csl"), "--classes", str(classes), "--body-models", str(standin_dir)]
    assert main(["train", "slr", *data, "--tokenizer", str(tokenizer_dir), "--out", str(tmp_path / "probe"),
                 "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", "slr", *data, "--ckpt", str(tmp_path / "probe"), "--bootstrap", "20"]) == 0
    assert "nmfs-csl@1 test (6 samples" in capsys.readouterr().out


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process(synth_tiny, tokenizer_dir, standin_dir, tmp_path):
    args = [*_train_args(synth_tiny, tokenizer_dir, standin_dir), "--dropout", "0"]
    proc = run_cli_distributed([*args, "--out", str(tmp_path / "ddp")])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    a, b = load_file(tmp_path / "single" / "model.safetensors"), load_file(tmp_path / "ddp" / "model.safetensors")
    assert a.keys() == b.keys()
    # attention in-projection biases are left out: the key part's gradient is zero in exact arithmetic
    # (softmax ignores a constant shift), and Adam turns its rounding noise into full-size steps of either sign
    for key in (k for k in a if not k.endswith("in_proj_bias")):
        assert torch.allclose(a[key], b[key], atol=1e-5, rtol=1e-4), key
    ha = json.loads((tmp_path / "single" / "config.json").read_text())["history"]
    hb = json.loads((tmp_path / "ddp" / "config.json").read_text())["history"]
    assert [h["val_top1"] for h in ha] == [h["val_top1"] for h in hb]
    assert [h["val_loss"] for h in ha] == pytest.approx([h["val_loss"] for h in hb], rel=1e-5)
    # training moved the weights: the comparison is not between two untouched initialisations
    from reference_models.m3t.slr import TINY as TINY_SLR
    from reference_models.m3t.slr_train import build_head
    init = build_head(TINY_SLR.replace(dropout=0.0), ("body", "lhand", "rhand", "face"),
                      {"body": 32, "hand": 32, "face": 32}, 6, seed=0).state_dict()
    assert max(float((a[k] - init[k]).abs().max()) for k in init if k.endswith("weight")) > 1e-3

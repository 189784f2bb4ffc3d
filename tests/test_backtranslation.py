"""The back-translation evaluator on SynthSign tiny: training learns a motion→text mapping (beats a shuffled-
reference control), decoding is deterministic and matches an exhaustive search, the content hash follows every
weight into the signature, text round-trips through each language's tokenisation, `--bt-model` refuses bad
folders with one line, skeleton-only submissions are skipped, and DDP runs with two gloo processes."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from m3t_bench.cli import main
from m3t_bench.datasets import open_split
from m3t_bench.errors import UserError
from m3t_bench.metrics import bleu, rouge_l
from m3t_bench.scoring.backtranslators import ENTRY_POINT_GROUP, load_backtranslator, signature_id
from reference_models.backtranslation.checkpoint import (
    MANIFEST_FILE, TEXT_VOCAB_FILE, WEIGHTS_FILE, load_checkpoint, save_checkpoint, verify_checkpoint,
)
from reference_models.backtranslation.config import FULL, TINY
from reference_models.backtranslation.decode import (
    BOS_ID, EOS_ID, PAD_ID, beam_search, greedy_decode, inference_batches, pad_frames, translate_features,
)
from reference_models.backtranslation.model import BackTranslationTransformer, parameter_count
from reference_models.backtranslation.text import TEXT_SPECIALS, detokenize, gloss_targets, text_tokens
from reference_models.backtranslation.train import build_model, train_backtranslator

REPO = Path(__file__).resolve().parents[1]
DATASET = "synthsign-csl"
#: Small enough to train in seconds on 2 cores; same code paths as `tiny`/`full`.
SMALL = TINY.replace(d_model=64, ff_size=128, heads=2, encoder_layers=1, decoder_layers=1, batch_size=4,
                     epochs=30, val_every=30, beam_size=3)


@pytest.fixture(scope="module")
def plugin_installed(tmp_path_factory):
    """The `m3t_bench.backtranslators` entry points as pyproject.toml declares them. When the environment's
    installed metadata predates the group (an editable install made before it existed), a distribution
    with exactly the declared entry points is put on sys.path for this module."""
    from importlib.metadata import entry_points
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    if {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)} == declared:
        yield declared
        return
    site = tmp_path_factory.mktemp("entry-points")
    info = site / "m3t_bench_backtranslators_test-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: m3t-bench-backtranslators-test\nVersion: 0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n" +
                                           "".join(f"{k} = {v}\n" for k, v in declared.items()))
    sys.path.insert(0, str(site))
    try:
        yield declared
    finally:
        sys.path.remove(str(site))


@pytest.fixture(scope="module")
def splits(synth_tiny):
    return {s: open_split(synth_tiny / DATASET, s) for s in ("train", "val", "test")}


@pytest.fixture(scope="module")
def trained(splits, tmp_path_factory):
    out = tmp_path_factory.mktemp("bt") / "model"
    result = train_backtranslator(SMALL, splits["train"], splits["val"], out, progress=False)
    return out, result


def test_configs_follow_slt_and_the_paper():
    # neccam/slt configs/sign.yaml and M3T appendix D.4 (batch 256, plateau patience 10)
    assert (FULL.encoder_layers, FULL.decoder_layers, FULL.d_model, FULL.ff_size, FULL.heads, FULL.dropout) == \
        (3, 3, 512, 2048, 8, 0.1)
    assert (FULL.lr, FULL.betas, FULL.weight_decay, FULL.plateau_factor, FULL.min_lr) == (1e-3, (0.9, 0.998), 1e-3,
                                                                                          0.7, 1e-7)
    assert (FULL.batch_size, FULL.plateau_patience, FULL.translation_weight, FULL.gloss_weight) == (256, 10, 1.0, 1.0)
    # tiny: 2+2 layers, d = 256, ff 1024, 4 heads; ~3.9M parameters with a SynthSign-sized vocabulary (~100 words)
    tiny = BackTranslationTransformer(TINY, n_text=100, n_gloss=80)
    assert 3.7e6 < parameter_count(tiny) < 4.0e6


def test_tiny_training_beats_a_shuffled_reference_control(trained, splits):
    out, result = trained
    assert result.gloss_source == "manifest" and result.best_epoch == SMALL.epochs
    losses = [h["train_translation_loss"] for h in result.history]
    assert losses[-1] < losses[0] / 3, losses
    from reference_models.backtranslation.plugin import load
    model = load(out)
    train = splits["train"]
    hyps = model.translate([train.load(i) for i in train.ids])
    refs = [e["text"] for e in train.entries]
    shuffled = [refs[i] for i in np.random.default_rng(0).permutation(len(refs))]
    # the model reproduces its training sentences from their motion; the same hypotheses against shuffled
    # references get only the BLEU that the shared vocabulary gives
    assert bleu(hyps, refs, "zh") > bleu(hyps, shuffled, "zh") + 30, (hyps[:3], refs[:3])


def test_decoding_is_deterministic_and_independent_of_batching(trained, splits):
    from reference_models.backtranslation.plugin import load
    model = load(trained[0])
    seqs = [splits["test"].load(i) for i in splits["test"].ids]
    first = model.translate_ids(seqs)
    assert model.translate_ids(seqs) == first
    assert [model.translate_ids([s])[0] for s in seqs] == first
    feats = [s.features() for s in seqs]
    cfg = model.checkpoint.cfg
    tiny_batches = translate_features(model.checkpoint.model, feats, beam_size=cfg.beam_size, alpha=cfg.beam_alpha,
                                      max_length=cfg.max_output_length, budget=1)
    assert tiny_batches == first


def test_inference_batches_respect_the_attention_budget():
    lengths = [5, 100, 7, 100, 60, 3]
    batches = inference_batches(lengths, budget=25_000)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) == 1 or len(b) * max(lengths[i] for i in b) ** 2 <= 25_000 for b in batches)
    assert batches[0] == [1, 3]


def _random_model(n_text: int, seed: int = 0) -> BackTranslationTransformer:
    cfg = SMALL.replace(dropout=0.0)
    model = build_model(cfg, n_text=n_text, n_gloss=3, seed=seed)
    model.set_feature_statistics(torch.zeros(360), torch.ones(360))
    return model.eval()


def test_cached_step_decoding_equals_the_full_decoder():
    model = _random_model(12)
    frames, mask = pad_frames([np.random.default_rng(i).normal(size=(n, 360)).astype(np.float32)
                               for i, n in enumerate((9, 14, 5))], torch.device("cpu"))
    tokens = torch.tensor([[BOS_ID, 5, 7, 9, 4], [BOS_ID, 6, 6, 11, 8], [BOS_ID, 10, 4, 5, 5]])
    with torch.no_grad():
        memory = model.encode(frames, mask)
        full = model.decode(memory, mask, tokens)
        cache = model.start_decoding(memory, mask)
        steps = torch.stack([model.decode_next(cache, tokens[:, t]) for t in range(tokens.shape[1])], dim=1)
    assert torch.allclose(full, steps, atol=1e-5, rtol=1e-5)


def _sequence_log_prob(model, frames, mask, hyp: list[int], max_length: int) -> float:
    """log p(hyp + <eos>) from the full (uncached) decoder, with the decoders' constraints (<pad>/<bos> never;
    only <eos> at the last position)."""
    tokens = torch.tensor([[BOS_ID, *hyp]])
    with torch.no_grad():
        logits = model.decode(model.encode(frames, mask), mask, tokens)[0]
    total = 0.0
    for pos, target in enumerate([*hyp, EOS_ID]):
        logp = torch.log_softmax(logits[pos], dim=-1)
        if pos == max_length - 1:
            if target != EOS_ID:
                return float("-inf")
            continue
        allowed = [i for i in range(logp.shape[0]) if i not in (PAD_ID, BOS_ID)]
        total += float(logp[target]) if target in allowed else float("-inf")
    return total


def test_beam_search_equals_exhaustive_search_when_wide_enough():
    # vocabulary: the 4 specials + 2 words; with alpha = 0 scores only fall as a hypothesis grows, so a beam
    # as wide as the number of prefixes finds the most probable sequence of all (enumerated here)
    model = _random_model(6, seed=3)
    max_length = 4
    words = [1, 4, 5]  # <unk> may be emitted, like any word
    for seed in range(4):
        frames, mask = pad_frames([np.random.default_rng(seed).normal(size=(7, 360)).astype(np.float32)],
                                  torch.device("cpu"))
        candidates = [list(c) for n in range(max_length) for c in itertools.product(words, repeat=n)]
        scores = [_sequence_log_prob(model, frames, mask, c, max_length) for c in candidates]
        best = candidates[int(np.argmax(scores))]
        assert beam_search(model, frames, mask, beam_size=len(words) ** max_length, alpha=0.0,
                           max_length=max_length) == [best]
        # greedy = following the arg-max of the full decoder one token at a time
        prefix: list[int] = []
        while len(prefix) < max_length - 1:
            with torch.no_grad():
                logits = model.decode(model.encode(frames, mask), mask, torch.tensor([[BOS_ID, *prefix]]))[0, -1]
            logits[[PAD_ID, BOS_ID]] = float("-inf")
            token = int(logits.argmax())
            if token == EOS_ID:
                break
            prefix.append(token)
        assert greedy_decode(model, frames, mask, max_length=max_length) == [prefix]


@pytest.mark.parametrize("dataset,lang", [("synthsign-asl", "en"), ("synthsign-csl", "zh"), ("synthsign-dgs", "de")])
def test_text_round_trips_through_the_model_tokenisation(synth_tiny, dataset, lang):
    sp = open_split(synth_tiny / dataset, "train")
    refs = [e["text"] for e in sp.entries]
    tokens = [text_tokens(t, sp.spec.text_tokenization, lang) for t in refs]
    # a model that emits exactly the reference tokens scores 100 on both metrics
    hyps = [detokenize(t, sp.spec.text_tokenization) for t in tokens]
    assert bleu(hyps, refs, lang) == pytest.approx(100.0) and rouge_l(hyps, refs, lang) == pytest.approx(100.0)
    if lang == "zh":
        import jieba
        assert sp.spec.text_tokenization == "jieba"
        assert tokens[0] == [w for w in jieba.lcut(refs[0].lower()) if w.strip()]
        assert any(len(t) > 1 for s in tokens for t in s)  # words, not characters
        assert " " not in hyps[0]


def test_pseudo_glosses_for_english_without_glosses():
    rows = [{"text": "I would like to buy the red car.", "gloss": ""}, {"text": "Yes.", "gloss": ""}]
    glosses, source = gloss_targets(rows, "en")
    assert source == "pseudo-gloss" and glosses == [["LIKE", "BUY", "RED", "CAR"], ["YES"]]
    assert gloss_targets([{"text": "今天下雨", "gloss": ""}], "zh") == ([[]], "none")
    assert gloss_targets([{"text": "x y", "gloss": "A B"}], "en") == ([["A", "B"]], "manifest")


def test_checkpoint_hash_follows_every_weight(trained, tmp_path):
    out, _ = trained
    ckpt = load_checkpoint(out)
    base = ckpt.content_hash
    assert verify_checkpoint(out)["content_hash"] == base
    hashes = {base}
    for name, tensor in ckpt.model.state_dict().items():
        if not torch.is_floating_point(tensor):
            continue
        model = load_checkpoint(out).model
        with torch.no_grad():
            model.state_dict()[name].view(-1)[0] += 1e-3
        changed = save_checkpoint(tmp_path / "changed", model, ckpt.text_vocab, ckpt.gloss_vocab, ckpt.meta,
                                  name=ckpt.name, training={})
        hashes.add(load_checkpoint(changed).content_hash)
    n_float = sum(torch.is_floating_point(t) for t in ckpt.model.state_dict().values())
    assert len(hashes) == n_float + 1
    # the same weights written again give the same hash
    again = save_checkpoint(tmp_path / "again", ckpt.model, ckpt.text_vocab, ckpt.gloss_vocab, ckpt.meta,
                            name=ckpt.name, training={"other": "provenance"})
    assert load_checkpoint(again).content_hash == base


def _gt_submission(synth_tiny, tmp_path) -> Path:
    from baselines import run_baseline
    return run_baseline("ground-truth", synth_tiny / DATASET, tmp_path / "gt")


@pytest.mark.slow
def test_score_with_bt_model_signs_with_the_model_hash(plugin_installed, trained, synth_tiny, smplfx, tmp_path):
    from m3t_bench.report.tables import build_leaderboard
    from m3t_bench.scoring.score import score_submission
    out, _ = trained
    sub = _gt_submission(synth_tiny, tmp_path)
    model = load_backtranslator(out)
    results = score_submission(sub, synth_tiny / DATASET, model=smplfx, bt_model=out, n_resamples=50).results
    text = {s["metric"]: s for s in results["scores"] if s["part"] == "text"}
    assert set(text) == {"bleu4", "rouge-l"}
    assert all(f"|bt:{signature_id(model)}|" in s["signature"] for s in text.values())
    assert signature_id(model) == f"{model.name}-{model.content_hash[:12]}"
    # the GT row equals the model's own hypotheses scored directly
    test = open_split(synth_tiny / DATASET, "test")
    hyps = model.translate([test.load(i) for i in sorted(test.ids)])
    refs = [test.entry(i)["text"] for i in sorted(test.ids)]
    assert text["bleu4"]["value"] == pytest.approx(bleu(hyps, refs, "zh"), abs=1e-9)

    # one changed weight: another hash, another signature, and a table refuses to mix the two
    ckpt = load_checkpoint(out)
    with torch.no_grad():
        ckpt.model.text_head.weight[0, 0] += 1e-3
    other = save_checkpoint(tmp_path / "other", ckpt.model, ckpt.text_vocab, ckpt.gloss_vocab, ckpt.meta,
                            name=ckpt.name, training={})
    results2 = score_submission(sub, synth_tiny / DATASET, model=smplfx, bt_model=other, n_resamples=50).results
    sig1 = {s["metric"]: s["signature"] for s in results["scores"] if s["part"] == "text"}
    sig2 = {s["metric"]: s["signature"] for s in results2["scores"] if s["part"] == "text"}
    assert all(sig1[m] != sig2[m] for m in sig1)
    geometric = {s["signature"] for s in results["scores"] if s["part"] != "text"}
    assert geometric == {s["signature"] for s in results2["scores"] if s["part"] != "text"}
    from m3t_bench.results import write_results
    board_dir = tmp_path / "board"
    results2["system"] = {**results2["system"], "system": "gt-other-model"}
    write_results(board_dir / DATASET / "a.json", results)
    write_results(board_dir / DATASET / "b.json", results2)
    with pytest.raises(UserError, match="bt"):
        build_leaderboard(board_dir, [DATASET], table=2)


@pytest.mark.slow
def test_skeleton_only_submission_skips_text_metrics(plugin_installed, trained, synth_tiny, smplfx, tmp_path):
    from m3t_bench.scoring.score import score_submission
    test = open_split(synth_tiny / DATASET, "test")
    sub = tmp_path / "joints"
    sub.mkdir()
    for sample_id in test.ids:
        ref = test.load(sample_id)
        with torch.no_grad():
            joints = smplfx.joints(body=torch.from_numpy(ref.body), lhand=torch.from_numpy(ref.lhand),
                                   rhand=torch.from_numpy(ref.rhand), face=torch.from_numpy(ref.face))
        np.savez(sub / f"{sample_id}.npz", joints=joints.numpy().astype(np.float32))
    results = score_submission(sub, synth_tiny / DATASET, model=smplfx, bt_model=trained[0], n_resamples=20).results
    assert not [s for s in results["scores"] if s["part"] == "text"]
    reasons = {s["metric"]: s["reason"] for s in results["skipped"] if s["part"] == "text"}
    assert set(reasons) == {"bleu4", "rouge-l"} and all("skeleton-only" in r for r in reasons.values())


def _tamper_weights(folder: Path) -> None:
    tensors = load_file(folder / WEIGHTS_FILE)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] += 1.0
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": "m3t-bt-slt@1"})


def _edit_manifest(folder: Path, **changes) -> None:
    data = json.loads((folder / MANIFEST_FILE).read_text())
    (folder / MANIFEST_FILE).write_text(json.dumps({**data, **changes}))


@pytest.mark.parametrize("damage,expected", [
    (_tamper_weights, "model.safetensors: content differs from the sha256 recorded"),
    (lambda d: (d / TEXT_VOCAB_FILE).unlink(), "text_vocab.json: file missing"),
    (lambda d: (d / MANIFEST_FILE).unlink(), "manifest.json: file not found"),
    (lambda d: (d / MANIFEST_FILE).write_text("{"), "manifest.json: not valid JSON"),
    (lambda d: _edit_manifest(d, kind="marian"), "unknown back-translation model kind 'marian'"),
    (lambda d: _edit_manifest(d, content_hash="0" * 64), "content_hash does not match"),
    (lambda d: shutil.rmtree(d), "back-translation model folder not found"),
])
def test_bt_model_folder_problems_give_one_line_and_exit_2(plugin_installed, trained, synth_tiny, tmp_path, capsys,
                                                          damage, expected):
    folder = Path(shutil.copytree(trained[0], tmp_path / "model"))
    damage(folder)
    sub = _gt_submission(synth_tiny, tmp_path)
    code = main(["score", str(sub), "--dataset", str(synth_tiny / DATASET), "--bt-model", str(folder)])
    err = capsys.readouterr().err
    assert code == 2 and expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bt_model_of_another_dataset_is_refused(plugin_installed, trained, synth_tiny, tmp_path, capsys):
    from baselines import run_baseline
    sub = run_baseline("ground-truth", synth_tiny / "synthsign-dgs", tmp_path / "gt-dgs")
    code = main(["score", str(sub), "--dataset", str(synth_tiny / "synthsign-dgs"), "--bt-model", str(trained[0])])
    err = capsys.readouterr().err
    assert code == 2 and "trained on synthsign-csl@2" in err and len(err.strip().splitlines()) == 1


def test_cli_train_bt_and_backtranslate(plugin_installed, synth_tiny, tmp_path, capsys):
    data = str(synth_tiny / "synthsign-dgs")
    assert main(["train", "bt", "--data", data, "--out", str(tmp_path / "bt"), "--epochs", "1", "--batch-size", "8",
                 "--quiet"]) == 0
    manifest = json.loads((tmp_path / "bt" / MANIFEST_FILE).read_text())
    assert manifest["kind"] == "slt" and manifest["name"] == "slt-tiny-synthsign-dgs"
    train = manifest["training"]["train"]
    assert (train["id"], train["split"]) == ("synthsign-dgs@2", "train")
    assert train["manifest_sha256"] == open_split(data, "train").manifest_sha256
    assert manifest["config"]["batch_size"] == 8 and manifest["training"]["ground_truth_only"] is True
    assert f"bt:slt-tiny-synthsign-dgs-{manifest['content_hash'][:12]}" in capsys.readouterr().out
    from baselines import run_baseline
    sub = run_baseline("ground-truth", synth_tiny / "synthsign-dgs", tmp_path / "gt-dgs")
    assert main(["backtranslate", str(sub), "--dataset", data, "--bt-model", str(tmp_path / "bt"),
                 "--out", str(tmp_path / "hyps.tsv"), "--quiet"]) == 0
    lines = (tmp_path / "hyps.tsv").read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[0] for line in lines] == sorted(open_split(data, "test").ids)


@pytest.mark.slow
def test_ddp_two_processes(synth_tiny, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "m3t_bench.cli", "train", "bt", "--data", str(synth_tiny / "synthsign-asl"), "--out",
           str(tmp_path / "ddp"), "--epochs", "3", "--batch-size", "8", "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = load_checkpoint(tmp_path / "ddp")
    training = ckpt.manifest["training"]
    assert training["world_size"] == 2 and training["train"]["id"] == "synthsign-asl@2"
    losses = [h["train_translation_loss"] for h in training["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0]
    init = build_model(ckpt.cfg, len(ckpt.text_vocab), len(ckpt.gloss_vocab), seed=0).state_dict()
    trained = ckpt.model.state_dict()
    assert max(float((trained[k] - init[k]).abs().max()) for k in init if k.endswith("weight")) > 1e-3

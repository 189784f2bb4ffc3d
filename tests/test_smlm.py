"""The Sign Motion Language Model: vocabulary layout, fused input, overfitting and greedy decoding (per-sample
stop, KV cache), training through the CLI (translation objective, resume, DDP, local mBART folder),
checkpoints and `generate` -> `validate`, on SynthSign tiny with tokenizers trained in the test session."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from m3t_bench.cli import main
from m3t_bench.errors import UserError
from reference_models.m3t.smlm import TINY, SignMotionLM, mean_loss
from reference_models.m3t.smlm_data import collate, split_examples
from reference_models.m3t.smlm_generate import greedy_decode
from reference_models.m3t.smlm_text import train_text_tokenizer
from reference_models.m3t.smlm_vocab import MOTION_STREAMS, STREAM_CODEBOOK, Vocabulary

DATASETS = ("synthsign-asl", "synthsign-csl", "synthsign-dgs")


@pytest.fixture(scope="module")
def tok_dir(synth_tiny, smplfx, tmp_path_factory):
    """Body, hand and face tokenizers (tiny config, 2 epochs) trained on SynthSign tiny ASL."""
    from m3t_bench.datasets import open_split
    from reference_models.m3t.config import TINY as TOK_TINY
    from reference_models.m3t.train import train_tokenizer
    out = tmp_path_factory.mktemp("smlm-tokenizers")
    train = [open_split(synth_tiny / "synthsign-asl", "train").load(i) for i in
             open_split(synth_tiny / "synthsign-asl", "train").ids]
    for modality in ("body", "hand", "face"):
        train_tokenizer(modality, TOK_TINY.replace(epochs=2, val_samples=1), train, train[:1], out / modality,
                        body_model=smplfx, progress=False)
    return out


@pytest.fixture(scope="module")
def tokenizers(tok_dir):
    from reference_models.m3t.checkpoint import load_tokenizer_dir
    return load_tokenizer_dir(tok_dir)


@pytest.fixture(scope="module")
def examples(synth_tiny, tok_dir, tokenizers):
    """Training examples of the three languages."""
    from m3t_bench.datasets import open_split
    from reference_models.m3t.smlm_checkpoint import tokenizer_hashes
    hashes = tokenizer_hashes(tok_dir)
    return [ex for name in DATASETS
            for ex in split_examples(open_split(synth_tiny / name, "train"), tokenizers, hashes)]


def _vocab(tokenizers, languages=("de", "en", "zh"), n_text=50) -> Vocabulary:
    return Vocabulary(n_text, {m: t.codebook_size for m, t in tokenizers.items()}, list(languages))


def test_vocabulary_layout(tok_dir, tokenizers):
    vocab = _vocab(tokenizers)
    # codebook sizes are those recorded in the checkpoints
    for stream, block in vocab.blocks.items():
        recorded = json.loads((tok_dir / STREAM_CODEBOOK[stream] / "config.json").read_text())["codebook_size"]
        assert block.codebook_size == recorded
    owner: dict[int, str] = {i: "text" for i in range(vocab.n_text)}
    for stream, block in vocab.blocks.items():
        for i in range(block.offset, block.end):
            assert i not in owner, (i, owner.get(i), stream)
            owner[i] = stream
    for name, i in vocab.prompts.items():
        assert i not in owner, (i, owner.get(i), name)
        owner[i] = name
    assert sorted(owner) == list(range(vocab.size))  # no gap, no collision
    names = vocab.token_names()
    for stream, block in vocab.blocks.items():
        head_ids = [block.offset + c for c in range(block.head_size)]  # head class c <-> id offset + c
        assert all(owner[i] == stream for i in head_ids)
        assert [names[i] for i in head_ids] == [f"<{stream}_{k}>" for k in range(block.codebook_size)] + [f"<EOS_{stream}>"]
        assert block.bos not in head_ids and block.pad not in head_ids
    for tag in ("ASL", "CSL", "DGS"):
        assert {f"<{tag}_{s}>" for s in ("B", "LH", "RH", "F")} <= set(vocab.prompts)
    assert vocab.prompt_ids("zh") == [vocab.prompts[f"<CSL_{s}>"] for s in ("B", "LH", "RH", "F")]
    with pytest.raises(UserError, match="sign languages"):
        vocab.prompt_ids("fr")
    assert Vocabulary.from_dict(vocab.to_dict()).to_dict() == vocab.to_dict()


def test_fused_input_is_the_mean_of_the_four_embeddings(tokenizers):
    vocab = _vocab(tokenizers)
    model = SignMotionLM(TINY, vocab).eval()
    rng = np.random.default_rng(0)
    ids = torch.tensor(np.stack([rng.integers(vocab.blocks[s].offset, vocab.blocks[s].end, size=(2, 5))
                                 for s in MOTION_STREAMS], axis=-1))
    table = model.motion_embed.weight.detach()
    expected = sum(table[ids[..., k] - vocab.n_text] for k in range(4)) / 4 * TINY.d_model ** 0.5
    assert torch.allclose(model.fuse(ids), expected, atol=1e-6)
    # the text path applies the same sqrt(d) scale inside the backbone's embedding
    text = torch.tensor([[4, 5, 6]])
    assert torch.allclose(model.backbone.shared(text), model.backbone.shared.weight[text] * TINY.d_model ** 0.5)


def test_text_tokenizer_is_deterministic_and_segments_chinese():
    texts = [("学生不要书。", "zh"), ("明天邻居要去图书馆。", "zh"), ("Does the doctor like the book?", "en")] * 5
    a, b = train_text_tokenizer(texts, 500, seed=3), train_text_tokenizer(texts, 500, seed=3)
    assert a.model_proto == b.model_proto
    pieces = [a.sp.id_to_piece(i) for i in a.piece_ids("明天邻居要去图书馆。", "zh")]
    assert "▁图书馆" in pieces and "▁邻居" in pieces  # jieba words, not characters across word boundaries
    src = a.source_ids("Does the doctor like the book?", "en", 64)
    assert src[-2:] == [2, a.language_id("en")] and a.decode(src, "en") == "Does the doctor like the book?"


def test_validation_score_is_zero_for_the_references_and_keeps_torch_threads(synth_tiny, smplfx):
    from m3t_bench.datasets import open_split
    from reference_models.m3t.smlm_validate import ValidationScorer
    refs = {}
    for name in DATASETS[:2]:
        sp = open_split(synth_tiny / name, "val")
        refs[sp.spec.id] = {i: sp.load(i) for i in sp.ids[:2]}
    scorer = ValidationScorer(smplfx, refs)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        same = scorer.score({(ds, i): seq for ds, seqs in refs.items() for i, seq in seqs.items()})
        assert torch.get_num_threads() == 1  # numba's thread setting must not leak into torch's
    finally:
        torch.set_num_threads(threads)
    assert same["mean"] == 0.0 and set(same["datasets"]) == set(refs)
    assert set(next(iter(same["datasets"].values()))) == {"body", "lhand", "rhand"}
    (ds, first), (_, second) = list(refs.items())[0], list(refs.items())[1]
    ids = list(first)
    swapped = {(ds, ids[0]): first[ids[1]], (ds, ids[1]): first[ids[0]],
               **{(list(refs)[1], i): seq for i, seq in second.items()}}
    assert scorer.score(swapped)["datasets"][ds]["body"] > 1.0  # another sentence is millimetres away


def _train_steps(model, batches, steps, lr=3e-3):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    for step in range(steps):
        loss = mean_loss(model(batches[step % len(batches)], "production"))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


@pytest.fixture(scope="module")
def overfit(examples, tokenizers):
    """A tiny model trained on 4 sentences of different token lengths (production only, no dropout)."""
    by_length = {}
    for ex in examples:
        by_length.setdefault(ex.n_tokens, ex)
    four = [by_length[n] for n in sorted(by_length)[::max(1, len(by_length) // 4)][:4]]
    assert len({ex.n_tokens for ex in four}) == 4
    text = train_text_tokenizer([(ex.text, ex.language) for ex in examples], 400)
    vocab = Vocabulary(text.size, {m: t.codebook_size for m, t in tokenizers.items()}, ["de", "en", "zh"])
    torch.manual_seed(0)
    model = SignMotionLM(TINY.replace(dropout=0.0), vocab)
    batch = collate(four, vocab, text, TINY.max_text_tokens)
    loss = _train_steps(model, [batch], 400)
    model.eval()
    prompts = torch.tensor([vocab.prompt_ids(ex.language) for ex in four])
    return model, four, batch, prompts, loss


def test_tiny_model_overfits_four_sentences_and_greedy_decoding_reproduces_them(overfit):
    model, four, batch, prompts, loss = overfit
    assert loss < 0.05
    decoded = greedy_decode(model, batch["text_ids"], batch["text_mask"], prompts, max_len=80)
    for ex, tokens in zip(four, decoded):
        np.testing.assert_array_equal(tokens, ex.tokens)


def test_samples_stop_one_by_one(overfit):
    # SOKE's released stop rule ends every sample of the batch at the first EOS; ours stops each on its own
    model, four, batch, prompts, _ = overfit
    order = [3, 0, 2, 1]  # mixed, so the shortest is not first
    decoded = greedy_decode(model, batch["text_ids"][order], batch["text_mask"][order], prompts[order], max_len=80)
    lengths = [len(t) for t in decoded]
    assert len(set(lengths)) == 4
    assert lengths == [four[i].n_tokens for i in order]


def test_kv_cache_generation_equals_no_cache_generation(overfit, tokenizers):
    model, four, batch, prompts, _ = overfit
    for m in (model, SignMotionLM(TINY.replace(dropout=0.0), model.vocab).eval()):  # trained, and random (runs to max_len)
        with_cache = greedy_decode(m, batch["text_ids"], batch["text_mask"], prompts, max_len=30, use_cache=True)
        without = greedy_decode(m, batch["text_ids"], batch["text_mask"], prompts, max_len=30, use_cache=False)
        assert [t.tolist() for t in with_cache] == [t.tolist() for t in without]


def _train_args(synth_tiny, tok_dir, standin_dir, out, *extra):
    return ["train", "smlm", "--config", "tiny", "--data", *(str(synth_tiny / d) for d in DATASETS),
            "--tokenizer", str(tok_dir), "--out", str(out), "--val-samples", "2", "--batch-size", "16", "--quiet",
            "--body-models", str(standin_dir), *extra]


@pytest.fixture(scope="module")
def trained(synth_tiny, tok_dir, standin_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("smlm") / "ckpt"
    assert main(_train_args(synth_tiny, tok_dir, standin_dir, out, "--epochs", "12", "--p-translate", "0.5")) == 0
    return out


def test_translation_objective_lowers_the_text_loss(trained, synth_tiny, tok_dir, standin_dir, tmp_path):
    history = json.loads((trained / "train_state.json").read_text())["history"]
    text_losses = [h["translation_loss"] for h in history if h["translation_loss"] is not None]
    assert len(text_losses) >= 6
    assert np.mean(text_losses[-3:]) < 0.8 * text_losses[0], text_losses  # 6.4 -> 4.3 when measured
    curves = (trained / "curves.csv").read_text().splitlines()
    assert curves[0].startswith("epoch,") and "val_dtw_jpe_mm" in curves[0] and len(curves) == 13
    assert (trained / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # p_translate = 0 switches the objective off
    assert main(_train_args(synth_tiny, tok_dir, standin_dir, tmp_path, "--epochs", "2", "--p-translate", "0")) == 0
    history = json.loads((tmp_path / "train_state.json").read_text())["history"]
    assert all(h["translation_batches"] == 0 and h["production_batches"] == 3 for h in history)


def test_checkpoint_round_trips_bit_identically(trained, tmp_path):
    from reference_models.m3t.smlm_checkpoint import load_smlm, save_smlm
    loaded = load_smlm(trained)
    meta = json.loads((trained / "config.json").read_text())
    assert meta["vocabulary"]["size"] == loaded.model.vocab.size and meta["parameters"] > 0
    extra = {k: v for k, v in meta.items() if k not in ("format", "config", "backbone", "vocabulary")}
    save_smlm(loaded.model, loaded.text, tmp_path, extra)
    assert (tmp_path / "model.safetensors").read_bytes() == (trained / "model.safetensors").read_bytes()
    assert (tmp_path / "text.model").read_bytes() == (trained / "text.model").read_bytes()
    assert json.loads((tmp_path / "config.json").read_text()) == meta
    # the encoder and decoder share the (once-stored) text embedding again
    backbone = loaded.model.backbone
    assert backbone.encoder.embed_tokens.weight is backbone.shared.weight is backbone.decoder.embed_tokens.weight


def test_generate_output_passes_validate(trained, synth_tiny, tmp_path, capsys):
    out = tmp_path / "pred"
    assert main(["generate", "--ckpt", str(trained), "--dataset", str(synth_tiny / "synthsign-csl"), "--split", "test",
                 "--out", str(out), "--quiet", "--max-len", "12"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["system"] == "m3t-smlm-tiny" and meta["params"] == json.loads((trained / "config.json").read_text())["parameters"]
    assert main(["validate", str(out), "--dataset", str(synth_tiny / "synthsign-csl"), "--split", "test"]) == 0
    assert "valid submission" in capsys.readouterr().out
    from m3t_bench.motion import load_sample
    assert all(load_sample(p).n_frames <= 48 for p in out.glob("*.npz"))  # --max-len 12 tokens = 48 frames
    # a missing checkpoint: a one-line error
    assert main(["generate", "--ckpt", str(tmp_path / "nothing"), "--dataset", str(synth_tiny / "synthsign-csl"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "checkpoint folder not found" in capsys.readouterr().err


def test_generate_bad_input_is_a_one_line_error(trained, synth_tiny, tmp_path, capsys):
    import shutil
    csl = str(synth_tiny / "synthsign-csl")

    def generate(ckpt, *extra):
        code = main(["generate", "--ckpt", str(ckpt), "--dataset", csl, "--out", str(tmp_path / "pred"), "--quiet",
                     *extra])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        return err

    assert "--max-len" in generate(trained, "--max-len", "0")
    assert "positions" in generate(trained, "--max-len", "100000")
    assert "--batch-size" in generate(trained, "--batch-size", "0")
    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    (broken / "config.json").write_text("{not json")
    assert "config.json" in generate(broken)
    shutil.rmtree(broken)
    shutil.copytree(trained, broken)
    meta = json.loads((broken / "config.json").read_text())
    meta["vocabulary"]["size"] += 1  # a layout that does not add up
    (broken / "config.json").write_text(json.dumps(meta))
    assert "config.json" in generate(broken)
    shutil.rmtree(broken)
    shutil.copytree(trained, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    assert "model.safetensors" in generate(broken)
    shutil.rmtree(broken)
    shutil.copytree(trained, broken)
    face = broken / "tokenizers" / "face" / "model.safetensors"
    face.unlink()  # (a hard link to the tokenizer directory's file: replace, never write through)
    shutil.copyfile(trained / "tokenizers" / "hand" / "model.safetensors", face)
    assert "tokenizer" in generate(broken)
    assert not (tmp_path / "pred").exists()  # nothing written on failure


def test_resume_continues_exactly(synth_tiny, tok_dir, standin_dir, tmp_path):
    base = _train_args(synth_tiny, tok_dir, standin_dir, tmp_path / "x", "--epochs", "2", "--val-samples", "1")
    base = base[:base.index("--out")] + base[base.index("--out") + 2:]
    assert main([*base, "--out", str(tmp_path / "straight")]) == 0
    assert main([*base, "--out", str(tmp_path / "resumed"), "--stop-after-epochs", "1"]) == 0
    assert json.loads((tmp_path / "resumed" / "train_state.json").read_text())["epoch"] == 1
    assert main([*base, "--out", str(tmp_path / "resumed"), "--resume"]) == 0
    a = load_file(tmp_path / "straight" / "last.safetensors")
    b = load_file(tmp_path / "resumed" / "last.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert main([*base, "--out", str(tmp_path / "resumed"), "--resume", "--p-translate", "0.9"]) == 2


def test_bad_settings_are_one_line_errors(synth_tiny, tok_dir, standin_dir, tmp_path, capsys):
    assert main(_train_args(synth_tiny, tok_dir, standin_dir, tmp_path, "--p-translate", "1.5")) == 2
    assert "p_translate" in capsys.readouterr().err
    assert main(_train_args(synth_tiny, tmp_path / "no-tokenizers", standin_dir, tmp_path)) == 2
    assert "tokenizer directory not found" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process(synth_tiny, tok_dir, standin_dir, tmp_path):
    args = _train_args(synth_tiny, tok_dir, standin_dir, tmp_path / "x", "--epochs", "2", "--val-samples", "1",
                       "--dropout", "0", "--p-translate", "0.5")
    args = args[:args.index("--out")] + args[args.index("--out") + 2:]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "m3t_bench.cli", *args, "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    a = load_file(tmp_path / "single" / "last.safetensors")
    b = load_file(tmp_path / "ddp" / "last.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-4, rtol=1e-3), key
    history = json.loads((tmp_path / "ddp" / "train_state.json").read_text())["history"]
    assert sum(h["translation_batches"] for h in history) > 0 and sum(h["production_batches"] for h in history) > 0


@pytest.fixture(scope="module")
def mbart_dir(synth_tiny, tmp_path_factory):
    """A tiny local "mBART-cc25" folder: a unigram sentencepiece model (as cc25's sentencepiece.bpe.model is)
    trained here on SynthSign tiny texts, and randomly initialised MBartForConditionalGeneration weights with
    cc25's row layout (pieces shifted by one, 25 language codes, <mask>)."""
    import io
    import sentencepiece as spm
    from transformers import MBartConfig, MBartForConditionalGeneration
    from m3t_bench.datasets import open_split
    out = tmp_path_factory.mktemp("mbart")
    texts = [e["text"] for name in DATASETS for e in open_split(synth_tiny / name, "train").entries]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=buf, vocab_size=200,
                                   hard_vocab_limit=False, model_type="unigram", character_coverage=1.0,
                                   num_threads=1, minloglevel=2)
    (out / "sentencepiece.bpe.model").write_bytes(buf.getvalue())
    n_pieces = len(spm.SentencePieceProcessor(model_proto=buf.getvalue()))
    torch.manual_seed(0)
    cfg = MBartConfig(vocab_size=n_pieces + 27, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                      decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=256,
                      scale_embedding=True)
    MBartForConditionalGeneration(cfg).save_pretrained(out)
    return out


def test_mbart_text_ids_match_transformers_tokenizer(mbart_dir, synth_tiny):
    from transformers import MBartTokenizer
    from m3t_bench.datasets import open_split
    from reference_models.m3t.smlm_text import load_mbart_text_tokenizer
    ours = load_mbart_text_tokenizer(mbart_dir, ["de", "en", "zh"])
    reference = MBartTokenizer.from_pretrained(str(mbart_dir), local_files_only=True, src_lang="en_XX")
    assert ours.full_size == reference.vocab_size == json.loads((mbart_dir / "config.json").read_text())["vocab_size"]
    for entry in open_split(synth_tiny / "synthsign-asl", "train").entries:  # ASCII: no normalisation differences
        assert ours.source_ids(entry["text"], "en", 128) == reference(entry["text"])["input_ids"], entry["text"]
    assert ours.language_id("zh") == reference.convert_tokens_to_ids("zh_CN")


def test_local_mbart_folder_initialises_a_pruned_backbone(mbart_dir, examples, tokenizers):
    from transformers import MBartForConditionalGeneration
    from reference_models.m3t.smlm_train import build_smlm, build_text_tokenizer
    text = build_text_tokenizer(TINY, examples, mbart_dir, seed=0)
    assert text.kind == "mbart" and text.keep[:4] == [0, 1, 2, 3] and text.size < text.full_size
    vocab = Vocabulary(text.size, {m: t.codebook_size for m, t in tokenizers.items()}, ["de", "en", "zh"])
    model = build_smlm(TINY, vocab, text, mbart_dir, seed=0)
    original = MBartForConditionalGeneration.from_pretrained(str(mbart_dir), local_files_only=True).model
    assert model.backbone.config.d_model == 32  # the folder's geometry, not the config's
    assert torch.equal(model.backbone.shared.weight, original.shared.weight[text.keep])
    layer = "encoder.layers.0.fc1.weight"
    assert torch.equal(model.backbone.state_dict()[layer], original.state_dict()[layer])
    ex = examples[0]
    kept_text = text.decode(text.piece_ids(ex.text, ex.language), ex.language)
    assert kept_text.replace(" ", "") == ex.text.replace(" ", "")  # every training piece survives pruning


def test_train_and_generate_with_a_local_mbart_folder(mbart_dir, synth_tiny, tok_dir, standin_dir, tmp_path):
    out = tmp_path / "ckpt"
    assert main(_train_args(synth_tiny, tok_dir, standin_dir, out, "--epochs", "1", "--val-samples", "1",
                            "--mbart", str(mbart_dir))) == 0
    assert json.loads((out / "text.json").read_text())["kind"] == "mbart"
    assert main(["generate", "--ckpt", str(out), "--dataset", str(synth_tiny / "synthsign-dgs"), "--out",
                 str(tmp_path / "pred"), "--quiet", "--max-len", "8"]) == 0
    assert main(["validate", str(tmp_path / "pred"), "--dataset", str(synth_tiny / "synthsign-dgs"), "--split", "test"]) == 0
    assert main(_train_args(synth_tiny, tok_dir, standin_dir, tmp_path / "x", "--mbart", str(tmp_path))) == 2

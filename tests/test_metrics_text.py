"""Text, codebook, recognition and bootstrap metrics against sacrebleu's CLI, rouge-score, real sentences and
hand computations."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from m3t_bench.errors import UserError
from m3t_bench.metrics import (bleu, bleu_from_statistics, bleu_statistics, bootstrap_ci, codebook_perplexity,
                               codebook_utilisation, recognition_accuracy, rouge_l, rouge_l_per_sentence,
                               token_frequency_std, tokenize)

SACREBLEU_CLI = Path(sys.executable).with_name("sacrebleu")


def read_texts(path: Path, column: str, n: int) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        return [row[column] for row, _ in zip(csv.DictReader(f, delimiter="\t"), range(n))]


def degrade(sentences: list[str], lang: str) -> list[str]:
    """Deterministic 'system outputs': drop every third token (characters for Chinese), swap a pair."""
    out = []
    for k, s in enumerate(sentences):
        units = list(s) if lang == "zh" else s.split()
        kept = [u for i, u in enumerate(units) if (i + k) % 3 != 2] or units[:1]
        if len(kept) > 3:
            kept[1], kept[2] = kept[2], kept[1]
        out.append(("" if lang == "zh" else " ").join(kept))
    return out


def cli_bleu(tmp_path: Path, hyps: list[str], refs: list[str], *options: str) -> float:
    (tmp_path / "ref.txt").write_text("\n".join(refs) + "\n", encoding="utf-8")
    (tmp_path / "hyp.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")
    out = subprocess.run([str(SACREBLEU_CLI), str(tmp_path / "ref.txt"), "-i", str(tmp_path / "hyp.txt"),
                          "-m", "bleu", "-b", "-w", "8", *options], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


@pytest.fixture(scope="module")
def german(shared_data):
    refs = read_texts(shared_data / "phoenix14t" / "PHOENIX-2014-T.test.annotations.tsv", "text", 60)
    return degrade(refs, "de"), refs


@pytest.fixture(scope="module")
def chinese(shared_data):
    refs = read_texts(shared_data / "csl-daily" / "CSL_Daily.test.tsv", "text", 60)
    return degrade(refs, "zh"), refs


@pytest.mark.realdata
def test_bleu_equals_sacrebleu_cli_german(german, tmp_path):
    hyps, refs = german
    assert bleu(hyps, refs, "de") == pytest.approx(cli_bleu(tmp_path, hyps, refs, "-tok", "13a", "-lc"), abs=1e-6)


@pytest.mark.realdata
def test_bleu_equals_sacrebleu_cli_chinese(chinese, tmp_path):
    hyps, refs = chinese
    assert bleu(hyps, refs, "zh", zh_tokenize="char") == pytest.approx(
        cli_bleu(tmp_path, hyps, refs, "-tok", "zh", "-lc"), abs=1e-6)
    segmented = [" ".join(tokenize(s, "zh")) for s in hyps], [" ".join(tokenize(s, "zh")) for s in refs]
    assert bleu(hyps, refs, "zh") == pytest.approx(cli_bleu(tmp_path, *segmented, "-tok", "none"), abs=1e-6)


@pytest.mark.realdata
def test_chinese_rouge_is_not_zero(chinese):
    from rouge_score.rouge_scorer import RougeScorer

    ref = chinese[1][3]                                # 你和小张什么时候认识的？
    hyp = "".join(tokenize(ref, "zh")[1:])             # a real sentence with its first word left out
    default = RougeScorer(["rougeL"]).score(ref, hyp)["rougeL"].fmeasure
    assert default == 0.0 < rouge_l([hyp], [ref], "zh")   # the pitfall this module exists to avoid
    assert rouge_l([hyp], [ref], "zh", zh_tokenize="char") > 0.0


@pytest.mark.realdata
def test_rouge_equals_rouge_score_on_plain_ascii(shared_data):
    from rouge_score.rouge_scorer import RougeScorer

    raw = read_texts(shared_data / "how2sign" / "how2sign_realigned_test.csv", "SENTENCE", 40)
    refs = [" ".join(re.sub(r"[^a-z0-9]+", " ", s.lower()).split()) for s in raw]
    refs = [r for r in refs if r]
    hyps = degrade(refs, "en")
    scorer = RougeScorer(["rougeL"])                   # its default tokenizer gives our tokens on this text
    want = np.array([scorer.score(r, h)["rougeL"].fmeasure * 100 for h, r in zip(hyps, refs)])
    np.testing.assert_allclose(rouge_l_per_sentence(hyps, refs, "en"), want, rtol=0, atol=1e-12)
    assert rouge_l(hyps, refs, "en") == pytest.approx(want.mean(), abs=1e-12)


def test_rouge_hand_computed_chinese_characters():
    # LCS of 我有三个苹果 / 我有两个苹果 (6 characters each) is 5 -> F = 5/6
    assert rouge_l(["我有三个苹果"], ["我有两个苹果"], "zh", zh_tokenize="char") == pytest.approx(500 / 6)


def test_tokenisation_keeps_umlauts_and_lowercases():
    assert tokenize("Schöne Grüße, Straße!", "de") == ["schöne", "grüße", ",", "straße", "!"]
    assert tokenize("他今年四岁。", "zh", "char") == ["他", "今", "年", "四", "岁", "。"]


def test_bad_text_input_is_a_user_error():
    with pytest.raises(UserError):
        bleu(["a"], ["a", "b"], "en")
    with pytest.raises(UserError):
        rouge_l(["a"], ["a"], "fr")
    with pytest.raises(UserError):
        bleu(["a"], ["a"], "zh", zh_tokenize="pinyin")


def test_bleu_bootstrap_resamples_sentence_statistics():
    hyps = ["the cat sat on the mat", "a dog ran", "hello there world", "it is raining today"]
    refs = ["the cat sat on a mat", "the dog ran", "hello world", "it rains today"]
    stats = bleu_statistics(hyps, refs, "en")
    assert bleu_from_statistics(stats) == pytest.approx(bleu(hyps, refs, "en"))
    low, high = bootstrap_ci(stats, seed=7, n_resamples=200, statistic=bleu_from_statistics)
    assert 0.0 <= low <= high <= 100.0
    assert (low, high) == bootstrap_ci(stats, seed=7, n_resamples=200, statistic=bleu_from_statistics)


@given(st.lists(st.floats(-100, 100), min_size=2, max_size=50), st.integers(0, 2**31))
def test_bootstrap_interval_is_seeded_and_brackets_within_range(values, seed):
    low, high = bootstrap_ci(values, seed=seed, n_resamples=100)
    assert min(values) - 1e-9 <= low <= high <= max(values) + 1e-9
    assert (low, high) == bootstrap_ci(values, seed=seed, n_resamples=100)


def test_codebook_statistics_hand_case():
    tokens = [np.array([0, 0, 1]), np.array([[1, 3]])]        # counts 2, 2, 0, 1 over a codebook of 4
    assert codebook_utilisation(tokens, 4) == 75.0
    shares = np.array([0.4, 0.4, 0.0, 0.2])
    assert token_frequency_std(tokens, 4) == pytest.approx(shares.std() * 100)
    assert codebook_perplexity(tokens, 4) == pytest.approx(np.exp(-(0.8 * np.log(0.4) + 0.2 * np.log(0.2))))
    assert token_frequency_std([np.arange(8)], 8) == 0.0
    with pytest.raises(UserError):
        codebook_utilisation([np.array([4])], 4)


def test_recognition_hand_case():
    scores = np.array([[0.9, 0.1, 0.0, 0.0, 0.0, 0.0],
                       [0.1, 0.2, 0.7, 0.0, 0.0, 0.0],
                       [0.0, 0.1, 0.2, 0.3, 0.4, 0.05]])
    labels = np.array([0, 1, 5])
    confusing = np.array([True, True, False])
    acc = recognition_accuracy(scores, labels, confusing)
    assert acc["top1"] == pytest.approx(100 / 3)
    assert acc["top5"] == pytest.approx(100.0)
    assert acc["top1_confusing"] == 50.0 and acc["top5_confusing"] == 100.0
    assert acc["top1_normal"] == 0.0 and acc["top5_normal"] == 100.0

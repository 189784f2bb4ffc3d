"""SynthSign faces (lexicon format 2): the face prior, statistics against the real FLAME sequence, confusing
groups, the face-only corpus, and old (format 1) corpora."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from m3t_bench.datasets import open_split
from m3t_bench.datasets.face_stats import face_from_flame, face_statistics, split_clips
from m3t_bench.errors import UserError
from m3t_bench.synth import load_lexicon, make_signer, synthesize
from m3t_bench.synth.face_prior import FacePrior, default_prior, sample_matern_mixture
from m3t_bench.synth.faces_corpus import EMOTIONS
from m3t_bench.synth.generate import FACES_DATASET, NMFS_DATASET
from m3t_bench.synth.grammar import Grammar
from m3t_bench.synth.lexicon import Lexicon, build_lexicon
from m3t_bench.synth.seeding import stream

GOLDEN_V1 = Path(__file__).parent / "golden" / "synthsign-v1"
REAL_FLAME = "flame-motion/beat2_scott_0_1_1.npz"

# Stated bounds of a generated face stream against the real sequence (within-signer figures).
VARIANCE_RATIO = (0.7, 1.4)          # total variance, generated / real
PROFILE_LOG_CORRELATION = 0.8        # correlation of log variance per component
TAIL_OVER_HEAD = 2.0                 # mean variance of components 91-100 over 1-10 (real: 4.2)
RANK_90_TOLERANCE, RANK_99_TOLERANCE = 2, 5
AUTOCORRELATION_TOLERANCE = {33: 0.03, 167: 0.1, 333: 0.1}
SPEED_RATIO = (0.7, 1.4)


@pytest.fixture(scope="module")
def generated_stats():
    """Face statistics of 96 built-in English sentences by 8 signers and 96 isolated signs (24 fps / 30 fps)."""
    grammar = Grammar("en", stream(5, "vocab", "en"), None)
    lexicon = build_lexicon(grammar.glosses(), "en", stream(5, "lexicon", "en"), negation=("NOT",), seed=5)
    rng = stream(5, "sentences")
    sentences, isolated = [], []
    for i in range(96):
        s = grammar.sample(rng)
        seq = synthesize(lexicon, s.gloss.split(), signer=make_signer(f"s{i % 8}", 5), fps=24, question=s.question,
                         rng=stream(5, "render", i))
        sentences.append((seq.face, 24.0, f"s{i % 8}"))
    glosses = list(lexicon.signs)
    for i in range(96):
        seq = synthesize(lexicon, [glosses[i % len(glosses)]], signer=make_signer(f"n{i % 8}", 5), fps=30,
                         rng=stream(5, "isolated", i))
        isolated.append((seq.face, 30.0, f"n{i % 8}"))
    return {"sentences": face_statistics(sentences), "isolated": face_statistics(isolated)}


def _assert_close_to(real, stats, label):
    ratio = stats.variance.sum() / real.variance.sum()
    assert VARIANCE_RATIO[0] < ratio < VARIANCE_RATIO[1], (label, ratio)
    corr = np.corrcoef(np.log(stats.variance), np.log(real.variance))[0, 1]
    assert corr > PROFILE_LOG_CORRELATION, (label, corr)
    assert stats.variance[-10:].mean() / stats.variance[:10].mean() > TAIL_OVER_HEAD, label
    assert abs(stats.effective_rank_90 - real.effective_rank_90) <= RANK_90_TOLERANCE, (label, stats.effective_rank_90)
    assert abs(stats.effective_rank_99 - real.effective_rank_99) <= RANK_99_TOLERANCE, (label, stats.effective_rank_99)
    for lag, tol in AUTOCORRELATION_TOLERANCE.items():
        assert abs(stats.autocorrelation[lag] - real.autocorrelation[lag]) <= tol, (label, lag, stats.autocorrelation)
    assert SPEED_RATIO[0] < stats.mean_speed / real.mean_speed < SPEED_RATIO[1], (label, stats.mean_speed)
    assert (stats.variance > 1e-3).all(), label                       # every component moves
    assert 10.0 < stats.blink_rate_per_min < 35.0, (label, stats.blink_rate_per_min)


def test_generated_faces_match_the_recorded_real_statistics(generated_stats):
    real = default_prior().real_statistics()
    for label, stats in generated_stats.items():
        _assert_close_to(real, stats, label)


@pytest.mark.realdata
def test_generated_faces_match_the_real_flame_sequence(generated_stats, shared_data):
    from m3t_bench.synth.face_prior_fit import load_flame_sequence
    expressions, jaw, fps = load_flame_sequence(shared_data / REAL_FLAME)
    real = face_statistics([(face_from_flame(expressions, np.stack([jaw, 0 * jaw, 0 * jaw], 1)), fps, "real")])
    assert real.effective_rank_90 == 5 and real.effective_rank_99 == 13      # not a textbook spectrum:
    assert real.variance[-10:].mean() > 4 * real.variance[:10].mean()        # the last ten move ~4x more
    for label, stats in generated_stats.items():
        _assert_close_to(real, stats, label)


@pytest.mark.realdata
def test_shipped_prior_is_the_fit_of_the_real_sequence(shared_data):
    from m3t_bench.fileio import sha256_file
    from m3t_bench.synth.face_prior_fit import fit_face_prior, load_flame_sequence
    prior = default_prior()
    path = shared_data / REAL_FLAME
    assert prior.provenance["source_sha256"] == sha256_file(path) and prior.provenance["licence"]
    refit = fit_face_prior(*load_flame_sequence(path))
    for name in ("mean", "basis", "scales", "speech_fraction", "jaw_direction"):
        assert np.allclose(getattr(refit, name), getattr(prior, name), atol=1e-6), name
    assert refit.provenance["real_statistics"] == prior.provenance["real_statistics"]
    if not all(np.allclose(getattr(refit, n), getattr(prior, n), atol=1e-6) for n in ("timescales", "fast_weight")):
        # Known open problem (closing note of issue 14): in a fresh environment one direction's Matérn mixture
        # (slow timescale ~2e12 s instead of 0.07 s, its fast weight) refits differently: an ill-conditioned fit.
        pytest.xfail("the Matérn timescale fit of one latent direction is ill-conditioned across environments")


def test_prior_file_round_trip_and_shapes(tmp_path):
    prior = default_prior()
    assert prior.rank == 41 and prior.provenance["source_file"] == "beat2_scott_0_1_1.npz"
    assert np.allclose(prior.basis.T @ prior.basis, np.eye(prior.rank), atol=1e-9)
    again = FacePrior.load(prior.save(tmp_path / "p.npz"))
    assert np.array_equal(again.basis, prior.basis) and again.provenance == prior.provenance
    np.savez(tmp_path / "bad.npz", mean=np.zeros(3))
    with pytest.raises(UserError, match="not a SynthSign face prior"):
        FacePrior.load(tmp_path / "bad.npz")


def test_latent_sampler_has_the_model_autocorrelation_at_any_frame_rate():
    prior = default_prior()
    for fps in (24.0, 30.0):
        runs = [sample_matern_mixture(prior.timescales, prior.fast_weight, 400, fps, np.random.default_rng(k))
                for k in range(40)]
        z = np.stack(runs)                                    # (40, 400, K): stationary from frame 0
        assert z.var(axis=(0, 1)).mean() == pytest.approx(1.0, abs=0.08)
        assert z[:, 0].var(axis=0).mean() == pytest.approx(1.0, abs=0.15)     # no start-up transient
        for lag in (1, 4, 8):
            empirical = (z[:, lag:] * z[:, :-lag]).mean(axis=(0, 1))
            model = prior.autocorrelation(np.array([lag / fps]))[0]
            assert np.abs(empirical - model).mean() < 0.05, (fps, lag)


def test_confusing_members_differ_in_mouthing_brows_and_eyelids_only(synth_tiny):
    sp = open_split(synth_tiny / NMFS_DATASET, "train")
    lexicon = load_lexicon(synth_tiny / "lexicon", "nmfs")
    groups = {}
    for e in sp:
        if e["confusing"] and e["signer"] == "nmfs-s00":
            groups.setdefault(e["group"], []).append(e)
    assert groups
    for members in groups.values():
        faces = [sp.load(e["id"]) for e in members]
        signs = [lexicon[e["gloss"]].nonmanual for e in members]
        assert len({(s.visemes[0], s.brow, s.squint) for s in signs}) == len(signs)   # distinct face parts
        for other in faces[1:]:
            for name in ("body", "lhand", "rhand", "shape"):
                assert np.array_equal(getattr(faces[0], name), getattr(other, name)), name
            lo, hi = members[0]["segments"][0]
            assert np.abs(faces[0].face[lo:hi, :100] - other.face[lo:hi, :100]).mean() > 0.2


def test_face_only_corpus(synth_tiny):
    splits = {s: open_split(synth_tiny / FACES_DATASET, s) for s in ("train", "val", "test")}
    speakers = {s: {e["signer"] for e in sp} for s, sp in splits.items()}
    assert not (speakers["train"] & speakers["test"]) and not (speakers["train"] & speakers["val"])
    train = splits["train"]
    assert train.spec.id == "synthsign-faces@1" and train.spec.task == "faces"
    assert {e["emotion"] for e in train} == set(EMOTIONS)
    seq = train.load(train.ids[0])
    assert np.ptp(seq.body, axis=0).max() == 0 and np.ptp(seq.rhand, axis=0).max() == 0   # no signing
    stats = face_statistics(split_clips(train))
    assert (stats.variance > 1e-3).all() and stats.blink_rate_per_min > 0
    # an emotion moves the face: clips of different emotions by one speaker differ on average
    by_emotion = {e["emotion"]: train.load(e["id"]).face[:, :100].mean(axis=0) for e in train
                  if e["signer"] == train.entries[0]["signer"]}
    assert np.linalg.norm(by_emotion["happy"] - by_emotion["sad"]) > 1.0


def test_old_format_corpus_still_opens_and_rerenders_bit_for_bit(tmp_path):
    sp = open_split(GOLDEN_V1 / "synthsign-dgs", "test")
    assert sp.spec.id == "synthsign-dgs@1"
    lexicon = load_lexicon(GOLDEN_V1 / "lexicon", "de")
    assert lexicon.format == 1 and lexicon.gestures is None
    e = sp.entries[0]
    assert e["sentence_type"] == "question"
    seq = synthesize(lexicon, e["gloss"].split(), signer=make_signer(e["signer"], 0), fps=e["fps"], question=True,
                     rng=stream(0, "render", "synthsign-dgs", "test", e["id"]))
    stored = sp.load(e["id"])
    for name in ("body", "lhand", "rhand", "face", "shape"):
        assert np.array_equal(getattr(seq, name), getattr(stored, name)), name
    text = (GOLDEN_V1 / "lexicon" / "de.json").read_text(encoding="utf-8")
    assert json.dumps(lexicon.to_json(), ensure_ascii=False, sort_keys=True) + "\n" == text   # saves unchanged


def test_unknown_lexicon_format_is_a_clear_error(tmp_path):
    shutil.copytree(GOLDEN_V1 / "lexicon", tmp_path / "lexicon")
    path = tmp_path / "lexicon" / "de.json"
    obj = json.loads(path.read_text(encoding="utf-8"))
    obj["format"] = 3
    path.write_text(json.dumps(obj), encoding="utf-8")
    with pytest.raises(UserError, match="lexicon format 3.*newer") as err:
        load_lexicon(tmp_path / "lexicon", "de")
    assert "de.json" in str(err.value)


def test_format_2_lexicon_round_trips(synth_tiny):
    path = synth_tiny / "lexicon" / "en.json"
    lexicon = load_lexicon(synth_tiny / "lexicon", "en")
    assert lexicon.format == 2 and lexicon.gestures.shape == (6, 100)
    assert json.dumps(lexicon.to_json(), ensure_ascii=False, sort_keys=True) + "\n" == path.read_text(encoding="utf-8")
    assert Lexicon.from_json(lexicon.to_json()).signs == lexicon.signs

"""Hostile and broken inputs of the readers merged after the first hardening pass: back-translation model
folders and hypotheses, SLR probe checkpoints, fitting inputs (keypoint files, --config, face maps), the
preference study's pairs and rater ids, the site's results folder. Each case must end in a one-line
:class:`UserError` (exit 2 through the CLI) naming the file, before any large allocation or read."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from m3t_bench.cli import main
from m3t_bench.errors import UserError, ValidationFailed

SITE_RESULTS = Path(__file__).parent / "golden" / "tables" / "results"


def _one_line(exc: UserError) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text, text
    return text


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _lying_npy(declared_shape: tuple[int, ...]) -> bytes:
    """A valid npy header declaring ``declared_shape`` float32, followed by 16 bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": declared_shape})
    return buf.getvalue() + b"\0" * 16


# ------------------------------------------------------------------------------ back-translation
@pytest.fixture()
def bt_folder(tmp_path):
    """A tiny untrained back-translation checkpoint written by the real writer."""
    from reference_models.backtranslation.checkpoint import model_meta, save_checkpoint
    from reference_models.backtranslation.config import BTConfig
    from reference_models.backtranslation.model import BackTranslationTransformer
    from reference_models.backtranslation.text import GLOSS_SPECIALS, TEXT_SPECIALS, Vocabulary
    cfg = BTConfig(name="micro", d_model=8, encoder_layers=1, decoder_layers=1, heads=2, ff_size=16)
    text, gloss = Vocabulary(TEXT_SPECIALS + ("hello",), TEXT_SPECIALS), Vocabulary(GLOSS_SPECIALS + ("HI",), GLOSS_SPECIALS)
    torch.manual_seed(0)
    model = BackTranslationTransformer(cfg, len(text), len(gloss))
    meta = model_meta(cfg, {"name": "synthsign-dgs", "version": 1, "language": "de", "text_tokenization": "13a"},
                      "manifest")
    return save_checkpoint(tmp_path / "bt", model, text, gloss, meta, name="micro", training={})


def _rehash(folder: Path) -> None:
    """Re-seal a damaged checkpoint as an adversary would: the manifest records the new hashes."""
    from reference_models.backtranslation.checkpoint import HASHED_FILES, MANIFEST_FILE, content_hash
    from m3t_bench.fileio import sha256_file
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["files"] = {f: sha256_file(folder / f) for f in HASHED_FILES}
    manifest["content_hash"] = content_hash(manifest["files"])
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _nan_weights(folder: Path) -> None:
    from safetensors.torch import load_file, save_file
    tensors = load_file(folder / "model.safetensors")
    name = sorted(k for k, v in tensors.items() if v.is_floating_point())[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, str(folder / "model.safetensors"))


@pytest.mark.parametrize("damage,needle", [
    (lambda d: _edit_json(d / "config.json", lambda m: m["config"].update(d_model=1_000_000, heads=1)),
     "config.json: config: invalid back-translation config (d_model 1000000: expected an integer from 1 to 4096)"),
    (lambda d: _edit_json(d / "config.json", lambda m: m["config"].update(encoder_layers=10 ** 6)),
     "encoder_layers 1000000: expected an integer from 1 to 32"),
    (lambda d: _edit_json(d / "config.json", lambda m: m["config"].update(d_model=4096, heads=8, ff_size=32768,
                                                                           encoder_layers=32, decoder_layers=32)),
     "parameters; expected at most 500,000,000"),
    (lambda d: _edit_json(d / "config.json", lambda m: m["config"].update(beam_size="5")),
     "beam_size '5': expected an integer"),
    (lambda d: _edit_json(d / "config.json", lambda m: m.pop("dataset")), "config.json: dataset: missing"),
    (lambda d: _edit_json(d / "config.json", lambda m: m["dataset"].update(language="de\nfake problem")),
     "dataset.language: 'de\\nfake problem'; expected 1-128 printable characters"),
    (lambda d: _edit_json(d / "text_vocab.json", lambda v: v["tokens"].append("two\nlines")),
     "text_vocab.json: tokens: not a vocabulary file"),
    (lambda d: (d / "gloss_vocab.json").write_text("[" * 100_000), "gloss_vocab.json: refused JSON: nesting deeper"),
    (_nan_weights, "model.safetensors: "),
    (lambda d: (d / "model.safetensors").write_bytes(b"\xff" * 8 + b"{}"), "model.safetensors: not a readable safetensors"),
])
def test_a_resealed_hostile_bt_checkpoint_is_refused_in_one_line(bt_folder, damage, needle):
    from reference_models.backtranslation.checkpoint import load_checkpoint
    damage(bt_folder)
    _rehash(bt_folder)
    with pytest.raises(UserError) as info:
        load_checkpoint(bt_folder)
    assert needle in _one_line(info.value)


def test_nan_weights_name_the_tensor(bt_folder):
    from reference_models.backtranslation.checkpoint import load_checkpoint
    _nan_weights(bt_folder)
    _rehash(bt_folder)
    with pytest.raises(UserError, match=r"model\.safetensors: .+: 1 non-finite value\(s\) \(NaN/Inf\)"):
        load_checkpoint(bt_folder)


@pytest.mark.parametrize("make", ["fifo", "dev-zero", "folder"])
def test_bt_files_that_are_not_regular_files_are_refused_without_reading(bt_folder, make):
    from m3t_bench.scoring.backtranslators import load_backtranslator
    from reference_models.backtranslation.checkpoint import verify_checkpoint
    manifest, weights = bt_folder / "manifest.json", bt_folder / "model.safetensors"
    if make == "fifo":  # the manifest: would block a plain open()
        manifest.unlink()
        _fifo(manifest)
        target, call = manifest, lambda: load_backtranslator(bt_folder)
    elif make == "dev-zero":  # the weights: hashing /dev/zero never ends
        weights.unlink()
        weights.symlink_to("/dev/zero")
        target, call = weights, lambda: verify_checkpoint(bt_folder)
    else:
        manifest.unlink()
        manifest.mkdir()
        target, call = manifest, lambda: load_backtranslator(bt_folder)
    start = time.monotonic()
    with pytest.raises(UserError) as info:
        call()
    assert time.monotonic() - start < 10
    text = _one_line(info.value)
    assert text.startswith(str(target)) and "expected a regular" in text


def test_bt_manifest_kind_must_be_a_name(bt_folder):
    from m3t_bench.scoring.backtranslators import load_backtranslator
    _edit_json(bt_folder / "manifest.json", lambda m: m.update(kind=["slt"]))
    with pytest.raises(UserError, match=r"manifest\.json: kind: \['slt'\]; expected the name of the plug-in"):
        load_backtranslator(bt_folder)


def test_bt_config_bounds_keep_the_shipped_configs():
    from reference_models.backtranslation.config import CONFIGS, MAX_PARAMETERS, estimated_parameters
    from reference_models.backtranslation.model import BackTranslationTransformer
    for cfg in CONFIGS.values():
        model = BackTranslationTransformer(cfg, 500, 200)
        n = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
        assert n <= estimated_parameters(cfg, 500, 200) <= 1.1 * n and n < MAX_PARAMETERS


def test_hypotheses_file_fifo_bad_bytes_and_a_flood_of_problems(tmp_path):
    from m3t_bench.scoring.backtranslation import read_hypotheses_file
    with pytest.raises(UserError, match="is a FIFO"):
        read_hypotheses_file(_fifo(tmp_path / "hyps.fifo"), ["a"])
    (tmp_path / "latin1.tsv").write_bytes(b"a\t\xe9t\xe9\n")
    with pytest.raises(UserError, match=r"not UTF-8 \(invalid byte 0xe9 at byte 2, line 1\)"):
        read_hypotheses_file(tmp_path / "latin1.tsv", ["a"])
    (tmp_path / "flood.tsv").write_text("".join(f"x{i}\ttext\n" for i in range(5000)))
    with pytest.raises(ValidationFailed) as info:
        read_hypotheses_file(tmp_path / "flood.tsv", ["a"])
    lines = str(info.value).splitlines()
    assert len(lines) == 51 and lines[-1] == "... and 4,951 more problem(s)"
    (tmp_path / "ok.tsv").write_text("a\thello\n")
    got = read_hypotheses_file(tmp_path / "ok.tsv", ["a"])
    import hashlib
    assert got.hyps == {"a": "hello"} and got.source_id == "hyps-" + hashlib.sha256(b"a\thello\n").hexdigest()[:12]


# ------------------------------------------------------------------------------ SLR probe
@pytest.fixture()
def probe_folder(tmp_path):
    from reference_models.m3t.slr import SLRConfig, SLRHead
    from reference_models.m3t.slr_checkpoint import save_probe
    cfg = SLRConfig(name="micro", d_model=8, layers=1, heads=2, ff=16, max_steps=4)
    head = SLRHead(cfg, ("body",), {"body": 8}, 2)
    meta = {"modalities": ["body"], "widths": {"body": 8}, "body_model": "standin",
            "classes": [{"class_id": i, "gloss": f"G{i}", "group": None, "confusing": False} for i in range(2)],
            "tokenizer": {"dir": str(tmp_path / "tok"), "sha256": {"body": "0" * 64}}}
    return save_probe(tmp_path / "probe", head, meta)


@pytest.mark.parametrize("change,needle", [
    (lambda m: m.update(n_classes=10 ** 9), "n_classes: 1000000000; expected an integer from 1 to 1,000,000"),
    (lambda m: m.update(widths={"body": 10 ** 7}), "widths: {'body': 10000000}; expected the feature width"),
    (lambda m: m.update(streams=["body", "tail"]), "streams: ['body', 'tail']; expected a non-empty list"),
    (lambda m: m["config"].update(layers=10 ** 6), "layers 1000000: expected an integer from 1 to 32"),
    (lambda m: m["config"].update(max_steps=16384, d_model=4096, heads=4, ff=32768, layers=32),
     "parameters; expected at most 500,000,000"),
    (lambda m: m["config"].update(window=[1]), "window: expected a JSON object"),
    (lambda m: m["config"]["window"].update(margin_s=1e300), "margin_s 1e+300: expected a finite number"),
    (lambda m: m["classes"][0].update(gloss="A\nB"), "classes: class 0: gloss 'A\\nB'"),
    (lambda m: m.update(classes=m["classes"][:1]), "classes: expected a list of 2 class records"),
    (lambda m: m.update(tokenizer={"dir": "x"}), "tokenizer: expected"),
])
def test_a_hostile_probe_config_is_refused_before_the_head_is_built(probe_folder, change, needle):
    from reference_models.m3t.slr_checkpoint import classes_from_records, load_probe
    _edit_json(probe_folder / "config.json", change)
    with pytest.raises(UserError) as info:
        _, meta = load_probe(probe_folder)
        classes_from_records(meta["classes"], file=probe_folder / "config.json")
    assert needle in _one_line(info.value)


def test_probe_weights_nan_or_oversized_are_refused(probe_folder):
    from reference_models.m3t.slr_checkpoint import load_probe
    head, _ = load_probe(probe_folder)  # the untouched checkpoint loads
    _nan_weights(probe_folder)
    with pytest.raises(UserError, match="non-finite value"):
        load_probe(probe_folder)
    (probe_folder / "model.safetensors").write_bytes(b"\0" * (2 << 20))  # far beyond the head's size
    with pytest.raises(UserError, match="more than the limit"):
        load_probe(probe_folder)


# ------------------------------------------------------------------------------ fitting inputs
@pytest.fixture(scope="module")
def openpose():
    from m3t_bench.fitting.layouts import get_layout
    return get_layout("openpose")


def test_keypoint_array_with_a_lying_header_is_refused_before_reading(tmp_path, openpose):
    from m3t_bench.fitting.readers import read_array_file
    bomb = tmp_path / "bomb.npy"
    bomb.write_bytes(_lying_npy((50_000_000, len(openpose), 3)))
    with pytest.raises(UserError, match=r"bomb\.npy: .*shape \(50000000, \d+, 3\); expected \(T, K, C\) with T at most"):
        read_array_file(bomb, openpose, image_size=(640, 480))
    short = tmp_path / "short.npy"
    short.write_bytes(_lying_npy((10, len(openpose), 3)))
    with pytest.raises(UserError, match="array data truncated"):
        read_array_file(short, openpose, image_size=(640, 480))
    with pytest.raises(UserError, match="is a FIFO"):
        read_array_file(_fifo(tmp_path / "pipe.npy"), openpose, image_size=(640, 480))


@pytest.mark.parametrize("extra,needle", [
    ({"image_size": np.array([np.nan, 480.0])}, "image_size: [nan, 480.0]; expected (width, height)"),
    ({"image_size": np.array([1e30, 480.0])}, "image_size: [1e+30, 480.0]; expected (width, height)"),
    ({"fps": np.array([25.0, 30.0])}, "fps: shape (2,); expected one number"),
    ({"fps": np.array(1e9)}, "fps 1000000000.0, expected a positive number up to 1000"),
])
def test_keypoint_npz_side_values_are_checked(tmp_path, openpose, extra, needle):
    from m3t_bench.fitting.readers import ClipSource, read_clip
    from m3t_bench.motion.npz import write_npz
    path = tmp_path / "clip.npz"
    write_npz(path, {"keypoints": np.ones((3, len(openpose), 3), np.float32), **extra})
    with pytest.raises(UserError) as info:
        read_clip(ClipSource("clip", path, "array"), openpose, image_size=(640, 480))
    assert needle in _one_line(info.value)


def test_absurd_keypoint_coordinates_count_as_missing(tmp_path, openpose):
    from m3t_bench.fitting.readers import ClipSource, read_clip
    kp = np.full((2, len(openpose), 3), 10.0, np.float32)
    kp[0, 0, :2] = 3e38
    kp[1, 1, 0] = np.inf
    np.save(tmp_path / "clip.npy", kp)
    clip = read_clip(ClipSource("clip", tmp_path / "clip.npy", "array"), openpose, image_size=(640, 480))
    assert clip.confidence[0, 0] == 0 and clip.confidence[1, 1] == 0 and clip.confidence[0, 1] == 1
    assert np.abs(clip.xy).max() == 10.0


def test_keypoint_folder_names_and_openpose_frames(tmp_path, openpose):
    from m3t_bench.fitting.readers import discover_clips, read_openpose_folder
    folder = tmp_path / "kp"
    folder.mkdir()
    np.save(folder / "ok.npy", np.zeros((2, len(openpose), 3), np.float32))
    np.save(folder / "fake\nproblem.npy", np.zeros((2, len(openpose), 3), np.float32))
    with pytest.raises(UserError) as info:
        discover_clips(folder)
    assert "fake\\nproblem.npy: sample id" in _one_line(info.value)

    clip = tmp_path / "clip"
    clip.mkdir()
    (clip / "c_000000000000_keypoints.json").write_text("[" * 100_000)
    with pytest.raises(UserError, match=r"c_000000000000_keypoints\.json: refused JSON: nesting deeper"):
        read_openpose_folder(clip, openpose, image_size=(640, 480))
    (clip / "c_000000000000_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": {"x": 1}}]}))
    with pytest.raises(UserError, match="not an OpenPose keypoint JSON"):
        read_openpose_folder(clip, openpose, image_size=(640, 480))
    (clip / "c_000000000000_keypoints.json").write_text(json.dumps({"people": [{"face_keypoints_2d": {"x": 1}}]}))
    with pytest.raises(UserError, match="face_keypoints_2d: 1 numbers, expected x, y, confidence triples"):
        read_openpose_folder(clip, openpose, image_size=(640, 480))
    (clip / "c_000000000000_keypoints.json").write_text(json.dumps({"people": ["me"]}))
    with pytest.raises(UserError, match=r"not an OpenPose keypoint JSON \(AttributeError\); expected an object"):
        read_openpose_folder(clip, openpose, image_size=(640, 480))
    (clip / "c_000000000000_keypoints.json").unlink()
    (clip / ("c_" + "9" * 200 + "_keypoints.json")).write_text("{}")
    with pytest.raises(UserError, match="no frame number of at most 12 digits"):
        read_openpose_folder(clip, openpose, image_size=(640, 480))


def test_pose_file_that_is_a_device_is_refused(tmp_path, openpose):
    from m3t_bench.fitting.readers import read_pose_file
    (tmp_path / "clip.pose").symlink_to("/dev/zero")
    with pytest.raises(UserError, match=r"clip\.pose: is a character device; expected a regular \.pose file"):
        read_pose_file(tmp_path / "clip.pose", openpose)


@pytest.mark.parametrize("config,needle", [
    ({"fit_focal": "false"}, "fit_focal: 'false'; expected true or false"),
    ({"iterations": 2.5}, "iterations: 2.5; expected a JSON int"),
    ({"iterations": 10 ** 12}, "iterations 1000000000000: expected an integer from 0 to 1000000"),
    ({"sigma": 0}, "sigma 0: expected a finite number from 1e-06"),
    ({"lr": 1e300}, "lr 1e+300: expected a finite number from 0 to 1e+06"),
    ({"nonsense": 1}, "unknown field(s) nonsense"),
    ([1, 2], "holds a JSON list; expected a JSON object"),
])
def test_fit_config_file_is_checked_with_exit_2(tmp_path, capsys, config, needle):
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(config))
    code = main(["fit", "--keypoints", str(tmp_path), "--format", "openpose", "--out", str(tmp_path / "out"),
                 "--name", "x", "--split", "train", "--config", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_face_map_weights_and_embedding_arrays_are_checked(tmp_path):
    from m3t_bench.fitting.face_maps import read_face_map_json, read_flame_mediapipe_embedding
    from m3t_bench.motion.npz import write_npz
    (tmp_path / "map.json").write_text('{"body_model_id": "*", "points": {"1": [["flame:0", 1e400]]}}')
    with pytest.raises(UserError, match="overflows to infinity"):
        read_face_map_json(tmp_path / "map.json")
    (tmp_path / "map.json").write_text('{"body_model_id": "*", "points": {"1": [["flame:0", "nan"]]}}')
    with pytest.raises(UserError, match="landmark 1: weight nan, expected a finite number"):
        read_face_map_json(tmp_path / "map.json")
    faces = np.zeros((4, 3), np.int64)
    write_npz(tmp_path / "emb.npz", {"lmk_face_idx": np.array([0.5]), "lmk_b_coords": np.ones((1, 3)),
                                     "landmark_indices": np.array([1])})
    with pytest.raises(UserError, match="expected \\(L,\\) integer triangle ids"):
        read_flame_mediapipe_embedding(tmp_path / "emb.npz", faces)


# ------------------------------------------------------------------------------ study and site
def test_study_names_with_a_trailing_newline_are_refused(tmp_path):
    from m3t_bench.study.pairs import SAFE_ID, load_pairs
    from m3t_bench.study.store import valid_rater
    assert not SAFE_ID.fullmatch("sys\n") and not valid_rater("rater1\n") and valid_rater("rater1")
    (tmp_path / "a.gif").write_bytes(b"GIF89a")
    doc = {"schema": "m3t-bench-study-pairs", "schema_version": 1, "systems": ["a\n", "b"], "pairs": []}
    (tmp_path / "pairs.json").write_text(json.dumps(doc))
    with pytest.raises(ValidationFailed, match="systems: expected two distinct names"):
        load_pairs(tmp_path / "pairs.json")
    doc.update(systems=["a", "b"], pairs=[{"id": "p1", "media": {"a": "a\x00.gif", "b": "a.gif"}}])
    (tmp_path / "pairs.json").write_text(json.dumps(doc))
    with pytest.raises(ValidationFailed, match=r"media\.a: 'a\\x00\.gif' must be a relative path inside the pairs file's folder \(printable"):
        load_pairs(tmp_path / "pairs.json")
    doc.update(pairs=[{"id": f"p{i}", "media": {"a": "../x.gif", "b": "a.gif"}} for i in range(500)])
    (tmp_path / "pairs.json").write_text(json.dumps(doc))
    with pytest.raises(ValidationFailed) as info:
        load_pairs(tmp_path / "pairs.json")
    assert len(str(info.value).splitlines()) == 51


def test_study_pairs_fifo_gives_exit_2(tmp_path, capsys):
    code = main(["study", "serve", "--pairs", str(_fifo(tmp_path / "pairs.json")), "--db", str(tmp_path / "db")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "pairs.json: is a FIFO (named pipe)" in err and len(err.splitlines()) == 1, err


def test_site_refuses_linked_results_and_per_sample_files(tmp_path, capsys):
    results = Path(shutil.copytree(SITE_RESULTS, tmp_path / "results"))
    folder = results / "csl-daily"
    secret = tmp_path / "elsewhere.json"
    shutil.move(folder / "my_system.json", secret)
    (folder / "my_system.json").symlink_to(secret)
    code = main(["site", "--results", str(results), "--no-reported", "--out", str(tmp_path / "site")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "my_system.json: is a symbolic link; refused" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "site").exists()
    (folder / "my_system.json").unlink()
    shutil.move(secret, folder / "my_system.json")
    _fifo(folder / "my_system.per-sample.jsonl")
    code = main(["site", "--results", str(results), "--no-reported", "--out", str(tmp_path / "site")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "my_system.per-sample.jsonl: is a FIFO" in err, err


def test_per_sample_line_with_deep_nesting_is_one_line_error(tmp_path):
    from m3t_bench.results import read_per_sample
    (tmp_path / "p.jsonl").write_text("[" * 3000 + "\n")
    with pytest.raises(UserError, match=r"p\.jsonl: line 1 is not JSON \(refused JSON: nesting deeper"):
        read_per_sample(tmp_path / "p.jsonl")


def test_train_bt_refuses_a_bad_name_and_backtranslate_a_bad_out_before_any_work(synth_tiny, tmp_path, capsys):
    start = time.monotonic()
    code = main(["train", "bt", "--data", str(synth_tiny / "synthsign-dgs"), "--out", str(tmp_path / "bt"),
                 "--name", "model\nfake problem", "--epochs", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--name: model name 'model\\nfake problem'" in err and len(err.splitlines()) == 1, err
    assert time.monotonic() - start < 30 and not (tmp_path / "bt").exists()
    (tmp_path / "out").mkdir()
    code = main(["backtranslate", str(tmp_path / "missing"), "--dataset", str(synth_tiny / "synthsign-dgs"),
                 "--bt-model", str(tmp_path / "bt"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "out: is a folder; expected the path of a file to write" in err, err

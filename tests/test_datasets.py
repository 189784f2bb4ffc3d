"""Dataset registry, split layout, hash verification, converters and the NMFs class-list format."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from m3t_bench.cli import _Parser
from m3t_bench.datasets import get_spec, open_split, verify_split
from m3t_bench.datasets import commands as dataset_commands
from m3t_bench.datasets.convert import (SOKE179, SOKE179_BODY_JOINTS, convert_folder, sequence_to_soke179,
                                        soke133_to_sequence, soke179_to_sequence)
from m3t_bench.datasets.nmfs import class_list_problems, format_class_list, load_class_list
from m3t_bench.errors import UserError, ValidationFailed
from m3t_bench.motion import BODY_JOINT_NAMES, rot6d_to_matrix


def _cli(argv) -> int:
    parser = _Parser(prog="m3t-bench")
    dataset_commands.register(parser.add_subparsers(dest="command", parser_class=_Parser))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(exc, file=sys.stderr)
        return 2


def test_registry_names_versions_and_aliases():
    assert get_spec("csl-daily") is get_spec("csl-daily@1")
    assert get_spec("csl-daily").text_tokenization == "jieba" and get_spec("csl-daily").fps == 30
    assert (get_spec("how2sign").fps, get_spec("phoenix14t").fps) == (24, 25)
    assert get_spec("phoenix14t").canonical_split("val") == "dev"
    assert get_spec("synthsign-asl").canonical_split("dev") == "val"
    assert get_spec("nmfs-csl").task == "isolated"
    with pytest.raises(UserError, match="did you mean phoenix14t"):
        get_spec("phonix14t")
    with pytest.raises(UserError, match="unknown split"):
        get_spec("csl-daily").canonical_split("validation")


def test_open_split_by_name_dataset_folder_and_split_folder(synth_tiny, monkeypatch):
    by_name = open_split("synthsign-csl", "dev", data_root=synth_tiny)     # alias of val
    by_dir = open_split(synth_tiny / "synthsign-csl", "val")
    by_split = open_split(synth_tiny / "synthsign-csl" / "val")
    assert by_name.ids == by_dir.ids == by_split.ids and by_name.split == "val"
    assert by_name.spec.id == "synthsign-csl@2" and by_name.manifest_sha256 == by_name.info["manifest_sha256"]
    monkeypatch.setenv("M3T_DATA_ROOT", str(synth_tiny))
    assert open_split("synthsign-csl@2", "test").root == synth_tiny / "synthsign-csl" / "test"
    with pytest.raises(UserError, match="holds synthsign-csl@2, not synthsign-csl@1"):
        open_split("synthsign-csl@1", "test")                             # another version of the corpus
    with pytest.raises(UserError, match="not found"):
        open_split("csl-daily", "test", data_root=synth_tiny)


def test_manifest_and_file_hashes_catch_changes(synth_tiny, tmp_path):
    root = shutil.copytree(synth_tiny / "synthsign-asl", tmp_path / "synthsign-asl")
    split_dir = root / "train"
    sp = open_split(split_dir)
    sample = split_dir / f"{sp.ids[0]}.npz"
    # 1) a changed sample file: flagged by its manifest sha256 on load and by verify
    other = split_dir / f"{sp.ids[1]}.npz"
    sample.write_bytes(other.read_bytes())
    with pytest.raises(UserError, match="sha256"):
        open_split(split_dir).load(sp.ids[0])
    problems = verify_split(split_dir)[1]
    assert any(str(sample) in p and "sha256" in p for p in problems)
    # 2) a changed manifest: flagged against dataset.json
    manifest = split_dir / "manifest.jsonl"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('"signer":"en-s', '"signer":"xx-s', 1),
                        encoding="utf-8")
    with pytest.raises(UserError, match="manifest_sha256"):
        open_split(split_dir)


def test_verify_reports_every_problem_and_cli_exit_code(synth_tiny, tmp_path, capsys):
    root = shutil.copytree(synth_tiny / "synthsign-dgs", tmp_path / "synthsign-dgs")
    ids = open_split(root / "test").ids
    (root / "test" / f"{ids[0]}.npz").unlink()
    (root / "test" / f"{ids[1]}.npz").write_bytes(b"not a zip")
    problems = verify_split(root / "test")[1]
    assert any(ids[0] in p and "missing" in p for p in problems)
    assert any(ids[1] in p and "not a valid .npz" in p for p in problems)
    with pytest.raises(UserError, match="missing"):
        open_split(root / "test")
    assert _cli(["datasets", "verify", str(root)]) == 2
    assert "problem" in capsys.readouterr().err
    assert _cli(["datasets", "verify", str(synth_tiny / "synthsign-dgs")]) == 0


def _random_soke179(t: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    poses = np.zeros((t, 179), dtype=np.float32)
    for key in ("root", "body", "lhand", "rhand", "jaw"):
        width = SOKE179[key].stop - SOKE179[key].start
        aa = Rotation.random(t * width // 3, random_state=seed).as_rotvec() * 0.8   # angles < 0.8 pi
        poses[:, SOKE179[key]] = aa.reshape(t, width)
    poses[:, SOKE179["shape"]] = rng.normal(size=10)
    poses[:, SOKE179["expr"]] = rng.normal(size=(t, 10))
    return poses


def _mat(x):
    return rot6d_to_matrix(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()


def test_soke179_conversion_maps_joints_by_name_and_round_trips():
    poses = _random_soke179(5, 0)
    seq = soke179_to_sequence(poses)
    assert seq.problems() == []
    for i, name in enumerate(BODY_JOINT_NAMES):      # independent check with scipy's Rodrigues
        k = SOKE179_BODY_JOINTS.index(name)
        ref = Rotation.from_rotvec(poses[:, 3 + 3 * k: 6 + 3 * k]).as_matrix()
        assert np.allclose(_mat(seq.body[:, i]), ref, atol=1e-5), name
    assert np.allclose(_mat(seq.rhand), Rotation.from_rotvec(poses[:, 111:156].reshape(-1, 3)).as_matrix().reshape(5, 15, 3, 3), atol=1e-5)
    assert np.array_equal(seq.face[:, :10], poses[:, 169:179]) and not seq.face[:, 10:102].any()
    back = sequence_to_soke179(seq)
    kept = np.r_[[3 * (SOKE179_BODY_JOINTS.index(n)) + 3 + c for n in BODY_JOINT_NAMES for c in range(3)],
                 np.arange(66, 159), np.arange(169, 179)]
    rot_back = Rotation.from_rotvec(back[:, kept[:-10]].reshape(-1, 3)).as_matrix()
    rot_in = Rotation.from_rotvec(poses[:, kept[:-10]].reshape(-1, 3)).as_matrix()
    assert np.allclose(rot_back, rot_in, atol=1e-5)
    assert np.allclose(back[:, 169:179], poses[:, 169:179])
    assert np.allclose(back[0, 159:169], poses[:, 159:169].mean(0), atol=1e-6)
    assert not back[:, :3].any()                    # root dropped


def test_soke133_leaves_spine_identity():
    p = np.zeros((3, 133), dtype=np.float32)
    p[:, 0:3] = [0.0, 0.3, 0.0]                    # first 133 joint = neck
    seq = soke133_to_sequence(p)
    assert np.allclose(_mat(seq.body[:, BODY_JOINT_NAMES.index("neck")]), Rotation.from_rotvec([0, 0.3, 0]).as_matrix(), atol=1e-6)
    assert np.allclose(_mat(seq.body[:, :2]), np.eye(3), atol=1e-7)


def test_convert_folder_writes_a_verifiable_split(tmp_path, capsys):
    src = tmp_path / "soke"
    src.mkdir()
    for k in range(3):
        np.save(src / f"S00000{k}_P0001_T00.npy", _random_soke179(40 + k, k))
    (src / "texts.tsv").write_text("name\tgloss\ttext\tsigner\nS000001_P0001_T00\t你 好\t你好。\tP0001\n", encoding="utf-8")
    assert _cli(["datasets", "convert", str(src), "--from", "soke-179", "--out", str(tmp_path / "out"),
                 "--name", "csl-daily", "--split", "val", "--texts", str(src / "texts.tsv")]) == 0
    sp = open_split("csl-daily", "dev", data_root=tmp_path / "out")
    assert sp.split == "dev" and len(sp) == 3 and sp.entry("S000001_P0001_T00")["text"] == "你好。"
    assert "face[10:100] (0)" in sp.card["absent"] and "face[0:10]" in sp.card["converted"]
    assert verify_split(sp.root)[1] == []
    bad = tmp_path / "bad"
    bad.mkdir()
    np.save(bad / "x.npy", np.zeros((4, 133), dtype=np.float32))
    with pytest.raises(UserError, match=r"x\.npy.*\(T, 179\)"):
        convert_folder(bad, tmp_path / "o2", source="soke-179", name="csl-daily", split="test")


def test_flat360_round_trip_is_exact(synth_tiny, tmp_path):
    sp = open_split(synth_tiny / "synthsign-asl", "val")
    seq = sp.load(sp.ids[0])
    src = tmp_path / "flat"
    src.mkdir()
    np.save(src / "a.npy", seq.features())
    convert_folder(src, tmp_path / "out", source="flat360", name="mine", split="test", language="en", fps=24)
    back = open_split(tmp_path / "out" / "mine", "test").load("a")
    assert np.array_equal(back.features(), seq.features())


def test_nmfs_class_list_format(synth_tiny, tmp_path):
    classes = load_class_list(synth_tiny / "synthsign-nmfs" / "classes.tsv")
    assert [c.class_id for c in classes] == list(range(6)) and sum(c.confusing for c in classes) == 4
    assert format_class_list(classes) == (synth_tiny / "synthsign-nmfs" / "classes.tsv").read_text(encoding="utf-8")
    bad = "class_id\tgloss\tgroup\tconfusing\n0\t吃\tg1\t1\n0\t吃\t\t0\n2\t家\tg2\t1\nx\ty\t\t0\n3\t走\t\t2\n"
    _, problems = class_list_problems(bad, file="c.tsv")
    text = "\n".join(problems)
    for expected in ("class_id 'x'", "confusing '2'", "duplicated: [0]", "gloss: duplicated", "single member"):
        assert expected in text, expected
    path = tmp_path / "c.tsv"
    path.write_text("id\tname\n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match="header"):
        load_class_list(path)
    nmfs = open_split(synth_tiny / "synthsign-nmfs", "test")
    assert {e["label"] for e in nmfs} == set(range(6))
    assert all(isinstance(e["confusing"], bool) for e in nmfs)


def test_bad_sequence_and_unknown_gloss_are_user_errors(synth_tiny):
    from m3t_bench.synth import load_lexicon, synthesize
    lexicon = load_lexicon(synth_tiny / "lexicon", "en")
    with pytest.raises(UserError, match="not in the en lexicon"):
        synthesize(lexicon, ["NO-SUCH-SIGN"], signer="s", fps=24, rng=np.random.default_rng(0))
    with pytest.raises(UserError, match="no lexicon"):
        load_lexicon(synth_tiny / "lexicon", "fr")

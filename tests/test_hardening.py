"""Regression tests for the adversarial run of issue 10: every hostile or broken input class gets exit code 2
and a one-line error (or exit 130 for Ctrl-C), memory stays bounded, and a failed run leaves earlier outputs
exactly as they were. One test per class, with small crafted fixtures."""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from m3t_bench.cli import main
from m3t_bench.motion import save_sample
from tests.test_submission import good_submission, random_sequence, split_dir  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_hang():
    """A reader that blocks (a FIFO opened for reading) fails the run after 120 s instead of hanging it."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture()
def sub(good_submission) -> Path:
    """A valid submission of ``split_dir`` (both from test_submission)."""
    return good_submission


def run(args, capsys) -> tuple[int, list[str]]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err.splitlines()


def validate(sub: Path, split_dir: Path, capsys) -> tuple[int, list[str]]:
    return run(["validate", sub, "--dataset", split_dir], capsys)


def one_error(code: int, err: list[str], match: str) -> str:
    assert code == 2, err
    assert len(err) == 1 and match in err[0], err
    return err[0]


# ------------------------------------------------------------------------------------------ submissions
def test_links_to_the_reference_files_are_refused(sub, split_dir, capsys):
    (sub / "s0.npz").unlink()
    (sub / "s0.npz").symlink_to(split_dir / "s0.npz")
    (sub / "s1.npz").unlink()
    os.link(split_dir / "s1.npz", sub / "s1.npz")
    code, err = validate(sub, split_dir, capsys)
    assert code == 2
    assert any("s0.npz: (file): symbolic link; refused" in line for line in err), err
    assert any("s1.npz: (file): is the split's own reference file" in line for line in err), err
    (sub / "s0.npz").unlink()
    (sub / "s1.npz").unlink()
    for name in ("s0", "s1"):
        (sub / f"{name}.npz").write_bytes((split_dir / f"{name}.npz").read_bytes())  # copies are fine
    assert validate(sub, split_dir, capsys)[0] == 0


def test_a_newline_in_a_file_name_cannot_forge_a_problem_line(sub, split_dir, capsys):
    (sub / "a\nFORGED.npz: body: fake problem line.npz").write_bytes(b"x")
    code, err = validate(sub, split_dir, capsys)
    assert code == 2 and len(err) == 1, err
    assert not any(line.startswith("FORGED") for line in err)
    assert "a\\nFORGED.npz" in err[0]


@pytest.mark.parametrize("stream, scale, match", [
    ("face", 1e30, "face: 12 value(s) out of range"),
    ("body", 3e38, "expected 6D components within ±1000"),
    ("rhand", 2e3, "out of range (largest |x| = 2"),
])
def test_finite_but_absurd_values_are_refused(sub, split_dir, capsys, stream, scale, match):
    arrays = dict(np.load(sub / "s1.npz"))
    arrays[stream] = (arrays[stream] * np.float32(scale) if stream != "face"
                      else arrays[stream] + np.float32(scale) * (np.arange(108) == 0)).astype(np.float32)
    save_sample(sub / "s1.npz", **arrays)
    one_error(*validate(sub, split_dir, capsys), match)


def test_an_npz_bomb_is_refused_from_its_header(sub, split_dir, capsys):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (5_000_000, 12, 6)})
    arrays = dict(np.load(sub / "s0.npz"))
    (sub / "s0.npz").unlink()
    with zipfile.ZipFile(sub / "s0.npz", "w") as zf:   # declares 1.44 GB; holds a few bytes
        zf.writestr("body.npy", header.getvalue() + b"\0" * 64)
        for key in ("lhand", "rhand", "face"):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arrays[key])
            zf.writestr(f"{key}.npy", buf.getvalue())
    one_error(*validate(sub, split_dir, capsys), "body: 5000000 frames is more than 10x the reference's 12")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "deep", "big-int", "too-big", "control-char", "dup-key"])
def test_hostile_meta_json(sub, split_dir, capsys, kind):
    meta = sub / "meta.json"
    meta.unlink()
    if kind == "fifo":
        os.mkfifo(meta)
    elif kind == "dev-zero":
        meta.symlink_to("/dev/zero")
    else:
        meta.write_text({"deep": "[" * 100_000 + "]" * 100_000, "big-int": '{"system": "x", "params": ' + "9" * 5000 + "}",
                         "too-big": '{"system": "x", "paper": "' + "p" * (2 << 20) + '"}',
                         "control-char": '{"system": "a\\nb"}', "dup-key": '{"system": "a", "system": "b"}'}[kind])
    match = {"fifo": "FIFO", "dev-zero": "symbolic link", "deep": "nesting deeper", "big-int": "5000 digits",
             "too-big": "more than the limit", "control-char": "one line of printable text",
             "dup-key": "appears twice"}[kind]
    one_error(*validate(sub, split_dir, capsys), match)


# ------------------------------------------------------------------------------------------ datasets
def _flat360(n: int = 20, seed: int = 0) -> np.ndarray:
    return random_sequence(n, np.random.default_rng(seed)).features()


def convert(inp, out, capsys, *extra):
    return run(["datasets", "convert", inp, "--from", extra[0] if extra else "flat360", "--out", out, "--name", "zz",
                "--split", "test", "--language", "en", "--fps", "25", *extra[1:]], capsys)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("flag, value", [("--name", "../../x"), ("--split", "../x"), ("--language", "e/n"),
                                         ("--fps", "nan"), ("--fps", "-25")])
def test_convert_names_cannot_leave_the_output_folder(tmp_path, capsys, flag, value):
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "a.npy", _flat360())
    (tmp_path / "deep" / "out").mkdir(parents=True)
    args = {"--name": "zz", "--split": "test", "--language": "en", "--fps": "25", flag: value}
    code, err = run(["datasets", "convert", tmp_path / "in", "--from", "flat360", "--out", tmp_path / "deep" / "out",
                     *[x for kv in args.items() for x in kv]], capsys)
    one_error(code, err, "expected")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.npy", "deep", "in", "out"]


@pytest.mark.parametrize("source, array, match", [
    ("flat360", np.zeros((20, 360), np.float32), "cannot be orthonormalised"),
    ("soke-179", np.concatenate([np.full((20, 3), 1e30), np.zeros((20, 176))], 1).astype(np.float32),
     "root: rotation angle 1.732e+30 rad"),
    ("soke-133", np.concatenate([np.zeros((20, 123)), np.full((20, 10), 1e30)], 1).astype(np.float32),
     "expr: |coefficient| up to 1e+30"),
    ("flat360", np.zeros((20, 7), np.float32), "expected float (T, 360)"),
])
def test_convert_refuses_inputs_that_would_not_verify(tmp_path, capsys, source, array, match):
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "a.npy", array)
    one_error(*convert(tmp_path / "in", tmp_path / "out", capsys, source), match)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, match", [
    ("id\ttext\na\tcaf\xe9\n".encode("latin-1"), "not UTF-8 (invalid byte 0xe9 at byte 13, line 2)"),
    (b"", "empty"),
    (b"id\ttext\tgloss\na\n", "line 2: 1 cell(s), expected 3"),
    (b"id\ttext\na\tx\na\ty\n", "appears twice"),
])
def test_convert_texts_table_problems(tmp_path, capsys, content, match):
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "a.npy", _flat360())
    (tmp_path / "t.tsv").write_bytes(content)
    one_error(*convert(tmp_path / "in", tmp_path / "out", capsys, "flat360", "--texts", tmp_path / "t.tsv"), match)


def test_a_failed_convert_leaves_the_previous_split_intact(tmp_path, capsys):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for i in range(4):
        np.save(inp / f"s{i}.npy", _flat360(20 + i, seed=i))
    assert convert(inp, out, capsys)[0] == 0
    before = tree(out)
    for i in range(3):
        np.save(inp / f"s{i}.npy", _flat360(30 + i, seed=10 + i))
    np.save(inp / "s3.npy", np.zeros((5, 7), np.float32))
    one_error(*convert(inp, out, capsys), "s3.npy")
    assert tree(out) == before
    assert run(["datasets", "verify", out / "zz" / "test"], capsys)[0] == 0


def _rewrite_manifest(split: Path, text: str) -> None:
    (split / "manifest.jsonl").write_text(text)
    card = json.loads((split / "dataset.json").read_text())
    card["manifest_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (split / "dataset.json").write_text(json.dumps(card))


@pytest.fixture()
def split_copy(split_dir, tmp_path) -> Path:
    import shutil
    return Path(shutil.copytree(split_dir, tmp_path / "synthsign-csl" / "test"))


@pytest.mark.parametrize("kind, match", [("newline-id", "cannot be a file name"), ("deep", "nesting deeper"),
                                         ("card-number", "holds a JSON int"), ("bool-frames", "n_frames: True"),
                                         ("outside-link", "resolves outside its folder")])
def test_broken_dataset_folders(split_copy, tmp_path, capsys, kind, match):
    rows = [json.loads(line) for line in (split_copy / "manifest.jsonl").read_text().splitlines()]
    if kind == "newline-id":
        os.rename(split_copy / "s0.npz", split_copy / "s0\n.npz")
        rows[0]["id"] = "s0\n"
    elif kind == "bool-frames":
        rows[0]["n_frames"] = True
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if kind == "deep":
        text += "[" * 100_000 + "]" * 100_000 + "\n"
    if kind != "outside-link":
        _rewrite_manifest(split_copy, text)
    if kind == "card-number":
        (split_copy / "dataset.json").write_text("42")
    if kind == "outside-link":
        (tmp_path / "elsewhere.npz").write_bytes((split_copy / "s0.npz").read_bytes())
        (split_copy / "s0.npz").unlink()
        (split_copy / "s0.npz").symlink_to(tmp_path / "elsewhere.npz")
    code, err = run(["datasets", "verify", split_copy], capsys)
    assert code == 2 and len(err) == 2 and match in err[1], err
    if kind == "outside-link":
        os.environ["M3T_ALLOW_OUTSIDE_LINKS"] = "1"
        try:
            assert run(["datasets", "verify", split_copy], capsys)[0] == 0
        finally:
            del os.environ["M3T_ALLOW_OUTSIDE_LINKS"]


# ------------------------------------------------------------------------------------------ tokenizers
@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    from reference_models.m3t.checkpoint import save_tokenizer
    from reference_models.m3t.config import TINY
    from reference_models.m3t.vae import MotionTokenizer
    out = tmp_path_factory.mktemp("tok")
    for modality in ("body", "hand", "face"):
        save_tokenizer(MotionTokenizer(modality, TINY), out / modality)
    return out


@pytest.fixture()
def tok_copy(tok_dir, tmp_path) -> Path:
    import shutil
    return Path(shutil.copytree(tok_dir, tmp_path / "tok"))


@pytest.mark.parametrize("change, match", [
    ({"config": {"width": 20000}}, "width 20000: expected an integer from 1 to 4096"),
    ({"config": {"depth": 10**6}}, "depth 1000000"),
    ({"config": {"dilation_growth": 10**6}}, "dilation_growth 1000000"),
    ({"config": {"dilation_growth": 10**20}}, "integer of 21 digits"),
    ({"config": {"width": 4096, "depth": 8}}, "parameters; expected at most 500,000,000"),
    ({"levels": []}, "levels: []"),
    ({"levels": [2] * 40}, "levels"),
    ({"config": {"lr": "fast"}}, "lr 'fast'"),
])
def test_tokenizer_config_bounds(split_dir, tok_copy, tmp_path, capsys, change, match):
    path = tok_copy / "body" / "config.json"
    meta = json.loads(path.read_text())
    for key, value in change.items():
        if isinstance(value, dict):
            meta[key].update(value)
        else:
            meta[key] = value
    path.write_text(json.dumps(meta))
    code, err = run(["tokenize", split_dir, "--ckpt-dir", tok_copy, "--out", tmp_path / "tokens"], capsys)
    one_error(code, err, match)
    assert not (tmp_path / "tokens").exists()


def test_nan_weights_are_refused(split_dir, tok_copy, tmp_path, capsys):
    from safetensors.numpy import load_file, save_file
    path = tok_copy / "hand" / "model.safetensors"
    tensors = load_file(path)
    tensors["encoder.to_latent.weight"] = tensors["encoder.to_latent.weight"].copy()
    tensors["encoder.to_latent.weight"].flat[3] = np.nan
    save_file(tensors, path, metadata={"format": "m3t-tokenizer@1"})
    one_error(*run(["tokenize", split_dir, "--ckpt-dir", tok_copy, "--out", tmp_path / "t"], capsys),
              "encoder.to_latent.weight: 1 non-finite value(s)")


def test_a_failed_detokenize_writes_nothing(split_dir, tok_dir, tmp_path, capsys):
    tokens = tmp_path / "tokens"
    assert run(["tokenize", split_dir, "--ckpt-dir", tok_dir, "--out", tokens], capsys)[0] == 0
    arrays = dict(np.load(tokens / "s2.npz"))
    arrays["body"] = arrays["body"] + 10_000
    (tokens / "s2.npz").unlink()
    np.savez(tokens / "s2.npz", **arrays)
    (tmp_path / "dec").mkdir()
    (tmp_path / "dec" / "keep.txt").write_text("k")
    one_error(*run(["detokenize", tokens, "--ckpt-dir", tok_dir, "--out", tmp_path / "dec"], capsys),
              "s2.npz: body: token out of range")
    assert [p.name for p in (tmp_path / "dec").iterdir()] == ["keep.txt"]
    one_error(*run(["detokenize", tokens, "--ckpt-dir", tok_dir, "--out", tokens], capsys), "is the input folder")


# ------------------------------------------------------------------------------------------ tables
@pytest.mark.parametrize("kind", ["deep-results", "nan-reported"])
def test_table_inputs(tmp_path, capsys, kind):
    results, reported = tmp_path / "results", tmp_path / "reported"
    (results / "synthsign-csl").mkdir(parents=True)
    reported.mkdir()
    if kind == "deep-results":
        (results / "synthsign-csl" / "x.json").write_text("[" * 100_000 + "]" * 100_000)
        match = "nesting deeper"
    else:
        (reported / "r.json").write_text(json.dumps({"protocol": "reported", "citation": "c", "rows": [
            {"dataset": "synthsign-csl", "system": "s", "scores": [{"metric": "dtw-jpe", "part": "body",
                                                                     "value": float("nan")}]}]}))
        match = "NaN"
    one_error(*run(["table", "--results-dir", results, "--reported-dir", reported, "--dataset", "synthsign-csl"],
                   capsys), match)


# ------------------------------------------------------------------------------------------ Ctrl-C
def _cli_subprocess(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_ctrl_c_while_the_command_line_is_built_is_one_line_and_130():
    proc = _cli_subprocess(
        "import os, signal, m3t_bench.cli as cli\n"
        "def registrars():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    yield from ()\n"
        "cli._command_registrars = registrars\n"
        "raise SystemExit(cli.main(['--help']))\n")
    assert proc.returncode == 130 and proc.stderr == "m3t-bench: interrupted\n", proc.stderr


def test_ctrl_c_during_a_command_unwinds_then_is_one_line_and_130(tmp_path):
    proc = _cli_subprocess(
        "import os, signal, m3t_bench.cli as cli, m3t_bench.fileio as fio\n"
        "def write(tmp):\n"
        "    tmp.write_text('partial')\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "def register(sub):\n"
        f"    sub.add_parser('boom').set_defaults(func=lambda args: fio.atomic_write({str(tmp_path / 'out.json')!r}, write))\n"
        "cli._command_registrars = lambda: iter([register])\n"
        "raise SystemExit(cli.main(['boom']))\n")
    assert proc.returncode == 130 and proc.stderr == "m3t-bench: interrupted\n", proc.stderr
    assert list(tmp_path.iterdir()) == []  # the temporary file was removed, nothing half-written


# ------------------------------------------------------------------------------------------ own cases
def test_a_system_name_cannot_forge_markdown_rows():
    from m3t_bench.report.tables import md_escape
    assert md_escape("evil | 0.00 |\n| fake") == "evil \\| 0.00 \\|\\n\\| fake"


@pytest.mark.parametrize("kind, match", [
    ("float128", "dtype float128, expected float32"),
    ("many-entries", "lists 5,000 entries"),
])
def test_odd_archives(sub, split_dir, capsys, kind, match):
    arrays = dict(np.load(sub / "s0.npz"))
    (sub / "s0.npz").unlink()
    with zipfile.ZipFile(sub / "s0.npz", "w") as zf:
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, value.astype(np.longdouble) if kind == "float128" and key == "face" else value)
            zf.writestr(f"{key}.npy", buf.getvalue())
        for i in range(5000 - len(arrays) if kind == "many-entries" else 0):
            zf.writestr(f"x{i}", b"")
    one_error(*validate(sub, split_dir, capsys), match)


def test_convert_output_and_input_special_files(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "a.npy", _flat360())
    (tmp_path / "f").write_text("x")
    one_error(*convert(tmp_path / "in", tmp_path / "f", capsys), "is not a folder")
    os.mkfifo(tmp_path / "in" / "b.npy")
    one_error(*convert(tmp_path / "in", tmp_path / "out", capsys), "FIFO")


@pytest.mark.parametrize("kind, match", [("pipe-name", "cannot be a dataset name"),
                                         ("huge-frames", "expected an integer from 1 to 100000"),
                                         ("split-escape", "cannot be a split")])
def test_dataset_names_and_sizes(split_copy, capsys, kind, match):
    if kind == "pipe-name":
        card = json.loads((split_copy / "dataset.json").read_text())
        card["name"] = card["spec"]["name"] = "x|v:9"
        (split_copy / "dataset.json").write_text(json.dumps(card))
    if kind == "huge-frames":
        rows = [json.loads(line) for line in (split_copy / "manifest.jsonl").read_text().splitlines()]
        rows[0]["n_frames"] = 10**12
        _rewrite_manifest(split_copy, "".join(json.dumps(r) + "\n" for r in rows))
    target = [split_copy.parent, "--split", "../../x"] if kind == "split-escape" else [split_copy]
    code, err = run(["datasets", "verify", *target], capsys)
    assert code == 2 and match in err[-1], err


def test_class_list_with_a_huge_class_id(tmp_path):
    from m3t_bench.datasets.nmfs import load_class_list
    from m3t_bench.errors import ValidationFailed
    (tmp_path / "c.tsv").write_text("class_id\tgloss\tgroup\tconfusing\n" + "9" * 5000 + "\tx\t\t0\n")
    with pytest.raises(ValidationFailed, match="at most 9 digits"):
        load_class_list(tmp_path / "c.tsv")


def test_deeply_nested_model_pickle(tmp_path):
    from m3t_bench.body.safe_pickle import load_model_pickle
    from m3t_bench.errors import UserError
    n = 100_000   # {"x": {"x": ...}} written with pickle opcodes (no recursion needed to build it)
    (tmp_path / "m.pkl").write_bytes(b"\x80\x02" + b"}X\x01\x00\x00\x00x" * n + b"}" + b"s" * n + b".")
    with pytest.raises(UserError, match="nested too deeply"):
        load_model_pickle(tmp_path / "m.pkl")


def test_training_overrides_and_resume_state(synth_tiny, tmp_path, capsys):
    data = synth_tiny / "synthsign-csl"
    one_error(*run(["train", "tokenizer", "--modality", "body", "--data", data, "--out", tmp_path / "t",
                    "--width", "1000000", "--quiet"], capsys), "width 1000000")
    from reference_models.m3t.train import _check_resume_state
    from reference_models.m3t.config import TINY
    from m3t_bench.errors import UserError
    with pytest.raises(UserError, match="epoch: got 'three'"):
        _check_resume_state({"epoch": "three", "step": 0, "best_epoch": -1, "best_val_mm": None, "history": [],
                             "optimizer_param_groups": []}, TINY, tmp_path / "train_state.json")


def test_closed_stdout_ends_quietly():
    proc = _cli_subprocess(
        "import os, sys, m3t_bench.cli as cli\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
        "def register(sub):\n"
        "    sub.add_parser('talk').set_defaults(func=lambda args: print('x' * 100000, flush=True))\n"
        "cli._command_registrars = lambda: iter([register])\n"
        "raise SystemExit(cli.main(['talk']))\n")
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


def test_reported_numbers_without_citation(tmp_path, capsys):
    (tmp_path / "rep").mkdir()
    (tmp_path / "res").mkdir()
    (tmp_path / "rep" / "r.json").write_text(json.dumps({"protocol": "reported", "rows": [
        {"dataset": "synthsign-csl", "system": "s", "scores": [{"metric": "dtw-jpe", "part": "body", "value": 1.0}]}]}))
    one_error(*run(["table", "--results-dir", tmp_path / "res", "--reported-dir", tmp_path / "rep", "--dataset",
                    "synthsign-csl"], capsys), "KeyError: 'citation'")


# ------------------------------------------------------------------------------------------ score outputs
@pytest.mark.parametrize("kind", ["same-path", "json-is-folder", "per-sample-is-folder", "below-a-file",
                                  "inside-the-split", "seed", "jobs"])
def test_score_outputs_are_checked_before_any_work(sub, split_dir, tmp_path, capsys, kind):
    """Every bad output path or option is one line, exit 2, and nothing is written (not even the other
    output, which would be valid on its own)."""
    out = tmp_path / "out"
    out.mkdir()
    json_path, per_sample = out / "r.json", out / "r.jsonl"
    extra: list = []
    match = "expected"
    if kind == "same-path":
        per_sample, match = json_path, "same path"
    elif kind == "json-is-folder":
        json_path, match = out, "is a folder"
    elif kind == "per-sample-is-folder":
        per_sample, match = out, "is a folder"
    elif kind == "below-a-file":
        (out / "f").write_text("x")
        json_path, match = out / "f" / "r.json", "is not a folder"
    elif kind == "inside-the-split":
        json_path, match = split_dir / "manifest.jsonl", "inside the scored split"
    elif kind == "seed":
        extra, match = ["--seed", "-1"], "--seed"
    else:
        extra, match = ["--jobs", "0"], "--jobs"
    manifest = (split_dir / "manifest.jsonl").read_bytes()
    with pytest.raises(SystemExit) if kind in ("seed", "jobs") else contextlib.nullcontext() as stop:
        code, err = run(["score", sub, "--dataset", split_dir, "--json", json_path, "--per-sample", per_sample,
                         *extra], capsys)
    if kind in ("seed", "jobs"):
        assert stop.value.code == 2
        err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]  # after argparse's usage
        assert len(err) == 1 and match in err[0] and "expected an integer" in err[0], err
    else:
        one_error(code, err, match)
    assert sorted(p.name for p in out.iterdir()) == (["f"] if kind == "below-a-file" else [])
    assert (split_dir / "manifest.jsonl").read_bytes() == manifest

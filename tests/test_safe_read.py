"""The central safe reader (m3t_bench.safe_read), header-checked npz/npy reading, one-line messages and
all-or-nothing writes: each refusal class with a small crafted fixture (a FIFO, symbolic links, a crafted npy
header, a generated zip bomb of a few hundred kB)."""

from __future__ import annotations

import io
import json
import os
import stat
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from m3t_bench.errors import UserError, ValidationFailed, one_line
from m3t_bench.fileio import atomic_write_many, atomic_write_text, sha256_file, staged_folder, text_writer
from m3t_bench.motion.npz import read_npy, read_npz, write_npz
from m3t_bench.safe_read import MAX_JSON_DEPTH, open_regular, parse_json, read_json, read_text


# ------------------------------------------------------------------------------------------ file kinds
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "meta.json"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="FIFO"):   # would block forever in a plain open()
        read_json(fifo)
    with pytest.raises(UserError, match="FIFO"):
        sha256_file(fifo)


def test_device_behind_a_symlink_is_refused(tmp_path):
    link = tmp_path / "meta.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(UserError, match="character device"):
        read_json(link)
    with pytest.raises(UserError, match="symbolic link"):
        read_json(link, links="refuse")


def test_folder_and_missing_file_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="a folder"):
        read_text(tmp_path)
    with pytest.raises(UserError, match="not found"):
        read_text(tmp_path / "nope.txt")


def test_size_cap_is_checked_before_reading(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2000 + b"{}")
    with pytest.raises(UserError, match="more than the limit of 1,000 bytes"):
        read_json(big, max_bytes=1000)
    assert read_json(big, max_bytes=4000) == {}


def test_link_policies(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    folder = tmp_path / "split"
    folder.mkdir()
    (folder / "inner.txt").write_text("y")
    (folder / "to_inner.txt").symlink_to(folder / "inner.txt")
    (folder / "to_outside.txt").symlink_to(outside)
    assert read_text(folder / "to_inner.txt", links="inside", root=folder) == "y"
    with pytest.raises(UserError, match="resolves outside its folder"):
        read_text(folder / "to_outside.txt", links="inside", root=folder)
    with pytest.raises(UserError, match="symbolic link"):
        read_text(folder / "to_inner.txt", links="refuse")
    assert read_text(folder / "to_outside.txt") == "x"  # "follow": a path the user named


def test_open_regular_gives_a_blocking_binary_file(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    with open_regular(path, max_bytes=3) as fh:
        assert fh.read() == b"abc" and os.get_blocking(fh.fileno())


# ------------------------------------------------------------------------------------------ text and JSON
def test_invalid_utf8_names_line_and_byte(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes("id\ttext\na\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"invalid byte 0xe9 at byte 13, line 2"):
        read_text(path)


@pytest.mark.parametrize("text, match", [
    ("[" * 100_000 + "]" * 100_000, "nesting deeper"),                          # RecursionError in json
    ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "nesting deeper"),
    ('{"params": ' + "9" * 5000 + "}", "integer of 5000 digits"),
    ('{"a": NaN}', "NaN"), ('{"a": -Infinity}', "Infinity"), ('{"a": 1e400}', "overflows"),
    ('{"a": 1, "a": 2}', "appears twice"),
    ('{"system": "\\ud800"}', "lone surrogate"),
    ('{"a": ', "not valid JSON"),
])
def test_json_limits(text, match):
    with pytest.raises(UserError, match=match) as exc:
        parse_json(text, file="x.json")
    assert "\n" not in str(exc.value)


def test_json_within_limits_round_trips():
    obj = {"a": [1, 2.5, None, True, "ü"], "b": {"c": -(2**63 - 1)}, "d": [[[]]]}
    assert parse_json(json.dumps(obj)) == obj


# ------------------------------------------------------------------------------------------ one line
def test_one_line_escapes_everything_that_could_break_a_line():
    assert one_line("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert one_line("x\u2028y\x1b[31m\u202e") == "x\\u2028y\\x1b[31m\\u202e"
    assert one_line("ünïcödé 汉字 ok") == "ünïcödé 汉字 ok"
    err = UserError("detail\nforged: line", file="dir/a\nb.npz", field="bo\ndy")
    assert "\n" not in str(err) and str(err).count("\\n") == 3
    many = ValidationFailed(["a.npz: x\nfake.npz: body: forged", "b.npz: y"])
    assert str(many).splitlines() == ["a.npz: x\\nfake.npz: body: forged", "b.npz: y"]


# ------------------------------------------------------------------------------------------ npz / npy
def _npy_header(shape, descr="<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_zip_bomb_is_refused_from_its_header_without_inflating(tmp_path):
    """About 1 MB on disk, 256 MiB of float32 zeros declared and deflated: refused before any data is read."""
    frames = (256 << 20) // (12 * 6 * 4)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("body.npy", "w", force_zip64=True) as fh:
            fh.write(_npy_header((frames, 12, 6)))
            zeros = bytes(1 << 22)
            for _ in range((frames * 12 * 6 * 4) // len(zeros)):
                fh.write(zeros)
    assert path.stat().st_size < 4 << 20
    from m3t_bench.motion.sequence import read_sample
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match=f"{frames} frames, expected at most 1000"):
            read_sample(path, max_frames=1000)
        with pytest.raises(UserError, match="more than the limit"):
            read_npz(path, max_bytes=32 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak


def test_lying_header_is_refused_and_truncated_data_reported(tmp_path):
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.npy", _npy_header((10**12,)) + b"\0" * 16)
        zf.writestr("b.npy", _npy_header((100,)) + b"\0" * 16)
    with pytest.raises(UserError, match="declares"):
        read_npz(path, expected=("a",))
    with pytest.raises(UserError, match="truncated"):
        read_npz(path, expected=("b",))


@pytest.mark.parametrize("descr, match", [("|O", "pickled"), ([("x", "<f4")], "structured"), ("|V8", "structured")])
def test_object_and_structured_dtypes_are_refused(tmp_path, descr, match):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.npy", _npy_header((2,), descr) + b"\0" * 16)
    with pytest.raises(UserError, match=match):
        read_npz(path)


def test_npz_round_trip_fortran_order_and_duplicate_names(tmp_path):
    a = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))
    path = tmp_path / "f.npz"
    with zipfile.ZipFile(path, "w") as zf:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, a)
        zf.writestr("a.npy", buf.getvalue())
    out = read_npz(path)["a"]
    np.testing.assert_array_equal(out, a)
    out[0, 0] = -1  # writable, like np.load's arrays
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("a", buf.getvalue())
    with pytest.raises(UserError, match="appears twice"):
        read_npz(path)
    write_npz(tmp_path / "w.npz", {"x": np.zeros((2, 3), np.float32), "n": np.asarray(3)})
    back = read_npz(tmp_path / "w.npz")
    assert back["x"].shape == (2, 3) and back["n"].shape == () and int(back["n"]) == 3


def test_corrupt_member_is_a_one_line_error(tmp_path):
    path = tmp_path / "c.npz"
    write_npz(path, {"x": np.arange(1000, dtype=np.float32)}, compress=False)
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF  # inside the stored array data: the CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="unreadable array data"):
        read_npz(path)


def test_npy_header_check_runs_before_reading(tmp_path):
    path = tmp_path / "ids.npy"
    path.write_bytes(_npy_header((10**11,), "<i8"))
    seen = []
    with pytest.raises(UserError, match="too many"):
        read_npy(path, check=lambda name, shape, dtype: seen.append(shape) or "too many")
    assert seen == [(10**11,)]


# ------------------------------------------------------------------------------------------ writing
def test_atomic_write_refuses_a_folder_and_a_file_parent(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        atomic_write_text(tmp_path / "d", "x")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        atomic_write_text(tmp_path / "f" / "r.json", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f"]


def test_atomic_write_many_is_all_or_nothing(tmp_path):
    (tmp_path / "a.json").write_text("old")

    def failing(tmp: Path) -> None:
        raise OSError(28, "No space left on device")
    with pytest.raises(UserError, match="No space left"):
        atomic_write_many({tmp_path / "a.json": text_writer("new"), tmp_path / "b.jsonl": failing})
    assert (tmp_path / "a.json").read_text() == "old" and not (tmp_path / "b.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    with pytest.raises(UserError, match="twice"):
        atomic_write_many({tmp_path / "x": text_writer("1"), tmp_path / "a" / ".." / "x": text_writer("2")})


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644


def test_staged_folder_keeps_the_previous_state_on_failure(tmp_path):
    target = tmp_path / "out" / "ds" / "test"
    with staged_folder(target, replace=True) as tmp:
        (tmp / "a.npz").write_text("1")
    assert [p.name for p in target.iterdir()] == ["a.npz"]
    with pytest.raises(RuntimeError):
        with staged_folder(target, replace=True) as tmp:
            (tmp / "b.npz").write_text("2")
            raise RuntimeError("bad input")
    assert [p.name for p in target.iterdir()] == ["a.npz"] and len(list(target.parent.iterdir())) == 1
    with pytest.raises(RuntimeError):
        with staged_folder(tmp_path / "fresh" / "ds" / "test", replace=True):
            raise RuntimeError("bad input")
    assert not (tmp_path / "fresh").exists()
    (target / "keep.txt").write_text("k")
    with staged_folder(target, replace=False) as tmp:
        (tmp / "a.npz").write_text("3")
    assert {p.name: p.read_text() for p in target.iterdir()} == {"a.npz": "3", "keep.txt": "k"}
    with staged_folder(target, replace=True) as tmp:
        (tmp / "c.npz").write_text("4")
    assert [p.name for p in target.iterdir()] == ["c.npz"]

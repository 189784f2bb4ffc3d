"""Safe, deterministic ``.npz`` / ``.npy`` reading and writing.

Reading never unpickles: an archive holding object arrays is refused with a message, not loaded. Every
array's npy header (shape, dtype) is parsed and checked against the caller's limits *before* any of its data
is decompressed, so a small archive that inflates to gigabytes (a "zip bomb") is refused without being
read; the file itself must be a regular file of bounded size (:mod:`m3t_bench.safe_read`). Writing is atomic (temporary file + rename) and byte-reproducible: zip entries
carry a fixed timestamp, so the same arrays always give the same file and the same sha256.
"""

from __future__ import annotations

import contextlib
import io
import math
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Mapping

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write
from m3t_bench.safe_read import open_regular

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray], *, compress: bool = True) -> None:
    """Write ``arrays`` to ``path`` as an ``.npz`` readable by ``np.load``; atomic and reproducible.

    Entries are written in sorted name order. Object arrays are rejected (they would need pickling).
    """
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=method) as zf:
            for name in sorted(arrays):
                arr = np.asarray(arrays[name])
                if arr.dtype.hasobject:
                    raise ValueError(f"array {name!r} has dtype object; refusing to pickle it")
                buf = io.BytesIO()
                np.lib.format.write_array(buf, arr, allow_pickle=False)  # keeps 0-d arrays 0-d
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
                info.compress_type = method
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue())

    atomic_write(path, write)


#: Caps for one ``.npz``/``.npy`` file: its size on disk and the bytes its arrays declare (the largest files
#: the toolkit reads, SMPL-X 2020 model files, hold about 250 MB of float64 arrays).
MAX_FILE_BYTES = 2 << 30
MAX_ARRAY_BYTES = 2 << 30
#: Most entries an archive may list (its central directory is parsed whole; a sample has at most six).
MAX_MEMBERS = 4096
#: ``check(name, shape, dtype)`` -> a problem (one line: what was declared and what is expected) or None.
HeaderCheck = Callable[[str, tuple[int, ...], np.dtype], "str | None"]
_NPY_MAGIC = b"\x93NUMPY"


def _read_header(fp, path: Path, name: str | None) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Parse an npy header (format 1.0 or 2.0) from ``fp`` -> ``(shape, fortran_order, dtype)``."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"npy format version {version[0]}.{version[1]} (1.0 and 2.0 are read)")
    except Exception as exc:  # ValueError, zipfile/zlib errors, EOF
        raise UserError(f"not a valid .npy array header ({exc})", file=path, field=name) from None
    if dtype.hasobject:
        raise UserError("holds a pickled object array; refused (never unpickled)", file=path, field=name)
    if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in "biufcUS":
        raise UserError(f"dtype {dtype}: structured or opaque arrays are refused; expected a numeric array",
                        file=path, field=name)
    return tuple(int(n) for n in shape), bool(fortran), dtype


def _checked_size(path: Path, name: str | None, shape: tuple[int, ...], dtype: np.dtype, budget: int,
                  check: HeaderCheck | None) -> int:
    """Bytes the header declares, after ``check`` and against ``budget`` (nothing has been read yet)."""
    if check is not None:
        problem = check(name or "", shape, dtype)
        if problem:
            raise UserError(problem, file=path, field=name)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > budget:
        raise UserError(f"declares {shape} {dtype} = {nbytes:,} bytes, more than the limit of {budget:,} bytes "
                        f"left for this file; refused before reading", file=path, field=name)
    return nbytes


def _read_data(fp, path: Path, name: str | None, shape: tuple[int, ...], fortran: bool, dtype: np.dtype,
               nbytes: int) -> np.ndarray:
    buf = bytearray(nbytes)
    view, got = memoryview(buf), 0
    try:
        while got < nbytes:
            n = fp.readinto(view[got:])
            if not n:
                break
            got += n
        trailing = fp.read(1)  # reaching the end also makes zipfile check the CRC
    except Exception as exc:
        raise UserError(f"unreadable array data ({type(exc).__name__}: {exc})", file=path, field=name) from None
    if got < nbytes:
        raise UserError(f"array data truncated ({got:,} of {nbytes:,} bytes)", file=path, field=name)
    if trailing:
        raise UserError("bytes after the array data; expected exactly the declared array", file=path, field=name)
    arr = np.frombuffer(buf, dtype=dtype, count=math.prod(shape))
    return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)


@contextlib.contextmanager
def _archive(path: Path, max_file_bytes: int, links: str, root) -> Iterator[dict[str, tuple[zipfile.ZipFile, zipfile.ZipInfo]]]:
    """The archive's entries by array name (``.npy`` stripped), the file checked by :mod:`m3t_bench.safe_read`."""
    with open_regular(path, max_bytes=max_file_bytes, links=links, root=root, what=".npz archive") as fh:
        if fh.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
            raise UserError("is a single .npy array, expected an .npz archive of named arrays", file=path)
        try:  # the entry count from the end record, before the central directory is parsed
            n_members = zipfile._EndRecData(fh)[zipfile._ECD_ENTRIES_TOTAL]
        except Exception:
            n_members = 0
        if n_members > MAX_MEMBERS:
            raise UserError(f"lists {n_members:,} entries; expected at most {MAX_MEMBERS:,} arrays", file=path)
        fh.seek(0)
        try:
            zf = zipfile.ZipFile(fh)
        except Exception as exc:  # BadZipFile, OSError, ValueError ...
            raise UserError(f"not a valid .npz archive ({type(exc).__name__})", file=path) from None
        with zf:
            members: dict[str, tuple[zipfile.ZipFile, zipfile.ZipInfo]] = {}
            for info in zf.infolist():
                key = info.filename.removesuffix(".npy")
                if key in members:
                    raise UserError("appears twice in the archive; expected unique array names", file=path,
                                    field=key)
                members[key] = (zf, info)
            yield members


def npz_names(path: str | Path, *, max_file_bytes: int = MAX_FILE_BYTES, links: str = "follow",
              root: str | Path | None = None) -> list[str]:
    """The array names of an ``.npz`` (nothing is decompressed)."""
    with _archive(Path(path), max_file_bytes, links, root) as members:
        return list(members)


def read_npz(path: str | Path, *, expected: tuple[str, ...] | None = None, check: HeaderCheck | None = None,
             max_bytes: int = MAX_ARRAY_BYTES, max_file_bytes: int = MAX_FILE_BYTES, links: str = "follow",
             root: str | Path | None = None) -> dict[str, np.ndarray]:
    """Read the arrays of an ``.npz`` into memory without unpickling, checking every array's declared shape
    and dtype before reading any of its data.

    The file must be a regular file of at most ``max_file_bytes`` (``links``/``root``: the symbolic-link
    policy of :mod:`m3t_bench.safe_read`); the arrays read may declare ``max_bytes`` in total, and
    ``check(name, shape, dtype)`` may refuse a header with a one-line problem. ``expected`` (optional) limits
    which entries are read (others are never decompressed). Raises :class:`UserError` naming the file and
    the entry: missing, not a valid npz, pickled objects, structured dtypes, a refused or oversized header,
    truncated or corrupt data.
    """
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    with _archive(path, max_file_bytes, links, root) as members:
        budget = max_bytes
        for key, (zf, info) in members.items():
            if expected is not None and key not in expected:
                continue
            try:
                fp = zf.open(info)
            except Exception as exc:  # encrypted, unsupported compression ...
                raise UserError(f"unreadable entry ({type(exc).__name__}: {exc})", file=path, field=key) from None
            with fp:
                shape, fortran, dtype = _read_header(fp, path, key)
                nbytes = _checked_size(path, key, shape, dtype, budget, check)
                budget -= nbytes
                out[key] = _read_data(fp, path, key, shape, fortran, dtype, nbytes)
    return out


def read_npy(path: str | Path, *, check: HeaderCheck | None = None, max_bytes: int = MAX_ARRAY_BYTES,
             links: str = "follow", root: str | Path | None = None) -> np.ndarray:
    """Read one ``.npy`` array without unpickling, checking its declared shape and dtype (``check``, at most
    ``max_bytes``) before reading any data; :class:`UserError` naming the file otherwise."""
    path = Path(path)
    with open_regular(path, max_bytes=max_bytes + 65536, links=links, root=root, what=".npy array") as fh:
        shape, fortran, dtype = _read_header(fh, path, None)
        nbytes = _checked_size(path, None, shape, dtype, max_bytes, check)
        return _read_data(fh, path, None, shape, fortran, dtype, nbytes)

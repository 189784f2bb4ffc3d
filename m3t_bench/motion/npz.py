"""Safe, deterministic ``.npz`` reading and writing.

Reading never unpickles (``allow_pickle=False``): an archive holding object arrays is refused with a
message, not loaded. Writing is atomic (temporary file + rename) and byte-reproducible: zip entries
carry a fixed timestamp, so the same arrays always give the same file and the same sha256.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.fileio import atomic_write

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


def read_npz(path: str | Path, *, expected: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` into memory without unpickling.

    Raises :class:`UserError` naming the file (and the entry) when the file is missing, is not a
    valid npz, or holds pickled objects. ``expected`` (optional) limits which entries are read.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found (expected an .npz archive)", file=path)
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:  # zipfile.BadZipFile, OSError, ValueError ...
        raise UserError(f"not a valid .npz archive ({type(exc).__name__})", file=path) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise UserError("is a single .npy array, expected an .npz archive of named arrays", file=path)
    out: dict[str, np.ndarray] = {}
    with npz:
        for name in npz.files:
            if expected is not None and name not in expected:
                continue
            try:
                out[name] = npz[name]
            except ValueError as exc:
                if "pickle" in str(exc).lower():
                    raise UserError("holds a pickled object array; refused (never unpickled)",
                                    file=path, field=name) from None
                raise UserError(f"unreadable array ({exc})", file=path, field=name) from None
            except Exception as exc:
                raise UserError(f"unreadable array ({type(exc).__name__})", file=path, field=name) from None
    return out

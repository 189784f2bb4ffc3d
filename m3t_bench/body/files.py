"""Locating, reading and checking the SMPL-X / FLAME / correspondence files of a body-model folder.

Folder layout (real files from the official downloads, or the stand-in written by
``m3t-bench assets standin``)::

    DIR/smplx/SMPLX_NEUTRAL.npz            (or SMPLX_NEUTRAL.pkl)   SMPL-X neutral model
    DIR/flame/generic_model.pkl            (or DIR/FLAME2020/generic_model.pkl)   FLAME 2020 model
    DIR/SMPL-X__FLAME_vertex_ids.npy       5,023 SMPL-X vertex ids of the FLAME vertices
    DIR/STANDIN.json                       only in stand-in folders: marker with the stand-in id

``.npz`` files are read with ``allow_pickle=False`` (only the arrays SMPL-FX needs are touched, so the
official npz's pickled bookkeeping entries are never loaded); ``.pkl`` files go through the restricted
unpickler of :mod:`m3t_bench.body.safe_pickle`. Shapes are checked against what ``smplx``'s own loaders
expect (``smplx.body_models.SMPL/SMPLX``), and every problem is a one-line :class:`UserError`.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse

from m3t_bench.body.safe_pickle import load_model_pickle
from m3t_bench.errors import UserError
from m3t_bench.fileio import sha256_file
from m3t_bench.motion.npz import read_npy, read_npz
from m3t_bench.safe_read import read_json_object

ENV_VAR = "M3T_BODY_MODELS"
SMPLX_CANDIDATES = ("smplx/SMPLX_NEUTRAL.npz", "smplx/SMPLX_NEUTRAL.pkl")
FLAME_CANDIDATES = ("flame/generic_model.pkl", "FLAME2020/generic_model.pkl")
CORRESPONDENCE_NAME = "SMPL-X__FLAME_vertex_ids.npy"
STANDIN_MARKER = "STANDIN.json"

N_SMPLX_VERTICES, N_SMPLX_FACES, N_SMPLX_JOINTS = 10475, 20908, 55
N_FLAME_VERTICES, N_FLAME_FACES, N_FLAME_JOINTS = 5023, 9976, 5
N_FLAME_SHAPE, N_FLAME_EXPRESSION = 300, 100
N_SMPLX_BODY_SHAPE = 10

#: Arrays SMPL-FX reads from the SMPL-X file and their expected shapes (``None`` = any size there).
SMPLX_ARRAYS = {
    "v_template": (N_SMPLX_VERTICES, 3),
    "f": (N_SMPLX_FACES, 3),
    "shapedirs": (N_SMPLX_VERTICES, 3, None),
    "posedirs": (N_SMPLX_VERTICES, 3, (N_SMPLX_JOINTS - 1) * 9),
    "J_regressor": (N_SMPLX_JOINTS, N_SMPLX_VERTICES),
    "weights": (N_SMPLX_VERTICES, N_SMPLX_JOINTS),
    "kintree_table": (2, N_SMPLX_JOINTS),
}
#: Arrays SMPL-FX reads from the FLAME file and their expected shapes.
FLAME_ARRAYS = {
    "v_template": (N_FLAME_VERTICES, 3),
    "f": (N_FLAME_FACES, 3),
    "shapedirs": (N_FLAME_VERTICES, 3, N_FLAME_SHAPE + N_FLAME_EXPRESSION),
    "J_regressor": (N_FLAME_JOINTS, N_FLAME_VERTICES),
    "weights": (N_FLAME_VERTICES, N_FLAME_JOINTS),
    "kintree_table": (2, N_FLAME_JOINTS),
}


def _shape_ok(shape: tuple[int, ...], want: tuple) -> bool:
    return len(shape) == len(want) and all(w is None or s == w for s, w in zip(shape, want))


def _checked_arrays(raw: dict, want: dict, path: Path) -> dict[str, np.ndarray]:
    """Pick ``want``'s keys from ``raw`` as dense numpy arrays with the expected shapes."""
    out = {}
    for key, shape in want.items():
        if key not in raw:
            raise UserError(f"missing array (expected shape {_fmt(shape)})", file=path, field=key)
        value = raw[key]
        value = value.toarray() if scipy.sparse.issparse(value) else np.asarray(value)
        if value.dtype.hasobject or not _shape_ok(value.shape, shape):
            raise UserError(f"shape {value.shape} dtype {value.dtype}, expected numeric {_fmt(shape)}",
                            file=path, field=key)
        if not np.isfinite(value).all():
            raise UserError("non-finite values, expected finite numbers", file=path, field=key)
        out[key] = value
    if out["shapedirs"].shape[-1] < N_SMPLX_BODY_SHAPE:
        raise UserError(f"{out['shapedirs'].shape[-1]} shape directions, expected at least "
                        f"{N_SMPLX_BODY_SHAPE}", file=path, field="shapedirs")
    return out


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join("K" if s is None else str(s) for s in shape) + ")"


def load_smplx_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The SMPL-X arrays SMPL-FX uses (keys and shapes of ``SMPLX_ARRAYS``) from an ``.npz`` or ``.pkl``.

    ``shapedirs`` is ``(10475, 3, K)``: shape directions first, then expression directions (K = 20 for
    SMPL-X v1.0, 400 for the 2020 release); SMPL-FX uses the first 10 shape directions only.
    """
    path = Path(path)
    raw = (load_model_pickle(path) if path.suffix == ".pkl"
           else read_npz(path, expected=tuple(SMPLX_ARRAYS), check=_header_check(SMPLX_ARRAYS)))
    return _checked_arrays(raw, SMPLX_ARRAYS, path)


#: Most shape/expression directions a model file may declare (the 2020 SMPL-X release has 400).
MAX_DIRECTIONS = 1000


def _header_check(want: dict):
    """npy-header check of a model ``.npz``: each array's shape as in ``want`` (``None``: at most
    ``MAX_DIRECTIONS``), refused before its data is read."""
    def check(name: str, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        expected = want[name]
        if len(shape) != len(expected) or any(s != w if w is not None else s > MAX_DIRECTIONS
                                              for s, w in zip(shape, expected)):
            return f"shape {shape}, expected {_fmt(expected)} (K <= {MAX_DIRECTIONS})"
        return None
    return check


def load_flame_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The FLAME arrays SMPL-FX uses (``FLAME_ARRAYS``) from ``generic_model.pkl`` (restricted unpickler).

    ``shapedirs`` is ``(5023, 3, 400)``: 300 identity directions then 100 expression directions.
    """
    path = Path(path)
    return _checked_arrays(load_model_pickle(path), FLAME_ARRAYS, path)


def load_correspondence(path: str | Path) -> np.ndarray:
    """The SMPL-X vertex id of every FLAME vertex: int64 ``(5023,)``, unique, in ``[0, 10475)``."""
    path = Path(path)

    def check(name: str, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        if math.prod(shape) != N_FLAME_VERTICES:
            return f"shape {shape} dtype {dtype}, expected integer ({N_FLAME_VERTICES},)"
        return None
    ids = read_npy(path, check=check)
    ids = np.asarray(ids).reshape(-1) if np.ndim(ids) == 2 and 1 in np.shape(ids) else np.asarray(ids)
    if ids.shape != (N_FLAME_VERTICES,) or not np.issubdtype(ids.dtype, np.integer):
        raise UserError(f"shape {ids.shape} dtype {ids.dtype}, expected integer ({N_FLAME_VERTICES},)", file=path)
    if ids.min() < 0 or ids.max() >= N_SMPLX_VERTICES or np.unique(ids).size != ids.size:
        raise UserError(f"expected unique SMPL-X vertex ids in [0, {N_SMPLX_VERTICES})", file=path)
    return ids.astype(np.int64)


@dataclass(frozen=True)
class BodyModelFiles:
    """The three model files of a body-model folder (see the module docstring for the layout)."""

    root: Path
    smplx: Path
    flame: Path
    correspondence: Path

    @cached_property
    def file_sha256(self) -> dict[str, str]:
        """sha256 of each file, keyed by its path relative to the folder."""
        return {p.relative_to(self.root).as_posix(): sha256_file(p)
                for p in (self.smplx, self.flame, self.correspondence)}

    @cached_property
    def model_id(self) -> str:
        """``smplfx-standin@<n>`` for an unmodified stand-in folder, else ``smplfx-`` + the first 12 hex
        digits of the sha256 over the three files' sha256 digests (SMPL-X, FLAME, correspondence)."""
        marker = self.root / STANDIN_MARKER
        if marker.is_file():
            info = read_json_object(marker, max_bytes=1 << 16)
            try:
                standin_id, recorded = str(info["model_id"]), dict(info["files_sha256"])
            except (KeyError, TypeError, ValueError):
                raise UserError("unreadable stand-in marker (expected JSON with model_id and files_sha256)",
                                file=marker) from None
            if recorded != self.file_sha256:
                raise UserError("the model files differ from the ones this stand-in marker records; "
                                "regenerate with `m3t-bench assets standin` or remove the marker", file=marker)
            return standin_id
        digest = hashlib.sha256("".join(self.file_sha256.values()).encode()).hexdigest()
        return f"smplfx-{digest[:12]}"


def _first_existing(root: Path, candidates: tuple[str, ...], what: str) -> Path:
    for rel in candidates:
        if (root / rel).is_file():
            return root / rel
    raise UserError(f"missing {what}: expected one of " + ", ".join(candidates), file=root)


def locate_body_model_files(root: str | Path) -> BodyModelFiles:
    """Find the three model files in ``root``; :class:`UserError` naming what is missing."""
    root = Path(root)
    if not root.is_dir():
        raise UserError("body-model folder not found", file=root)
    return BodyModelFiles(root=root,
                          smplx=_first_existing(root, SMPLX_CANDIDATES, "SMPL-X model file"),
                          flame=_first_existing(root, FLAME_CANDIDATES, "FLAME model file"),
                          correspondence=_first_existing(root, (CORRESPONDENCE_NAME,), "SMPL-X/FLAME correspondence"))


def resolve_body_models(path_or_none: str | Path | None) -> Path:
    """The body-model folder: the explicit path if given, else ``$M3T_BODY_MODELS``; error if neither."""
    chosen = path_or_none if path_or_none not in (None, "") else os.environ.get(ENV_VAR) or None
    if chosen is None:
        raise UserError(f"no body-model folder: pass --body-models DIR or set {ENV_VAR} "
                        "(`m3t-bench assets standin --out DIR` writes a stand-in)")
    root = Path(chosen).expanduser()
    if not root.is_dir():
        source = "--body-models" if path_or_none not in (None, "") else f"${ENV_VAR}"
        raise UserError(f"body-model folder not found (from {source})", file=root)
    return root


def add_body_models_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--body-models DIR`` (default: ``$M3T_BODY_MODELS``) to a command's parser."""
    parser.add_argument("--body-models", metavar="DIR", default=None,
                        help=f"folder with SMPL-X, FLAME and correspondence files (default: ${ENV_VAR})")

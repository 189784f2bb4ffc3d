"""A restricted unpickler for official SMPL-X / FLAME model pickles.

The official ``.pkl`` model files were written by Python 2 with ``chumpy`` arrays and ``scipy.sparse``
matrices inside. Unpickling them with :mod:`pickle` would let the file call any importable function;
:func:`load_model_pickle` instead resolves only an allow-list of globals:

* numpy's array/scalar/dtype reconstruction (``numpy.core.multiarray._reconstruct`` and ``scalar``,
  ``numpy.ndarray``, ``numpy.dtype``, ``numpy.core.numeric._frombuffer``; both the ``numpy.core`` and
  ``numpy._core`` spellings);
* ``copy_reg._reconstructor`` / ``copyreg._reconstructor`` and ``object`` (protocol 0/1 object
  creation), accepted only to build the placeholders below, ``set``/``frozenset`` (chumpy state), and ``_codecs.encode`` limited to latin-1
  (how Python 3 writes bytes in protocol-2 pickles);
* ``scipy.sparse`` matrix classes (``csc_matrix``, ``csr_matrix``, ``coo_matrix`` under any of their
  historical module paths) and every class of the ``chumpy`` package. Neither is imported: each becomes
  an inert placeholder that only records its pickled state, converted after loading into a
  ``scipy.sparse`` matrix rebuilt from ``data/indices/indptr/shape``, or a plain numpy array taken from a
  chumpy object's stored value (state key ``x``).

Any other global (``os.system``, ``builtins.eval``, ...) raises :class:`~m3t_bench.errors.UserError`
naming the file and the refused global, before anything is called.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from m3t_bench.errors import UserError
from m3t_bench.safe_read import open_regular

#: Largest model pickle read (the official SMPL-X and FLAME pickles are a few hundred MB at most).
MAX_PICKLE_BYTES = 2 << 30

_NUMPY_FUNCTIONS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}
_BUILTIN_TYPES = {"object": object, "set": set, "frozenset": frozenset}  # inert containers (protocol 2)
_SPARSE_MODULES = {"scipy.sparse", "scipy.sparse.csc", "scipy.sparse._csc", "scipy.sparse.csr",
                   "scipy.sparse._csr", "scipy.sparse.coo", "scipy.sparse._coo", "scipy.sparse.base",
                   "scipy.sparse._base", "scipy.sparse.compressed", "scipy.sparse._compressed"}
_SPARSE_CLASSES = {"csc_matrix": scipy.sparse.csc_matrix, "csr_matrix": scipy.sparse.csr_matrix,
                   "coo_matrix": scipy.sparse.coo_matrix}


class _Placeholder:
    """An inert stand-in for a chumpy or scipy.sparse object: remembers its pickled state, runs nothing."""

    kind = "object"
    qualname = ""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.state: Any = None

    def __setstate__(self, state):
        self.state = state


def _placeholder_class(kind: str, qualname: str) -> type:
    return type(f"_{kind}_placeholder", (_Placeholder,), {"kind": kind, "qualname": qualname})


def _safe_reconstructor(cls, base, state):
    """Protocol 0/1 object creation, limited to placeholders (``copyreg._reconstructor``'s role)."""
    if not (isinstance(cls, type) and issubclass(cls, _Placeholder)):
        raise pickle.UnpicklingError(f"copyreg._reconstructor on {cls!r} refused")
    return cls()


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes; any other codec is refused."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} refused")
    return text.encode("latin1")


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) in _NUMPY_FUNCTIONS:
            return getattr(np, name) if module == "numpy" else _numpy_function(module, name)
        if (module, name) in {("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")}:
            return _safe_reconstructor
        if module in ("__builtin__", "builtins") and name in _BUILTIN_TYPES:
            return _BUILTIN_TYPES[name]
        if module in _SPARSE_MODULES and name in _SPARSE_CLASSES:
            return _placeholder_class("sparse", name)
        if module == "chumpy" or module.startswith("chumpy."):
            return _placeholder_class("chumpy", f"{module}.{name}")
        raise _RefusedGlobal(f"{module}.{name}")


class _RefusedGlobal(pickle.UnpicklingError):
    pass


def _numpy_function(module: str, name: str):
    """Resolve numpy's reconstruction helpers whichever of ``numpy.core``/``numpy._core`` this numpy has."""
    import importlib
    for candidate in (module, module.replace("numpy.core", "numpy._core"), module.replace("numpy._core", "numpy.core")):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise _RefusedGlobal(f"{module}.{name}")


def _state_dict(state) -> dict:
    if isinstance(state, tuple) and state and isinstance(state[0], dict):  # (dict, slots)
        return state[0]
    return state if isinstance(state, dict) else {}


def _convert(obj, path: Path, where: str):
    """Replace placeholders inside ``obj`` (recursively through dicts/lists/tuples) by numpy/scipy objects."""
    if isinstance(obj, _Placeholder):
        state = _state_dict(obj.state)
        if obj.kind == "sparse":
            return _sparse_from_state(obj, state, path, where)
        if "x" in state:
            value = _convert(state["x"], path, where)
            if isinstance(value, np.ndarray) or np.isscalar(value):
                return np.asarray(value)
        raise UserError(f"chumpy object {obj.qualname} holds no stored array (state key 'x'); "
                        "expected plain chumpy arrays", file=path, field=where)
    if isinstance(obj, dict):
        return {k: _convert(v, path, f"{where}.{k}" if where else str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_convert(v, path, where) for v in obj)
    return obj


def _sparse_from_state(obj: _Placeholder, state: dict, path: Path, where: str):
    shape = state.get("_shape", state.get("shape"))
    try:
        cls = _SPARSE_CLASSES[obj.__class__.qualname]
        if cls is scipy.sparse.coo_matrix:
            row, col = (state["row"], state["col"]) if "row" in state else state["coords"]
            return cls((np.asarray(state["data"]), (np.asarray(row), np.asarray(col))), shape=tuple(shape))
        return cls((np.asarray(state["data"]), np.asarray(state["indices"]), np.asarray(state["indptr"])),
                   shape=tuple(shape))
    except Exception as exc:
        raise UserError(f"unreadable sparse matrix {obj.qualname} ({type(exc).__name__}: {exc})",
                        file=path, field=where) from None


def load_model_pickle(path: str | Path) -> dict[str, Any]:
    """Read an official SMPL-X/FLAME model pickle into a dict of numpy arrays / scipy sparse matrices.

    Python 2 pickles are decoded with ``encoding="latin1"``. Raises :class:`UserError` naming the file when
    it is missing, is not a pickle of a dict, or references a global outside the allow-list.
    """
    path = Path(path)
    try:
        with open_regular(path, max_bytes=MAX_PICKLE_BYTES, what="model .pkl") as fh:
            data = _RestrictedUnpickler(fh, encoding="latin1").load()
    except UserError:
        raise
    except _RefusedGlobal as exc:
        raise UserError(f"refused global {exc} (only numpy arrays, scipy.sparse matrices and chumpy "
                        "arrays are allowed in a model pickle)", file=path) from None
    except Exception as exc:
        raise UserError(f"not a readable model pickle ({type(exc).__name__}: {exc})", file=path) from None
    if not isinstance(data, dict):
        raise UserError(f"holds a {type(data).__name__}, expected a dict of model arrays", file=path)
    try:
        return _convert(data, path, "")
    except RecursionError:
        raise UserError("nested too deeply; expected a dict of model arrays", file=path) from None

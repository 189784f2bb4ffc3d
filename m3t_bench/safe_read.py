"""Reading a user-supplied file safely: the one place every reader of a user file goes through.

A file is read only when it is a **regular file** (never a FIFO, which would block, a device such as
``/dev/zero``, which never ends, a socket or a folder) of at most ``max_bytes`` bytes; the check is made
on the opened descriptor (``fstat``) after a non-blocking open, so a FIFO cannot hang the reader and a file
swapped after the check is still caught. Symbolic links follow one of three policies (``links=``):

``"follow"``  the path may be a link (a path the user named on the command line);
``"refuse"``  the path itself must not be a link (the entries of a submission folder: a link could point at
              the hidden reference files);
``"inside"``  the resolved path must lie inside ``root`` (the sample files of a dataset split).

Text must be UTF-8. JSON is parsed with nesting depth at most ``MAX_JSON_DEPTH``, integers of at most
``MAX_JSON_INT_DIGITS`` digits, no ``NaN``/``Infinity`` (nor a float literal that overflows to it), no
duplicate keys in an object and no lone surrogates in strings. Every refusal is a one-line
:class:`~m3t_bench.errors.UserError` naming the file.

Use it for any new reader::

    from m3t_bench.safe_read import read_json, read_text, read_bytes, open_regular
    meta = read_json(path)                                  # 16 MiB, depth 64 by default
    rows = read_text(path, max_bytes=64 << 20).splitlines()
    with open_regular(path, max_bytes=1 << 30) as fh: ...   # binary file object (e.g. for zipfile)
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, BinaryIO

from m3t_bench.errors import UserError

#: Default caps (bytes). JSON files of the toolkit (meta.json, dataset.json, configs, results) are a few kB.
MAX_JSON_BYTES = 16 << 20
#: Text tables (texts/annotation TSVs, hypotheses, class lists): the largest real one is a few MB.
MAX_TEXT_BYTES = 256 << 20
#: Deepest JSON nesting accepted (the toolkit's own files nest at most 4 levels).
MAX_JSON_DEPTH = 64
#: Longest JSON integer accepted (digits, sign excluded): int64 has 19.
MAX_JSON_INT_DIGITS = 19
LINK_POLICIES = ("follow", "refuse", "inside")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def exists(path: str | Path) -> bool:
    """Whether ``path`` names anything at all (a file, folder, FIFO, device, even a broken link): tells a
    missing file from one the readers below refuse, so each gets its own message."""
    return os.path.lexists(path)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _check_links(path: Path, links: str, root: str | Path | None) -> None:
    if links not in LINK_POLICIES:
        raise ValueError(f"links={links!r}; expected one of {LINK_POLICIES}")
    if links == "refuse" and path.is_symlink():
        raise UserError("is a symbolic link; refused (expected a regular file in the folder itself)", file=path)
    if links == "inside":
        if root is None:
            raise ValueError("links='inside' needs root")
        real, real_root = Path(os.path.realpath(path)), Path(os.path.realpath(root))
        if real != real_root and real_root not in real.parents:
            raise UserError(f"resolves outside its folder {str(root)!r} (to {str(real)!r}); refused", file=path)


def open_regular(path: str | Path, *, max_bytes: int | None = None, links: str = "follow",
                 root: str | Path | None = None, what: str = "file") -> BinaryIO:
    """Open ``path`` for binary reading after checking it is a regular file of at most ``max_bytes`` bytes
    (``None``: any size, for streamed reads) under the ``links`` policy. Returns a file object the caller
    closes; :class:`UserError` naming the file otherwise. ``what`` names the expected content."""
    path = Path(path)
    _check_links(path, links, root)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if links == "refuse":
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UserError(f"not found; expected a {what}", file=path) from None
    except OSError as exc:
        if links == "refuse" and path.is_symlink():
            raise UserError("is a symbolic link; refused (expected a regular file in the folder itself)",
                            file=path) from None
        raise UserError(f"cannot be opened ({exc.strerror or type(exc).__name__}); expected a {what}",
                        file=path) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"is {_kind(st.st_mode)}; expected a regular {what}", file=path)
        if max_bytes is not None and st.st_size > max_bytes:
            raise UserError(f"{st.st_size:,} bytes, more than the limit of {max_bytes:,} bytes for a {what}",
                            file=path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path, *, max_bytes: int, links: str = "follow", root: str | Path | None = None,
               what: str = "file") -> bytes:
    """All bytes of a regular file of at most ``max_bytes`` bytes (see :func:`open_regular`)."""
    with open_regular(path, max_bytes=max_bytes, links=links, root=root, what=what) as fh:
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise UserError(f"cannot be read ({exc.strerror or type(exc).__name__})", file=path) from None
    if len(data) > max_bytes:
        raise UserError(f"grew beyond the limit of {max_bytes:,} bytes while being read", file=path)
    return data


def decode_utf8(data: bytes, *, file: str | Path | None, what: str = "UTF-8 text") -> str:
    """``data`` decoded as strict UTF-8 (a leading BOM is dropped); :class:`UserError` naming the line and
    byte offset of the first invalid byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(f"not UTF-8 (invalid byte 0x{data[exc.start]:02x} at byte {exc.start}, line {line}); "
                        f"expected {what}", file=file) from None
    return text.removeprefix("\ufeff")


def read_text(path: str | Path, *, max_bytes: int = MAX_TEXT_BYTES, links: str = "follow",
              root: str | Path | None = None, what: str = "UTF-8 text file") -> str:
    """A regular UTF-8 text file of at most ``max_bytes`` bytes as ``str``."""
    return decode_utf8(read_bytes(path, max_bytes=max_bytes, links=links, root=root, what=what), file=path,
                       what=what)


class _Refused(ValueError):
    pass


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_JSON_INT_DIGITS} accepted)")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} overflows to infinity")
    return value


def _parse_constant(name: str):
    raise _Refused(f"{name} (not valid JSON; expected a finite number)")


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _structure_problem(obj, max_depth: int) -> str | None:
    """Depth beyond ``max_depth`` or a lone surrogate in a string (iterative: no recursion on user data)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                return f"a string with a lone surrogate ({value[:20]!r}…)"
            continue
        if isinstance(value, (dict, list)):
            if depth > max_depth:
                return f"nesting deeper than {max_depth} levels"
            items = list(value.items()) if isinstance(value, dict) else value
            for item in items:
                if isinstance(value, dict):
                    stack.append((item[0], depth + 1))
                    stack.append((item[1], depth + 1))
                else:
                    stack.append((item, depth + 1))
    return None


def parse_json(text: str, *, file: str | Path | None = None, field: str | None = None,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text under the limits of the module docstring; :class:`UserError` (naming ``file`` and
    ``field``, e.g. a manifest line) on invalid JSON or any refused construct."""
    try:
        obj = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant,
                         object_pairs_hook=_pairs)
    except _Refused as exc:
        raise UserError(f"refused JSON: {exc}", file=file, field=field) from None
    except RecursionError:
        raise UserError(f"refused JSON: nesting deeper than {max_depth} levels", file=file, field=field) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", file=file,
                        field=field) from None
    except ValueError as exc:  # e.g. int() digit limits
        raise UserError(f"refused JSON ({exc})", file=file, field=field) from None
    problem = _structure_problem(obj, max_depth)
    if problem:
        raise UserError(f"refused JSON: {problem}", file=file, field=field)
    return obj


def read_json(path: str | Path, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH,
              links: str = "follow", root: str | Path | None = None, what: str = "JSON file") -> Any:
    """A regular UTF-8 JSON file of at most ``max_bytes`` bytes, parsed by :func:`parse_json`."""
    return parse_json(read_text(path, max_bytes=max_bytes, links=links, root=root, what=what), file=path,
                      max_depth=max_depth)


def read_json_object(path: str | Path, **kwargs) -> dict:
    """:func:`read_json` that also requires a JSON object at the top level."""
    obj = read_json(path, **kwargs)
    if not isinstance(obj, dict):
        raise UserError(f"holds a JSON {type(obj).__name__}; expected a JSON object", file=path)
    return obj


__all__ = ["LINK_POLICIES", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "MAX_JSON_INT_DIGITS", "MAX_TEXT_BYTES",
           "decode_utf8", "exists", "open_regular", "parse_json", "read_bytes", "read_json", "read_json_object", "read_text"]

"""File helpers shared by the toolkit and the reference models: content hashes, atomic writes of one file and
all-or-nothing writes of a folder.

An atomic write goes to a temporary file in the target's folder and is renamed over the target only once
complete, so an interrupted run leaves the previous file in place (DESIGN §8). A staged folder does the same
for a whole run's outputs: everything is written into a temporary folder beside the target and moved into
place only when the run succeeded. Written files get the usual permissions (``0o666`` minus the umask).
Failures to write (a folder where a file should go, a file where a folder should go, a full disk, no
permission) are one-line :class:`~m3t_bench.errors.UserError` s naming the path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from m3t_bench.errors import UserError


def sha256_file(path: str | Path, *, links: str = "follow", root: str | Path | None = None,
                max_bytes: int | None = None, what: str = "file") -> str:
    """Hex sha256 of a regular file's bytes (read in 1 MiB blocks; FIFOs and devices are refused; ``links``,
    ``root``: the symbolic-link policy of :mod:`m3t_bench.safe_read`; ``max_bytes``: refuse a larger file
    before reading it)."""
    from m3t_bench.safe_read import open_regular
    h = hashlib.sha256()
    with open_regular(path, links=links, root=root, max_bytes=max_bytes, what=what) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _os_error(path: Path, exc: OSError) -> UserError:
    return UserError(f"cannot write here ({exc.strerror or type(exc).__name__})", file=path)


def check_output_path(path: str | Path, *, what: str = "file") -> Path:
    """Fail early (before any work) when ``path`` cannot receive a new ``what`` (``"file"`` or ``"folder"``):
    it is a folder where a file is expected (or the reverse), or one of its parents is not a folder."""
    path = Path(path)
    if what == "file" and path.is_dir():
        raise UserError("is a folder; expected the path of a file to write", file=path)
    if what == "folder" and path.exists() and not path.is_dir():
        raise UserError("exists and is not a folder; expected a folder to write into", file=path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"cannot be created: {str(parent)!r} is not a folder", file=path)
            break
    return path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Create ``path``'s folder, call ``write(tmp)`` to fill a temporary file beside ``path``, then rename it
    over ``path``; on any error the temporary file is removed and ``path`` is left untouched."""
    return atomic_write_many({path: write})[0]


def atomic_write_many(writers: Mapping[str | Path, Callable[[Path], None]]) -> list[Path]:
    """:func:`atomic_write` for several files at once, all or nothing: every temporary file is written first,
    then all are renamed into place; when any write fails none of the targets changes."""
    paths = [check_output_path(p) for p in writers]
    if len({os.path.join(os.path.realpath(p.parent), p.name) for p in paths}) != len(paths):
        raise UserError("the same output path is given twice", file=paths[0])
    temps: list[Path] = []
    try:
        for path, write in zip(paths, writers.values()):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            except OSError as exc:
                raise _os_error(path, exc) from None
            os.close(fd)
            temps.append(Path(tmp))
            try:
                write(Path(tmp))
                os.chmod(tmp, 0o666 & ~_umask())
            except OSError as exc:
                raise _os_error(path, exc) from None
        for path, tmp in zip(paths, temps):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise _os_error(path, exc) from None
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    return paths


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` (``\\n`` line ends on every platform) to ``path`` atomically."""
    return atomic_write(path, text_writer(text))


def text_writer(text: str) -> Callable[[Path], None]:
    """A ``write(tmp)`` callable for :func:`atomic_write_many` that writes UTF-8 ``text``."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    return write


def replace_folder(new: str | Path, path: str | Path) -> None:
    """Rename folder ``new`` to ``path``. An existing ``path`` is set aside first and removed only once the new
    folder is in place (put back if the rename fails), so ``path`` is never left half-written."""
    new, path = Path(new), Path(path)
    if not path.exists():
        os.rename(new, path)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    os.rename(path, old / path.name)
    try:
        os.rename(new, path)
    except BaseException:
        os.rename(old / path.name, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(path: str | Path, *, replace: bool) -> Iterator[Path]:
    """Yield a new temporary folder beside ``path`` to write a run's outputs into; when the block ends
    without error move them into place, else remove the temporary folder and leave ``path`` as it was.

    ``replace=True``: ``path`` as a whole becomes the new folder (the old one is removed only after the new
    one is in place) — for folders the toolkit owns, such as a dataset split. ``replace=False``: the staged
    files are renamed into ``path`` one by one and other files there are kept — for a user's output folder.
    """
    path = check_output_path(path, what="folder")
    created = [p for p in path.parents if not p.exists()]  # folders this run creates (removed on failure)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        if replace or not path.exists():
            replace_folder(tmp, path)
        else:
            entries = sorted(tmp.iterdir())
            clashes = [e.name for e in entries if (path / e.name).is_dir()]
            if clashes:
                raise UserError(f"holds a folder named {clashes[0]!r} where a file is to be written", file=path)
            for entry in entries:
                os.replace(entry, path / entry.name)
            tmp.rmdir()
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _os_error(path, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

"""The m3t-bench command line: score sign language production systems, train and run the reference models.

Sub-commands are contributed by modules: every ``m3t_bench/<package>/commands.py`` and every entry point
in the ``m3t_bench.commands`` group (how ``baselines`` and ``reference_models`` plug in without
``m3t_bench`` importing them) exposes ``register(subparsers)``, which adds its parsers and sets
``func`` on them. A :class:`~m3t_bench.errors.UserError` becomes one line on stderr and exit code 2;
Ctrl-C becomes one line (``m3t-bench: interrupted``) and exit code 130, wherever it lands: while the
command line is built (imports) the process ends at once (nothing has been written yet); while a command
runs, the interruption unwinds it first, so temporary files are removed and outputs keep their previous
state. A closed standard output (``m3t-bench ... | head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import signal
import sys
import threading
from importlib.metadata import entry_points

import m3t_bench
from m3t_bench.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, UserError, one_line

INTERRUPTED_MESSAGE = "m3t-bench: interrupted\n"
EXIT_BROKEN_PIPE = 128 + 13


def _command_registrars():
    for info in sorted(pkgutil.iter_modules(m3t_bench.__path__), key=lambda i: i.name):
        if info.ispkg and importlib.util.find_spec(f"m3t_bench.{info.name}.commands") is not None:
            yield importlib.import_module(f"m3t_bench.{info.name}.commands").register
    for ep in sorted(entry_points(group="m3t_bench.commands"), key=lambda e: e.name):
        try:
            yield ep.load()
        except ModuleNotFoundError:  # a plug-in package that is not installed in this environment
            continue


class _Parser(argparse.ArgumentParser):
    """argparse that exits with the project's user-error code (2) and a one-line message."""

    def error(self, message: str):  # pragma: no cover - exercised through main()
        self.print_usage(sys.stderr)
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {one_line(message)}\n")


def plain_text(docstring: str) -> str:
    """The first line of a docstring without reStructuredText markup (````x````, ``:func:`x```` -> x), for
    ``--help``."""
    first = docstring.strip().splitlines()[0]
    return re.sub(r"(?::\w+:)?`{1,2}([^`]+)`{1,2}", r"\1", first)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="m3t-bench", description=plain_text(__doc__))
    parser.add_argument("--version", action="version", version=f"m3t-bench {m3t_bench.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for register in _command_registrars():
        register(sub)
    return parser


def _exit_interrupted(signum=None, frame=None):
    """SIGINT handler while nothing is being written: one line, exit 130 at once."""
    try:
        os.write(2, INTERRUPTED_MESSAGE.encode())
    finally:
        os._exit(EXIT_INTERRUPTED)


def _set_sigint(handler):
    """Install ``handler`` for SIGINT (main thread only); return the previous one (or None)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, handler)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that flushing a closed pipe at exit raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    previous = _set_sigint(_exit_interrupted)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USER_ERROR
        _set_sigint(signal.default_int_handler)
        try:
            return int(args.func(args) or 0)
        except UserError as exc:
            print(f"m3t-bench: error: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            _set_sigint(_exit_interrupted)
            sys.stderr.write(INTERRUPTED_MESSAGE)
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            _quiet_stdout()
            return EXIT_BROKEN_PIPE
    finally:
        if previous is not None:
            _set_sigint(previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The m3t-bench command line: score sign language production systems, train and run the reference models.

Sub-commands are contributed by modules: every ``m3t_bench/<package>/commands.py`` and every entry point
in the ``m3t_bench.commands`` group (how ``baselines`` and ``reference_models`` plug in without
``m3t_bench`` importing them) exposes ``register(subparsers)``, which adds its parsers and sets
``func`` on them. A :class:`~m3t_bench.errors.UserError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from importlib.metadata import entry_points

import m3t_bench
from m3t_bench.errors import EXIT_USER_ERROR, UserError


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
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"m3t-bench: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("m3t-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""User-facing errors.

A user mistake (a bad file, a wrong flag value) never ends in a traceback: code raises
:class:`UserError`, and the CLI prints its one-line message to stderr and exits with code 2.

One problem is one line: every part of a message (file name, field, detail) goes through
:func:`one_line`, which escapes newlines and every other non-printable character, so a file named
``"a\\nfake problem.npz"`` cannot forge a second problem line.
"""

from __future__ import annotations

from pathlib import Path

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: object) -> str:
    """``str(text)`` with every non-printable character (newlines, tabs, other control characters, line and
    paragraph separators, bidirectional overrides, ...) escaped as ``\\n``, ``\\xNN``, ``\\uNNNN``; printable
    text, including non-ASCII letters, is kept as is."""
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[ch])
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


class UserError(Exception):
    """A problem the user can fix, reported as ``<file>: <field>: <what was expected>`` on one line.

    ``file`` and ``field`` are optional; ``message`` says what is wrong and what was expected.
    """

    def __init__(self, message: str, *, file: str | Path | None = None, field: str | None = None):
        self.file = None if file is None else str(file)
        self.field = field
        self.detail = message
        super().__init__(self.format())

    def format(self) -> str:
        parts = [p for p in (self.file, self.field) if p]
        return ": ".join(one_line(p) for p in [*parts, self.detail])


class ValidationFailed(UserError):
    """Several problems found at once (e.g. by ``m3t-bench validate``); each is one line (escaped)."""

    def __init__(self, problems: list[str], *, file: str | Path | None = None):
        self.problems = [one_line(p) for p in problems]
        super().__init__("\n".join(self.problems) if file is None else
                         f"{len(self.problems)} problem(s)\n" + "\n".join(self.problems), file=file)

    def format(self) -> str:
        body = "\n".join(self.problems)
        return body if self.file is None else f"{one_line(self.file)}: {len(self.problems)} problem(s)\n{body}"


#: Most problems a message built with :func:`listed_problems` lists.
MAX_LISTED_PROBLEMS = 50


def listed_problems(problems: list[str], limit: int = MAX_LISTED_PROBLEMS) -> list[str]:
    """The first ``limit`` problems and a last line counting the others: a file of a million bad lines gives a
    readable message of bounded size, not a million lines."""
    if len(problems) <= limit:
        return problems
    return [*problems[:limit], f"... and {len(problems) - limit:,} more problem(s)"]


def unknown_name(what: str, name: str, known, *, field: str | None = None) -> UserError:
    """The error for a name missing from a registry: ``unknown <what> 'x'; did you mean a or b?`` (close
    matches by difflib), else the list of known names. ``field`` defaults to ``what``."""
    import difflib

    known = [str(k) for k in known]
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(sorted(known))}"
    return UserError(f"unknown {what} {name!r}; {hint}", field=field or what)

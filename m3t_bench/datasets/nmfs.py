"""NMFs-CSL class list: the user-supplied file naming each isolated-sign class and its confusing group.

The NMFs-CSL class list is licensed, so the project never ships it. Format (UTF-8, tab-separated, one
header line, one class per line)::

    class_id	gloss	group	confusing
    0	吃	g001	1
    1	咬	g001	1
    2	家	   	0

- ``class_id``: integers 0..N-1, each exactly once (the label stored in the manifests);
- ``gloss``: non-empty, unique;
- ``group``: the confusing group's name (empty for normal signs); every group has ≥ 2 members;
- ``confusing``: ``1`` for signs that share their manual part with the rest of their group and differ
  only in non-manual features, ``0`` for normal signs (which have no group).

SynthSign writes its own isolated-sign set's list in this format (``synthsign-nmfs/classes.tsv``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from m3t_bench.errors import UserError, ValidationFailed

COLUMNS = ("class_id", "gloss", "group", "confusing")


@dataclass(frozen=True)
class NmfsClass:
    """One class: integer label, gloss, confusing-group name (None for normal signs), confusing flag."""

    class_id: int
    gloss: str
    group: str | None
    confusing: bool


def class_list_problems(text: str, *, file: str | Path = "<class list>") -> tuple[list[NmfsClass], list[str]]:
    """Parse a class-list text; return ``(classes, problems)`` with every problem, one line each."""
    lines = text.splitlines()
    problems: list[str] = []
    if not lines or tuple(c.strip() for c in lines[0].split("\t")) != COLUMNS:
        return [], [f"{file}: line 1: header {lines[0] if lines else ''!r}, expected the tab-separated columns "
                    f"{' '.join(COLUMNS)}"]
    classes: list[NmfsClass] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(COLUMNS):
            problems.append(f"{file}: line {lineno}: {len(cells)} column(s), expected {len(COLUMNS)} (tab-separated)")
            continue
        cid, gloss, group, confusing = (c.strip() for c in cells)
        if not (cid.isascii() and cid.isdigit()) or len(cid) > 9:
            problems.append(f"{file}: line {lineno}: class_id {cid!r:.40}, expected a non-negative integer "
                            f"(at most 9 digits)")
            continue
        if not gloss:
            problems.append(f"{file}: line {lineno}: gloss: empty, expected the sign's gloss")
        if confusing not in ("0", "1"):
            problems.append(f"{file}: line {lineno}: confusing {confusing!r}, expected 0 or 1")
            continue
        if confusing == "1" and not group:
            problems.append(f"{file}: line {lineno}: group: empty for a confusing sign, expected its group name")
        if confusing == "0" and group:
            problems.append(f"{file}: line {lineno}: group {group!r} given for a normal sign, expected empty")
        classes.append(NmfsClass(int(cid), gloss, group or None, confusing == "1"))
    ids = sorted(c.class_id for c in classes)
    if ids != list(range(len(classes))):
        dupes = [i for i, n in Counter(ids).items() if n > 1]
        problems.append(f"{file}: class_id: expected each of 0..{len(classes) - 1} exactly once"
                        + (f"; duplicated: {dupes[:5]}" if dupes else "; some are missing"))
    dup_gloss = [g for g, n in Counter(c.gloss for c in classes).items() if n > 1 and g]
    if dup_gloss:
        problems.append(f"{file}: gloss: duplicated {dup_gloss[:5]}, expected unique glosses")
    small = [g for g, n in Counter(c.group for c in classes if c.group).items() if n < 2]
    if small:
        problems.append(f"{file}: group: {small[:5]} have a single member, expected at least 2 per group")
    if not classes:
        problems.append(f"{file}: no classes, expected at least one line after the header")
    return sorted(classes, key=lambda c: c.class_id), problems


def load_class_list(path: str | Path) -> list[NmfsClass]:
    """Read and validate a class-list file; raise :class:`ValidationFailed` listing every problem."""
    from m3t_bench.safe_read import read_text
    path = Path(path)
    if not path.is_file():
        raise UserError("class list not found (expected a TSV: class_id, gloss, group, confusing)", file=path)
    text = read_text(path, max_bytes=64 << 20, what="UTF-8 TSV class list")
    classes, problems = class_list_problems(text, file=path)
    if problems:
        raise ValidationFailed(problems)
    return classes


def format_class_list(classes: list[NmfsClass]) -> str:
    """The file text for ``classes`` (inverse of :func:`load_class_list`)."""
    rows = ["\t".join(COLUMNS)]
    rows += [f"{c.class_id}\t{c.gloss}\t{c.group or ''}\t{int(c.confusing)}" for c in sorted(classes, key=lambda c: c.class_id)]
    return "\n".join(rows) + "\n"

"""Back-translation inputs of the text metrics: the hypotheses of a split and what produced them.

The scoring engine takes :class:`BackTranslations` — one hypothesis per sample id and a ``source_id`` that
goes into the signature key ``bt`` — from any producer: :func:`read_hypotheses_file` reads the
``<sample_id>\\t<hypothesis>`` file of ``m3t-bench score --bt-hyps`` (source ``hyps-<sha256 prefix>`` of
the file), and a back-translation model can hand over its outputs with its own model id as the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from m3t_bench.errors import UserError, ValidationFailed
from m3t_bench.fileio import sha256_file

#: Hex digits of a hypotheses file's sha256 recorded in ``bt:hyps-<prefix>``.
HYPS_HASH_PREFIX = 12


@dataclass(frozen=True)
class BackTranslations:
    """``hyps``: sample id -> back-translated text (read-only); ``source_id``: the model or file that produced
    them (signature key ``bt``; no ``|``, ``:`` or newline)."""

    hyps: Mapping[str, str]
    source_id: str

    def __post_init__(self):
        object.__setattr__(self, "hyps", MappingProxyType(dict(self.hyps)))


def read_bt_hypotheses(path: str | Path, ids: list[str]) -> dict[str, str]:
    """Parse ``<sample_id>\\t<hypothesis>`` lines; every split id exactly once (all problems reported)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"unreadable ({type(exc).__name__}); expected UTF-8 lines '<sample_id>\\t<text>'",
                        file=path) from None
    hyps: dict[str, str] = {}
    problems = []
    wanted = set(ids)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        sample_id, tab, text = line.partition("\t")
        if not tab:
            problems.append(f"{path}: line {lineno}: no tab; expected '<sample_id>\\t<hypothesis>'")
        elif sample_id not in wanted:
            problems.append(f"{path}: line {lineno}: id {sample_id!r} is not in the split")
        elif sample_id in hyps:
            problems.append(f"{path}: line {lineno}: id {sample_id!r} appears twice; expected once")
        else:
            hyps[sample_id] = text.strip()
    problems += [f"{path}: {i}: missing hypothesis; expected one line per split id" for i in ids if i not in hyps]
    if problems:
        raise ValidationFailed(problems)
    return hyps


def check_back_translations(back_translations: BackTranslations, ids: list[str]) -> None:
    """:class:`ValidationFailed` naming every split id without a hypothesis and every id not in the split."""
    given, wanted = set(back_translations.hyps), set(ids)
    problems = [f"back-translations from {back_translations.source_id}: {i}: missing hypothesis; expected one per "
                f"split id" for i in ids if i not in given]
    problems += [f"back-translations from {back_translations.source_id}: {i}: not in the split"
                 for i in sorted(given - wanted)]
    if problems:
        raise ValidationFailed(problems)


def read_hypotheses_file(path: str | Path, ids: list[str]) -> BackTranslations:
    """The hypotheses of ``path`` (see :func:`read_bt_hypotheses`) with source ``hyps-<sha256 prefix>``."""
    hyps = read_bt_hypotheses(path, ids)
    return BackTranslations(hyps=hyps, source_id=f"hyps-{sha256_file(path)[:HYPS_HASH_PREFIX]}")

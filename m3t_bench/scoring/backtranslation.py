"""Back-translation inputs of the text metrics: the hypotheses of a split and what produced them.

The scoring engine takes :class:`BackTranslations` — one hypothesis per sample id and a ``source_id`` that
goes into the signature key ``bt`` — from any producer: :func:`read_hypotheses_file` reads the
``<sample_id>\\t<hypothesis>`` file of ``m3t-bench score --bt-hyps`` (source ``hyps-<sha256 prefix>`` of
the file), and a back-translation model can hand over its outputs with its own model id as the source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from m3t_bench.errors import ValidationFailed, listed_problems
from m3t_bench.safe_read import decode_utf8, read_bytes

#: Hex digits of a hypotheses file's sha256 recorded in ``bt:hyps-<prefix>``.
HYPS_HASH_PREFIX = 12
#: Largest hypotheses file read (a How2Sign test split's hypotheses take about 300 kB).
MAX_HYPOTHESES_BYTES = 64 << 20


@dataclass(frozen=True)
class BackTranslations:
    """``hyps``: sample id -> back-translated text (read-only); ``source_id``: the model or file that produced
    them (signature key ``bt``; no ``|``, ``:`` or newline)."""

    hyps: Mapping[str, str]
    source_id: str

    def __post_init__(self):
        object.__setattr__(self, "hyps", MappingProxyType(dict(self.hyps)))


def read_bt_hypotheses(path: str | Path, ids: list[str]) -> dict[str, str]:
    """Parse ``<sample_id>\\t<hypothesis>`` lines; every split id exactly once (problems reported, the first
    :data:`~m3t_bench.errors.MAX_LISTED_PROBLEMS` of them by line)."""
    return _parse_hypotheses(_read_hypotheses_bytes(Path(path)), Path(path), ids)


def _read_hypotheses_bytes(path: Path) -> bytes:
    return read_bytes(path, max_bytes=MAX_HYPOTHESES_BYTES, what="UTF-8 text of '<sample_id>\\t<hypothesis>' lines")


def _parse_hypotheses(data: bytes, path: Path, ids: list[str]) -> dict[str, str]:
    lines = decode_utf8(data, file=path, what="UTF-8 lines '<sample_id>\\t<hypothesis>'").splitlines()
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
            problems.append(f"{path}: line {lineno}: id {sample_id[:120]!r} is not in the split")
        elif sample_id in hyps:
            problems.append(f"{path}: line {lineno}: id {sample_id!r} appears twice; expected once")
        else:
            hyps[sample_id] = text.strip()
    problems += [f"{path}: {i}: missing hypothesis; expected one line per split id" for i in ids if i not in hyps]
    if problems:
        raise ValidationFailed(listed_problems(problems))
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
    path = Path(path)
    data = _read_hypotheses_bytes(path)  # read once: the hash is of the bytes parsed
    hyps = _parse_hypotheses(data, path, ids)
    return BackTranslations(hyps=hyps, source_id=f"hyps-{hashlib.sha256(data).hexdigest()[:HYPS_HASH_PREFIX]}")

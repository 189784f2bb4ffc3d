"""What every baseline shares: opening the splits, text tokens, writing a submission folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

from m3t_bench.errors import UserError
from m3t_bench.motion import MotionSequence, save_sample
from m3t_bench.fileio import atomic_write_text, staged_folder

_WORD_RE = re.compile(r"\w+", re.UNICODE)


def text_tokens(text: str, tokenization: str) -> list[str]:
    """Word tokens of ``text`` for retrieval / length prediction: ``jieba`` segments Chinese (punctuation and
    spaces dropped); every other setting lower-cases and keeps runs of word characters (umlauts kept)."""
    if tokenization == "jieba":
        import jieba
        jieba.setLogLevel(60)
        return [t for t in jieba.lcut(text) if _WORD_RE.search(t)]
    return _WORD_RE.findall(text.lower())


def write_submission(out_dir: str | Path, predictions: dict[str, MotionSequence], *, system: str,
                     paper: str | None = None, url: str | None = None, params: int | None = None) -> Path:
    """Write ``<id>.npz`` for every prediction plus ``meta.json`` into a fresh ``out_dir``; return it.

    Streams only (no ``joints``, no ``shape``): the scorer uses the reference shape for both sides. All or
    nothing: the new submission is written into a temporary folder that replaces ``out_dir`` (a previous
    submission) only when complete.
    """
    out_dir = Path(out_dir)
    if out_dir.is_dir():
        foreign = [p.name for p in out_dir.iterdir() if p.suffix != ".npz" and p.name != "meta.json"]
        if foreign:
            raise UserError(f"folder holds other files ({', '.join(sorted(foreign)[:3])}); expected a new or "
                            f"a previous submission folder", file=out_dir)
    with staged_folder(out_dir, replace=True) as tmp:
        for sample_id, seq in sorted(predictions.items()):
            save_sample(tmp / f"{sample_id}.npz", MotionSequence(**seq.streams()))
        meta = {"system": system, "paper": paper, "url": url, "params": params}
        atomic_write_text(tmp / "meta.json", json.dumps(meta, sort_keys=True, indent=2) + "\n")
    return out_dir

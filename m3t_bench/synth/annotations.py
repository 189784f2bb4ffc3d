"""Sentences and glosses from the real annotation files (read at run time, never copied).

Expected files under the annotation folder (the layout of ``../shared/data``):

- ``phoenix14t/PHOENIX-2014-T.{train,dev,test}.annotations.tsv`` (name, signer, num_frames, gloss, text)
- ``csl-daily/CSL_Daily.{train,dev,test}.tsv`` (name, gloss, text, video_path; signer = ``P....`` in the name)
- ``how2sign/How2Sign.train.tsv`` (name, gloss (empty), text, video_path) and
  ``how2sign/how2sign_realigned_{val,test}.csv`` (tab-separated, SENTENCE_NAME and SENTENCE columns)

How2Sign has no glosses: SynthSign derives *pseudo-glosses* from the text — lower-cased word tokens minus
English stop words, in sentence order (the M3T paper uses POS-tag-based pseudo-glosses after Sign2GPT;
this simpler rule needs no tagger). How2Sign rows carry no signer; a pseudo-signer is derived from the
video id. Sentences with more than ``max_glosses`` glosses are skipped so clips stay a few seconds long.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.safe_read import read_text

DATA_ENV = "M3T_DATA"
#: SynthSign split name -> each corpus's file split name.
SPLIT_FILES = {"phoenix14t": {"train": "train", "val": "dev", "test": "test"},
               "csl-daily": {"train": "train", "val": "dev", "test": "test"},
               "how2sign": {"train": "train", "val": "val", "test": "test"}}
CORPUS_OF_LANGUAGE = {"de": "phoenix14t", "zh": "csl-daily", "en": "how2sign"}
#: Function words dropped from How2Sign text when deriving pseudo-glosses.
STOP_WORDS = frozenset("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor of off on once
only or other our ours ourselves out over own same she should so some such than that the their theirs them themselves
then there these they this those through to too under until up very was we were what when where which while who whom
why will with would you your yours yourself yourselves s t don ll re ve m d o y also gonna going get got really
okay ok um uh""".split())
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class AnnotatedSentence:
    """One real annotation row: id (filename-safe), text, space-separated gloss, signer."""

    id: str
    text: str
    gloss: str
    signer: str
    question: bool


def default_annotation_root() -> Path | None:
    """``$M3T_DATA`` if set, else ``../shared/data`` next to the working directory's repository, if it exists."""
    candidates = [Path(os.environ[DATA_ENV])] if DATA_ENV in os.environ else []
    here = Path(__file__).resolve().parents[3]
    candidates += [here / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), None)


def pseudo_glosses(text: str) -> list[str]:
    """How2Sign pseudo-glosses: lower-cased word tokens minus stop words, apostrophe suffixes dropped."""
    words = [w.split("'")[0] for w in _WORD.findall(text.lower())]
    return [w for w in words if w and w not in STOP_WORDS]


def _read_table(path: Path) -> list[dict]:
    if not path.is_file():
        raise UserError("annotation file not found", file=path)
    text = read_text(path, what="UTF-8 annotation TSV")
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    except csv.Error as exc:
        raise UserError(f"not a readable TSV ({exc})", file=path) from None
    if not rows:
        raise UserError("annotation file has no rows", file=path)
    return rows


def _need(row: dict, key: str, path: Path) -> str:
    if row.get(key) is None:
        raise UserError(f"missing column {key!r}", file=path, field=key)
    return row[key].strip()


def _is_question(text: str) -> bool:
    return text.rstrip().endswith(("?", "？")) or text.rstrip("。？?！! ").endswith("吗")


def read_corpus_split(root: str | Path, corpus: str, split: str) -> list[AnnotatedSentence]:
    """All rows of one corpus split (``split`` in train/val/test, mapped to the corpus's file names)."""
    root = Path(root)
    fsplit = SPLIT_FILES[corpus][split]
    out: list[AnnotatedSentence] = []
    if corpus == "phoenix14t":
        path = root / "phoenix14t" / f"PHOENIX-2014-T.{fsplit}.annotations.tsv"
        for row in _read_table(path):
            name, text = _need(row, "name", path), _need(row, "text", path)
            out.append(AnnotatedSentence(name.split("/")[-1], text, _need(row, "gloss", path),
                                         _need(row, "signer", path), _is_question(text)))
    elif corpus == "csl-daily":
        path = root / "csl-daily" / f"CSL_Daily.{fsplit}.tsv"
        for row in _read_table(path):
            name, text = _need(row, "name", path), _need(row, "text", path)
            signer = next((p for p in name.split("_") if re.fullmatch(r"P\d+", p)), "unknown")
            out.append(AnnotatedSentence(name, text, " ".join(_need(row, "gloss", path).split()), signer,
                                         _is_question(text)))
    elif corpus == "how2sign":
        if fsplit == "train":
            path = root / "how2sign" / "How2Sign.train.tsv"
            rows = [(_need(r, "name", path).removesuffix(".mp4"), _need(r, "text", path)) for r in _read_table(path)]
        else:
            path = root / "how2sign" / f"how2sign_realigned_{fsplit}.csv"
            rows = [(_need(r, "SENTENCE_NAME", path), _need(r, "SENTENCE", path)) for r in _read_table(path)]
        for name, text in rows:
            video = name.rsplit("_", 1)[0]
            signer = f"h2s-{int(hashlib.sha256(video.encode()).hexdigest(), 16) % 11:02d}"
            out.append(AnnotatedSentence(name, text, " ".join(pseudo_glosses(text)), signer, _is_question(text)))
    else:
        raise ValueError(f"unknown corpus {corpus!r}")
    return out


def sample_sentences(root: str | Path, language: str, sizes: dict[str, int], rng: np.random.Generator, *,
                     max_glosses: int = 12) -> dict[str, list[AnnotatedSentence]]:
    """Deterministically sample ``sizes[split]`` rows per split of the corpus of ``language`` (rows with
    1..``max_glosses`` glosses, ids unique), in the order drawn."""
    corpus = CORPUS_OF_LANGUAGE[language]
    out = {}
    for split, n in sizes.items():
        rows = [r for r in read_corpus_split(root, corpus, split) if 1 <= len(r.gloss.split()) <= max_glosses]
        chosen, seen = [], set()
        for i in rng.permutation(len(rows)):
            if rows[i].id not in seen:
                seen.add(rows[i].id)
                chosen.append(rows[i])
            if len(chosen) == n:
                break
        out[split] = chosen
    return out

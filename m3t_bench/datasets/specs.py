"""The registry of versioned dataset specs (one place; frozen after import).

A spec says what a benchmark *is*: language, frame rate, split names, how its text is tokenised for
back-translation, and whether it is continuous (sentences) or isolated (class labels). A breaking change
to a dataset's content or conventions gets a new version (``name@2``), never a silent edit.

Split names follow each corpus (Phoenix14T and CSL-Daily say ``dev``; How2Sign and SynthSign say ``val``);
the other spelling is accepted as an alias everywhere a split is named.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from m3t_bench.errors import UserError, unknown_name

#: Dataset, split and language names: they become folder names and signature values.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_FPS = 1000.0


def check_name(value, what: str, *, file=None) -> str:
    """``value`` if it can name a dataset/split folder and sit in a signature (1–64 of ``A-Z a-z 0-9 . _ -``,
    starting with a letter or digit: no ``/``, ``..``, ``|``, ``:`` or spaces), else :class:`UserError`."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise UserError(f"{value!r:.80} cannot be a {what}; expected 1-64 characters of A-Z a-z 0-9 . _ - starting "
                        f"with a letter or digit", file=file, field=what)
    return value


def check_fps(value, *, file=None) -> float:
    """``value`` as a frame rate in (0, ``MAX_FPS``], else :class:`UserError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= MAX_FPS:
        raise UserError(f"{value!r:.40}; expected a frame rate in (0, {MAX_FPS:g}]", file=file, field="fps")
    return float(value)


@dataclass(frozen=True)
class DatasetSpec:
    """One versioned dataset declaration.

    ``text_tokenization`` names how back-translation metrics split its text: ``"13a"`` (sacrebleu's
    default, English), ``"none"`` (text already tokenised and lower-cased, Phoenix14T), ``"jieba"`` (Chinese
    word segmentation). ``gloss_kind`` is ``"gloss"`` (annotated glosses), ``"pseudo-gloss"`` (derived from
    the text) or ``"class"`` (isolated signs with integer labels). ``task``: ``"continuous"`` (sentences),
    ``"isolated"`` (one sign per sample) or ``"faces"`` (face-only clips, no signing).
    """

    name: str
    version: int
    language: str
    fps: float
    splits: tuple[str, ...]
    text_tokenization: str
    task: str = "continuous"
    gloss_kind: str = "gloss"
    split_aliases: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def id(self) -> str:
        """``name@version``, e.g. ``csl-daily@1`` (what signatures record)."""
        return f"{self.name}@{self.version}"

    def canonical_split(self, split: str) -> str:
        """The corpus's own name for ``split`` (``val`` -> ``dev`` for Phoenix14T); UserError if unknown."""
        split = self.split_aliases.get(split, split)
        if split not in self.splits:
            raise UserError(f"unknown split {split!r} for {self.id}; expected one of "
                            f"{', '.join(self.splits)}" + _aliases_note(self.split_aliases), field="split")
        return split

    def to_json(self) -> dict:
        """A plain-JSON description (stored in each split's ``dataset.json``)."""
        return {"name": self.name, "version": self.version, "language": self.language, "fps": self.fps,
                "splits": list(self.splits), "text_tokenization": self.text_tokenization, "task": self.task,
                "gloss_kind": self.gloss_kind, "split_aliases": dict(self.split_aliases)}

    @classmethod
    def from_json(cls, obj: dict, *, file=None) -> "DatasetSpec":
        """Rebuild a spec from :meth:`to_json` output (a converted dataset that is not registered)."""
        try:
            if not isinstance(obj, dict) or not isinstance(obj["splits"], list) \
                    or not isinstance(obj.get("split_aliases", {}), dict) \
                    or isinstance(obj["version"], bool) or not isinstance(obj["version"], int) or obj["version"] < 1:
                raise TypeError("types differ from the ones m3t-bench writes")
            aliases = {check_name(k, "split", file=file): check_name(v, "split", file=file)
                       for k, v in obj.get("split_aliases", {}).items()}
            return cls(name=check_name(obj["name"], "dataset name", file=file), version=obj["version"],
                       language=check_name(obj["language"], "language", file=file),
                       fps=check_fps(obj["fps"], file=file),
                       splits=tuple(check_name(x, "split", file=file) for x in obj["splits"]),
                       text_tokenization=str(obj["text_tokenization"]), task=str(obj.get("task", "continuous")),
                       gloss_kind=str(obj.get("gloss_kind", "gloss")), split_aliases=MappingProxyType(aliases))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"dataset spec is incomplete or malformed ({exc}); expected the fields written "
                            f"by m3t-bench", file=file, field="spec") from None


def _aliases_note(aliases: Mapping[str, str]) -> str:
    return "" if not aliases else " (aliases: " + ", ".join(f"{a}={b}" for a, b in aliases.items()) + ")"


_VAL_IS_DEV = MappingProxyType({"val": "dev"})
_DEV_IS_VAL = MappingProxyType({"dev": "val"})


def _synthsign_specs(version: int) -> tuple[DatasetSpec, ...]:
    note = " (first faces: lexicon format 1)" if version == 1 else ""
    return (
        DatasetSpec("synthsign-asl", version, "en", 24.0, ("train", "val", "test"), "13a", split_aliases=_DEV_IS_VAL,
                    description=f"SynthSign procedural corpus, English/ASL-like{note}"),
        DatasetSpec("synthsign-csl", version, "zh", 30.0, ("train", "val", "test"), "jieba", split_aliases=_DEV_IS_VAL,
                    description=f"SynthSign procedural corpus, Chinese/CSL-like{note}"),
        DatasetSpec("synthsign-dgs", version, "de", 25.0, ("train", "val", "test"), "none", split_aliases=_DEV_IS_VAL,
                    description=f"SynthSign procedural corpus, German/DGS-like{note}"),
        DatasetSpec("synthsign-nmfs", version, "zh", 30.0, ("train", "test"), "jieba", task="isolated",
                    gloss_kind="class", description=f"SynthSign isolated signs, NMFs-CSL-style confusing/normal{note}"),
    )


#: Frame rates. How2Sign 24 (SOKE resamples to 24), Phoenix14T 25 (the corpus), CSL-Daily 30: the
#: project's assumption (videos are commonly described as 30 fps; not verified against the corpus here).
_SPECS = (
    DatasetSpec("how2sign", 1, "en", 24.0, ("train", "val", "test"), "13a", gloss_kind="pseudo-gloss",
                split_aliases=_DEV_IS_VAL, description="How2Sign (ASL), English sentences; no glosses"),
    DatasetSpec("csl-daily", 1, "zh", 30.0, ("train", "dev", "test"), "jieba", split_aliases=_VAL_IS_DEV,
                description="CSL-Daily (Chinese Sign Language), Chinese text + gloss"),
    DatasetSpec("phoenix14t", 1, "de", 25.0, ("train", "dev", "test"), "none", split_aliases=_VAL_IS_DEV,
                description="RWTH-PHOENIX-Weather 2014 T (DGS), German text + gloss"),
    DatasetSpec("nmfs-csl", 1, "zh", 30.0, ("train", "test"), "jieba", task="isolated", gloss_kind="class",
                description="NMFs-CSL isolated signs: 610 confusing + 457 normal classes "
                            "(class list is user-supplied, see m3t_bench.datasets.nmfs)"),
    # @1: the first SynthSign faces (lexicon format 1); @2: faces with the statistics of real FLAME fits
    # (lexicon format 2). Same layout and conventions, new content.
    *(spec for version in (1, 2) for spec in _synthsign_specs(version)),
    DatasetSpec("synthsign-faces", 1, "en", 30.0, ("train", "val", "test"), "13a", task="faces",
                gloss_kind="class", split_aliases=_DEV_IS_VAL,
                description="SynthSign talking faces without hands (MEAD-like: 8 emotions x 3 intensities), "
                            "extra face-tokenizer training data"),
)

#: Registered specs by id (``name@version``); read-only.
DATASETS: Mapping[str, DatasetSpec] = MappingProxyType({s.id: s for s in _SPECS})
_LATEST: Mapping[str, DatasetSpec] = MappingProxyType(
    {s.name: max((t for t in _SPECS if t.name == s.name), key=lambda t: t.version) for s in _SPECS})


def get_spec(name: str) -> DatasetSpec:
    """The spec for ``name`` or ``name@version`` (no version: the latest); UserError with suggestions."""
    if name in DATASETS:
        return DATASETS[name]
    if name in _LATEST:
        return _LATEST[name]
    raise unknown_name("dataset", name, [*DATASETS, *_LATEST])


def is_registered(name: str) -> bool:
    """Whether ``name`` (with or without ``@version``) names a registered dataset."""
    return name in DATASETS or name in _LATEST


def list_specs() -> list[DatasetSpec]:
    """All registered specs, in registration order."""
    return list(_SPECS)

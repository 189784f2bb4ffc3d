"""The registry of versioned dataset specs (one place; frozen after import).

A spec says what a benchmark *is*: language, frame rate, split names, how its text is tokenised for
back-translation, and whether it is continuous (sentences) or isolated (class labels). A breaking change
to a dataset's content or conventions gets a new version (``name@2``), never a silent edit.

Split names follow each corpus (Phoenix14T and CSL-Daily say ``dev``; How2Sign and SynthSign say ``val``);
the other spelling is accepted as an alias everywhere a split is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from m3t_bench.errors import UserError, unknown_name


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
            return cls(name=str(obj["name"]), version=int(obj["version"]), language=str(obj["language"]),
                       fps=float(obj["fps"]), splits=tuple(obj["splits"]),
                       text_tokenization=str(obj["text_tokenization"]), task=str(obj.get("task", "continuous")),
                       gloss_kind=str(obj.get("gloss_kind", "gloss")),
                       split_aliases=MappingProxyType(dict(obj.get("split_aliases", {}))))
        except (KeyError, TypeError, ValueError) as exc:
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

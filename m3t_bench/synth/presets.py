"""SynthSign size presets."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from m3t_bench.errors import UserError


@dataclass(frozen=True)
class Preset:
    """Corpus size. ``n_signs``: built-in vocabulary size per language (None: all of it; with real
    annotations every distinct gloss becomes a sign instead). ``sentences``: per split (train, val, test).
    ``nmfs_groups``: sizes of the confusing groups of the isolated set; ``nmfs_normal``: normal classes;
    ``nmfs_signers``/``nmfs_test_signers``: signers in all / in the test split (signer-independent split);
    ``nmfs_repetitions``: samples per class and signer. ``face_speakers``: speakers of the face-only corpus
    per split (train, val, test); ``face_intensities``: emotion intensities recorded (neutral once);
    ``face_repetitions``: clips per speaker, emotion and intensity."""

    name: str
    n_signs: int | None
    sentences: tuple[int, int, int]
    signers: int
    nmfs_groups: tuple[int, ...]
    nmfs_normal: int
    nmfs_signers: int
    nmfs_test_signers: int
    nmfs_repetitions: int
    max_glosses: int = 12
    confusing_fraction: float = 0.15
    face_speakers: tuple[int, int, int] = (2, 1, 1)
    face_intensities: tuple[int, ...] = (2,)
    face_repetitions: int = 1

    @property
    def face_clips_per_speaker(self) -> int:
        """Clips per face-corpus speaker: neutral once, the other 7 emotions at each intensity."""
        return (1 + 7 * len(self.face_intensities)) * self.face_repetitions

    @property
    def nmfs_classes(self) -> int:
        return sum(self.nmfs_groups) + self.nmfs_normal


PRESETS = MappingProxyType({
    "tiny": Preset("tiny", 24, (16, 6, 6), 4, (2, 2), 2, 4, 1, 1, max_glosses=6),
    "small": Preset("small", None, (300, 60, 60), 8, (2,) * 6 + (3,) * 4, 16, 10, 2, 1,
                    face_speakers=(16, 2, 2), face_intensities=(1, 2, 3)),
    "full": Preset("full", None, (3000, 300, 300), 10, (2,) * 15 + (3,) * 10, 40, 10, 2, 3,
                   face_speakers=(40, 5, 5), face_intensities=(1, 2, 3), face_repetitions=2),
})


def get_preset(name: str) -> Preset:
    """The preset ``name`` (UserError listing the choices)."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}", field="preset")
    return PRESETS[name]

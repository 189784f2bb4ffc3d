"""The SynthSign lexicon: every gloss is a procedural sign with a manual and a non-manual part.

Manual part: hand shape of the dominant hand (optionally changing to a second shape), one- or two-handed
(``symmetric``: the other hand mirrors the dominant one; ``base``: the other hand holds a static shape
below it), a wrist location in the signing space, a movement path (hold, line, arc, circle, tap, twist,
wiggle, zigzag) with direction, amplitude and repetitions, a wrist orientation and a duration.

Non-manual part: a mouthing (a sequence of visemes: FLAME-expression targets plus jaw opening) or a
mouth gesture (a held non-speech mouth shape), a brow level (furrow < 0 < raise, along the lexicon's brow
direction), an eyelid squint and an optional head shake (negation). The face vocabulary is drawn in the
coordinates of a prior fitted to a real FLAME sequence (:mod:`m3t_bench.synth.faces`).

Lexicon formats: 1 = the first SynthSign faces (visemes on expression components 0-19, one brow direction
on 20-31, per-sign face tracks); 2 = faces with real FLAME statistics (:mod:`m3t_bench.synth.faces`).
Both load, and :func:`m3t_bench.synth.synthesize` renders each the way it was generated, so an old corpus
re-renders bit for bit.

*Confusing* groups (2–3 glosses) share one manual part exactly and differ only in the non-manual part,
as in NMFs-CSL; all other signs differ manually. A lexicon is saved as JSON and reloads exactly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.synth.faces import N_GESTURES, N_VISEMES, draw_vocabulary
from m3t_bench.synth.handshapes import HANDSHAPE_NAMES
from m3t_bench.synth.kinematics import LOCATIONS

MOVEMENTS = ("hold", "line", "arc", "circle", "tap", "twist", "wiggle", "zigzag")
TWO_HANDED = ("none", "symmetric", "base")
#: Format written by this version; formats it reads (see the module docstring).
LEXICON_FORMAT = 2
READABLE_FORMATS = (1, 2)


@dataclass(frozen=True)
class ManualPart:
    """What the hands and arms do (right-dominant convention; a left-dominant signer mirrors it)."""

    handshape: str
    handshape_end: str
    two_handed: str
    base_handshape: str
    location_name: str
    location: tuple[float, float, float]
    movement: str
    direction: tuple[float, float, float]
    amplitude: float
    repetitions: int
    wrist: tuple[float, float, float]
    duration: float

    def key(self) -> tuple:
        """The categorical description used to keep different signs manually different."""
        return (self.handshape, self.handshape_end, self.two_handed, self.location_name, self.movement)


@dataclass(frozen=True)
class NonManualPart:
    """What the face (and head) does: viseme indices of the mouthing, brow level in [-1, 1], eyelid squint
    in [0, 0.5], whether the head shakes, and a mouth gesture index (-1: none; format 2)."""

    visemes: tuple[int, ...]
    brow: float
    squint: float
    headshake: bool = False
    gesture: int = -1


@dataclass(frozen=True)
class Sign:
    """One lexicon entry. ``manual_id`` is shared by the members of a confusing group."""

    gloss: str
    manual_id: str
    group: str | None
    confusing: bool
    manual: ManualPart
    nonmanual: NonManualPart


@dataclass
class Lexicon:
    """Signs by gloss plus the face vocabulary: ``visemes (V, 100)`` expression offsets, ``viseme_jaw (V,)``
    jaw opening (rad) and ``brow_direction (100,)``; format 2 adds ``gestures (G, 100)``,
    ``question_direction (100,)`` and ``negation_direction (100,)``. ``format``: how it renders."""

    language: str
    seed: int
    signs: dict[str, Sign]
    visemes: np.ndarray
    viseme_jaw: np.ndarray
    brow_direction: np.ndarray
    meta: dict = field(default_factory=dict)
    gestures: np.ndarray | None = None
    question_direction: np.ndarray | None = None
    negation_direction: np.ndarray | None = None
    format: int = LEXICON_FORMAT

    def __contains__(self, gloss: str) -> bool:
        return gloss in self.signs

    def __len__(self) -> int:
        return len(self.signs)

    def __getitem__(self, gloss: str) -> Sign:
        if gloss not in self.signs:
            raise UserError(f"gloss {gloss!r} is not in the {self.language} lexicon ({len(self)} signs)",
                            field="gloss")
        return self.signs[gloss]

    def groups(self) -> dict[str, list[str]]:
        """Confusing groups: group id -> member glosses."""
        out: dict[str, list[str]] = {}
        for s in self.signs.values():
            if s.group is not None:
                out.setdefault(s.group, []).append(s.gloss)
        return out

    def to_json(self) -> dict:
        """Plain JSON (floats round-trip exactly)."""
        out = {"format": self.format, "language": self.language, "seed": self.seed, "meta": self.meta,
               "visemes": self.visemes.tolist(), "viseme_jaw": self.viseme_jaw.tolist(),
               "brow_direction": self.brow_direction.tolist(),
               "signs": [asdict(s) for s in self.signs.values()]}
        if self.format >= 2:
            out.update(gestures=self.gestures.tolist(), question_direction=self.question_direction.tolist(),
                       negation_direction=self.negation_direction.tolist())
        else:   # format 1 files have no gesture field
            for sign in out["signs"]:
                sign["nonmanual"].pop("gesture", None)
        return out

    @classmethod
    def from_json(cls, obj: dict, *, file=None) -> "Lexicon":
        """Inverse of :meth:`to_json` (UserError naming the file on malformed input or an unknown format)."""
        fmt = obj.get("format") if isinstance(obj, dict) else None
        if fmt not in READABLE_FORMATS:
            newer = isinstance(fmt, int) and fmt > LEXICON_FORMAT
            raise UserError(f"lexicon format {fmt!r}; this m3t-bench reads formats "
                            f"{', '.join(map(str, READABLE_FORMATS))}" + (" (the file is newer: upgrade m3t-bench)"
                                                                          if newer else ""), file=file, field="format")
        try:
            signs = {}
            for s in obj["signs"]:
                m, n = s["manual"], s["nonmanual"]
                manual = ManualPart(**{**m, "location": tuple(m["location"]), "direction": tuple(m["direction"]),
                                       "wrist": tuple(m["wrist"])})
                nonmanual = NonManualPart(**{**n, "visemes": tuple(n["visemes"])})
                signs[s["gloss"]] = Sign(s["gloss"], s["manual_id"], s["group"], bool(s["confusing"]), manual,
                                         nonmanual)
            extra = {} if fmt == 1 else {name: np.asarray(obj[name], dtype=np.float64) for name in
                                         ("gestures", "question_direction", "negation_direction")}
            return cls(language=obj["language"], seed=int(obj["seed"]), signs=signs,
                       visemes=np.asarray(obj["visemes"], dtype=np.float64),
                       viseme_jaw=np.asarray(obj["viseme_jaw"], dtype=np.float64),
                       brow_direction=np.asarray(obj["brow_direction"], dtype=np.float64), meta=obj.get("meta", {}),
                       format=fmt, **extra)
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"malformed lexicon ({type(exc).__name__}: {exc})", file=file) from None


# ----------------------------------------------------------------------------------------------- building

def _draw_manual(rng: np.random.Generator, used: set) -> ManualPart:
    for _ in range(64):
        shape = str(rng.choice(HANDSHAPE_NAMES))
        shape_end = str(rng.choice(HANDSHAPE_NAMES)) if rng.random() < 0.25 else shape
        two = str(rng.choice(TWO_HANDED, p=[0.55, 0.3, 0.15]))
        loc = str(rng.choice(list(LOCATIONS)))
        move = str(rng.choice(MOVEMENTS))
        if (shape, shape_end, two, loc, move) not in used:
            break
    used.add((shape, shape_end, two, loc, move))
    direction = rng.normal(0.0, 1.0, 3)
    direction /= np.linalg.norm(direction)
    amplitude = {"hold": 0.01, "twist": float(rng.uniform(0.3, 0.6)), "wiggle": float(rng.uniform(0.15, 0.25))}.get(
        move, float(rng.uniform(0.05, 0.12)))
    return ManualPart(
        handshape=shape, handshape_end=shape_end, two_handed=two,
        base_handshape=str(rng.choice(("B", "5", "S", "C"))) if two == "base" else shape,
        location_name=loc, location=tuple(float(v) for v in LOCATIONS[loc] + rng.normal(0.0, 0.015, 3)),
        movement=move, direction=tuple(float(v) for v in direction), amplitude=amplitude,
        repetitions=int(rng.integers(1, 3)),
        wrist=tuple(float(v) for v in rng.uniform([-1.0, -0.3, -0.5], [1.0, 0.3, 0.5])),
        duration=float(rng.uniform(0.35, 0.65)),
    )


def _draw_nonmanual(rng: np.random.Generator, *, forced: tuple | None = None, headshake: bool = False) -> NonManualPart:
    if forced is not None:
        visemes, brow, squint, gesture = forced
    else:
        kind = rng.random()     # mouthing 65%, mouth gesture 20%, neither 15%
        visemes = tuple(int(v) for v in rng.choice(N_VISEMES, int(rng.integers(1, 4)))) if kind < 0.65 else ()
        gesture = int(rng.integers(N_GESTURES)) if 0.65 <= kind < 0.85 else -1
        brow = float(rng.choice([-0.6, 0.0, 0.0, 0.7])) if rng.random() < 0.4 else 0.0
        squint = float(rng.choice([0.0, 0.3])) if rng.random() < 0.3 else 0.0
    return NonManualPart(visemes=visemes, brow=brow, squint=squint, headshake=headshake, gesture=gesture)


def _group_faces(rng: np.random.Generator, size: int) -> list[tuple]:
    """Non-manual parts for the members of a confusing group: distinct mouthings, brows and squints, and
    for some members a distinct mouth gesture on top."""
    first = rng.choice(N_VISEMES, size, replace=False)
    brows = rng.permutation([-0.8, 0.0, 0.9])[:size]
    squints = rng.permutation([0.0, 0.35, 0.15])[:size]
    gestures = rng.choice(N_GESTURES, size, replace=False)
    out = []
    for k in range(size):
        rest = tuple(int(v) for v in rng.choice(N_VISEMES, int(rng.integers(1, 3))))
        gesture = int(gestures[k]) if rng.random() < 0.4 else -1
        out.append(((int(first[k]), *rest), float(brows[k]), float(squints[k]), gesture))
    return out


def plan_groups(glosses: list[str], rng: np.random.Generator, *, fraction: float) -> list[list[str]]:
    """Pick disjoint confusing groups of 2–3 glosses covering about ``fraction`` of ``glosses``."""
    order = [glosses[i] for i in rng.permutation(len(glosses))]
    target = int(round(fraction * len(glosses)))
    groups, used = [], 0
    while used + 2 <= min(target, len(order)):
        size = 3 if (rng.random() < 0.4 and used + 3 <= min(target, len(order))) else 2
        groups.append(order[used:used + size])
        used += size
    return groups


def build_lexicon(glosses: list[str], language: str, rng: np.random.Generator, *,
                  groups: list[list[str]] | None = None, confusing_fraction: float = 0.15,
                  negation: tuple[str, ...] = (), seed: int = 0, meta: dict | None = None) -> Lexicon:
    """A lexicon with one sign per distinct gloss (order kept).

    ``groups`` fixes the confusing groups (default: :func:`plan_groups` with ``confusing_fraction``).
    Glosses in ``negation`` carry a head shake (never given to confusing signs).
    """
    glosses = list(dict.fromkeys(glosses))
    face = draw_vocabulary(rng)
    if groups is None:
        groups = plan_groups([g for g in glosses if g not in negation], rng, fraction=confusing_fraction)
    group_of = {g: (f"{language}-g{i:03d}", members) for i, members in enumerate(groups) for g in members}
    used: set = set()
    signs: dict[str, Sign] = {}
    shared: dict[str, tuple[ManualPart, list[tuple]]] = {}
    for idx, gloss in enumerate(glosses):
        if gloss in group_of:
            gid, members = group_of[gloss]
            if gid not in shared:
                shared[gid] = (_draw_manual(rng, used), _group_faces(rng, len(members)))
            manual, faces = shared[gid]
            signs[gloss] = Sign(gloss, gid, gid, True, manual,
                                _draw_nonmanual(rng, forced=faces[members.index(gloss)]))
        else:
            signs[gloss] = Sign(gloss, f"{language}-m{idx:05d}", None, False, _draw_manual(rng, used),
                                _draw_nonmanual(rng, headshake=gloss in negation))
    return Lexicon(language, seed, signs, face.visemes, face.viseme_jaw, face.brow_direction, meta=dict(meta or {}),
                   gestures=face.gestures, question_direction=face.question_direction,
                   negation_direction=face.negation_direction)


# ------------------------------------------------------------------------------------------------- files

_LEXICON_KEYS = {"synthsign-asl": "en", "synthsign-csl": "zh", "synthsign-dgs": "de", "synthsign-nmfs": "nmfs"}


def lexicon_path(directory: str | Path, language: str) -> Path:
    """``<dir>/<key>.json`` for a language code (``en``/``zh``/``de``), ``nmfs`` or a SynthSign dataset name."""
    key = _LEXICON_KEYS.get(language.split("@")[0], language)
    return Path(directory) / f"{key}.json"


def save_lexicon(lexicon: Lexicon, directory: str | Path, key: str | None = None) -> Path:
    """Write ``<dir>/<key or language>.json`` deterministically."""
    path = lexicon_path(directory, key or lexicon.language)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(lexicon.to_json(), ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_lexicon(directory: str | Path, language: str) -> Lexicon:
    """Reload a lexicon written by :func:`save_lexicon` (``language``: en/zh/de, nmfs, or a SynthSign name)."""
    path = lexicon_path(directory, language)
    if not path.is_file():
        raise UserError(f"no lexicon for {language!r} (expected {path.name}; SynthSign writes them to "
                        f"<out>/lexicon/)", file=path)
    from m3t_bench.safe_read import read_json
    return Lexicon.from_json(read_json(path, max_bytes=64 << 20), file=path)


from m3t_bench.synth.render import synthesize  # noqa: E402  (re-exported: the interface names it here)

__all__ = ["Lexicon", "ManualPart", "NonManualPart", "Sign", "build_lexicon", "load_lexicon", "plan_groups",
           "save_lexicon", "synthesize"]

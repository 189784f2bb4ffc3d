"""Keypoint layouts: which SMPL-FX point each keypoint of a detector's output stands for.

A layout is data (``maps/<name>.layout.json``, shared pieces in ``maps/templates.json``): ordered groups
of keypoints, each group a pose-format component name (``name``; OpenPose JSON key ``json_key``) and a body
``part`` (``body``, ``lhand``, ``rhand``, ``face``), each keypoint a point name and its *target*:

* a SMPL-FX point name of :mod:`m3t_bench.body.joint_sets` (chain joint, ``smplx`` landmark vertex,
  ``regressed:<joint>``, ``flame:<i>``);
* ``mediapipe-face:<i>``: MediaPipe face-mesh landmark ``i``, placed through the body model's face map
  (:mod:`m3t_bench.fitting.face_maps`);
* a list of ``[target, weight]`` pairs (a weighted sum, e.g. barycentric);
* ``null``: not modelled by SMPL-FX (legs, feet, head top); read but never fitted.

Group shorthands: ``"template": "hand-21"`` with ``"side"`` (and ``"first"`` to skip leading entries),
``"template": "ibug-68"`` (+ ``"extra"`` points), ``"template": "mediapipe-face"`` with ``"count"`` (names
``"0"``, ``"1"``, ...). ``array_sizes`` lists other accepted array widths (e.g. 543 = Holistic without iris).

Layouts: ``mediapipe-holistic`` (553), ``openpose`` (BODY_25 + face 70 + hands, 137), ``openpose-135``,
``coco-wholebody`` (133), ``pt50`` (the Progressive Transformers 50-joint upper body).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from m3t_bench.errors import UserError, unknown_name

PARTS = ("body", "lhand", "rhand", "face")
FACE_MAP_PREFIX = "mediapipe-face:"
LAYOUT_NAMES = ("mediapipe-holistic", "openpose", "openpose-135", "coco-wholebody", "pt50")
#: ``--format`` spellings -> layout name.
FORMAT_ALIASES = {"mediapipe": "mediapipe-holistic", "holistic": "mediapipe-holistic", "body25": "openpose",
                  "coco": "coco-wholebody", "progressive-transformers": "pt50"}


@dataclass(frozen=True)
class Keypoint:
    """One keypoint: its group's component and JSON key, its own name, body part and target pairs
    (``()`` when not modelled)."""

    component: str
    json_key: str
    name: str
    part: str
    target: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class KeypointLayout:
    """A named, ordered keypoint list (see the module docstring)."""

    name: str
    doc: str
    sources: tuple[str, ...]
    keypoints: tuple[Keypoint, ...]
    array_sizes: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keypoints)

    def index(self) -> dict[tuple[str, str], int]:
        """``(component, point name)`` -> keypoint index."""
        return {(k.component, k.name): i for i, k in enumerate(self.keypoints)}

    def array_columns(self, width: int) -> np.ndarray:
        """Keypoint index of each column of a ``(T, width, C)`` array in this layout's order (a width of
        ``array_sizes`` drops the tail of the named components); UserError for another width."""
        if width == len(self):
            return np.arange(len(self))
        shorter = self.array_sizes.get(str(width))
        if shorter is None:
            sizes = sorted({len(self), *map(int, self.array_sizes)})
            raise UserError(f"{width} keypoints per frame, expected {' or '.join(map(str, sizes))} for {self.name}",
                            field="keypoints")
        columns, seen = [], {}
        for i, k in enumerate(self.keypoints):
            seen[k.component] = seen.get(k.component, 0) + 1
            if k.component not in shorter or seen[k.component] <= shorter[k.component]:
                columns.append(i)
        return np.asarray(columns)


@dataclass(frozen=True)
class ResolvedLayout:
    """A layout bound to a body model's face map: the SMPL-FX ``point_names`` to evaluate, ``weights (K, P)``
    so that keypoints = weights @ points, ``mapped (K,)`` (False: no target), ``part (K,)`` index into
    ``PARTS``."""

    layout: KeypointLayout
    point_names: tuple[str, ...]
    weights: np.ndarray
    mapped: np.ndarray
    part: np.ndarray

    def part_mask(self, part: str) -> np.ndarray:
        return (self.part == PARTS.index(part)) & self.mapped


def _maps():
    return resources.files("m3t_bench.fitting") / "maps"


@lru_cache(maxsize=None)
def _templates() -> dict:
    return json.loads((_maps() / "templates.json").read_text(encoding="utf-8"))


def _target(raw) -> tuple[tuple[str, float], ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return ((raw, 1.0),)
    return tuple((str(name), float(weight)) for name, weight in raw)


def _group_points(group: dict) -> list[tuple[str, object]]:
    template = group.get("template")
    if template is None:
        return [(name, target) for name, target in group["points"]]
    if template == "mediapipe-face":
        return [(str(i), f"{FACE_MAP_PREFIX}{i}") for i in range(int(group["count"]))]
    targets = _templates()[template]["targets"][int(group.get("first", 0)):]
    targets = [t.replace("{side}", group.get("side", "")) for t in targets]
    names = group["names"]
    if len(names) != len(targets):
        raise ValueError(f"group {group['name']}: {len(names)} names for {len(targets)} template targets")
    return list(zip(names, targets)) + [(n, t) for n, t in group.get("extra", [])]


@lru_cache(maxsize=None)
def get_layout(name: str) -> KeypointLayout:
    """The layout called ``name`` (or a ``--format`` alias); UserError with suggestions otherwise."""
    name = FORMAT_ALIASES.get(name, name)
    if name not in LAYOUT_NAMES:
        raise unknown_name("keypoint format", name, [*LAYOUT_NAMES, *FORMAT_ALIASES], field="--format")
    data = json.loads((_maps() / f"{name}.layout.json").read_text(encoding="utf-8"))
    keypoints = []
    for group in data["groups"]:
        if group["part"] not in PARTS:
            raise ValueError(f"layout {name}: unknown part {group['part']!r}")
        for point, target in _group_points(group):
            keypoints.append(Keypoint(group["name"], group.get("json_key", group["name"]), str(point), group["part"],
                                      _target(target)))
    return KeypointLayout(name=data["name"], doc=data["doc"], sources=tuple(data["sources"]), keypoints=tuple(keypoints),
                          array_sizes=data.get("array_sizes", {}))


def resolve_layout(layout: KeypointLayout, face_map: dict | None) -> ResolvedLayout:
    """Bind ``layout`` to a face map (``None``: no face landmarks; every ``mediapipe-face:`` target and every
    face-part keypoint becomes unmapped)."""
    from m3t_bench.body.joint_sets import point_kind
    expanded: list[dict[str, float]] = []
    for k in layout.keypoints:
        combo: dict[str, float] = {}
        usable = bool(k.target) and (face_map is not None or k.part != "face")
        for name, weight in k.target if usable else ():
            if name.startswith(FACE_MAP_PREFIX):
                pairs = None if face_map is None else face_map["points"].get(name[len(FACE_MAP_PREFIX):])
                if not pairs:
                    usable = False
                    break
                for point, w in pairs:
                    combo[point] = combo.get(point, 0.0) + weight * w
            else:
                point_kind(name)
                combo[name] = combo.get(name, 0.0) + weight
        expanded.append(combo if usable else {})
    names = tuple(dict.fromkeys(p for combo in expanded for p in combo))
    column = {p: j for j, p in enumerate(names)}
    weights = np.zeros((len(layout), len(names)), dtype=np.float32)
    for i, combo in enumerate(expanded):
        for p, w in combo.items():
            weights[i, column[p]] = w
    mapped = np.array([bool(c) for c in expanded])
    part = np.array([PARTS.index(k.part) for k in layout.keypoints])
    return ResolvedLayout(layout, names, weights, mapped, part)

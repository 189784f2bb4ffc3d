"""The SMPL-X kinematic tree, derived from ``smplx``'s joint names.

The official model files store the tree as ``kintree_table``; the stand-in generator needs it without
those files, so it is derived here from the joint names by anatomical rules (a finger joint ``k`` hangs
from joint ``k-1`` of the same finger, the first from the wrist; the spine is a chain; collars hang
from spine3; jaw and eyes from the head; ...). The result equals the tree of the official SMPL-X files
(checked in the tests against the published parent list).
"""

from __future__ import annotations

import re

from m3t_bench.motion.layout import SMPLX_JOINT_NAMES

#: Parent of each non-finger joint; ``{side}`` is replaced by left/right.
_PARENT_RULES = {
    "left_hip": "pelvis", "right_hip": "pelvis", "spine1": "pelvis",
    "{side}_knee": "{side}_hip", "{side}_ankle": "{side}_knee", "{side}_foot": "{side}_ankle",
    "spine2": "spine1", "spine3": "spine2", "neck": "spine3", "{side}_collar": "spine3", "head": "neck",
    "{side}_shoulder": "{side}_collar", "{side}_elbow": "{side}_shoulder", "{side}_wrist": "{side}_elbow",
    "jaw": "head", "{side}_eye_smplhf": "head",
}
_FINGER = re.compile(r"^(left|right)_(thumb|index|middle|ring|pinky)([123])$")

#: Joints below the spine that SMPL-FX drops (held at identity; not part of the kinematic chain it runs).
LOWER_BODY_JOINT_NAMES: tuple[str, ...] = tuple(
    f"{side}_{part}" for part in ("hip", "knee", "ankle", "foot") for side in ("left", "right"))


def parent_name(name: str) -> str | None:
    """The parent joint's name of SMPL-X joint ``name`` (``None`` for the root, the pelvis)."""
    if name == "pelvis":
        return None
    finger = _FINGER.match(name)
    if finger:
        side, digit, k = finger.group(1), finger.group(2), int(finger.group(3))
        return f"{side}_wrist" if k == 1 else f"{side}_{digit}{k - 1}"
    for side in ("left", "right"):
        for child, parent in _PARENT_RULES.items():
            if child.format(side=side) == name:
                return parent.format(side=side)
    raise KeyError(f"no parent rule for SMPL-X joint {name!r}")


def smplx_parents() -> tuple[int, ...]:
    """Parent index of each of the 55 SMPL-X joints (``-1`` for the pelvis), in model-file order."""
    index = {n: i for i, n in enumerate(SMPLX_JOINT_NAMES)}
    parents = tuple(-1 if parent_name(n) is None else index[parent_name(n)] for n in SMPLX_JOINT_NAMES)
    assert all(p < i for i, p in enumerate(parents)), "SMPL-X joints are listed parents-first"
    return parents

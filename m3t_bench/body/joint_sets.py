"""Named evaluation point sets of SMPL-FX, built from names (``smplx`` joint names and its landmark
vertex names), never from index lists.

A point name is one of:

* a SMPL-X kinematic joint name (``smplx.joint_names.JOINT_NAMES[:55]``, e.g. ``left_wrist``): the
  posed joint from the kinematic chain;
* a ``smplx`` landmark vertex name (``nose``, ``left_eye``, ``right_ear``, ``left_thumb`` ... the
  fingertips; ``JOINT_NAMES[55:76]`` as ``smplx``'s ``VertexJointSelector`` maps them to
  ``smplx.vertex_ids['smplx']``): that posed mesh vertex;
* ``regressed:<joint>``: SMPL-X's ``J_regressor`` row of ``<joint>`` applied to the posed mesh (how
  SOKE's released hand regressor computes hand joints);
* ``flame:<i>``: FLAME vertex ``i`` (0 ... 5022) at its SMPL-X position (through the correspondence);
* ``vertex:<i>``: SMPL-FX mesh vertex ``i`` (0 ... 10994: SMPL-X's 10,475, then the 520 teeth).

A *region* set names the parameter streams that define it instead of listing points: its points are the
mesh vertices whose position depends on those streams, resolved against a body model's skinning weights,
pose correctives and blend shapes (``SMPLFX.joint_set(name)``); the tokenizer evaluation scores each
modality on its region.

=============  ======  =====================================================================  ========
set            points  content                                                                root
=============  ======  =====================================================================  ========
body           12      spine2, spine3, neck, head, collars, shoulders, elbows, wrists (the     spine2
                       body stream's joints); all scored
lhand / rhand  21      wrist, then thumb, index, middle, ring, pinky: joints 1-3 + fingertip   wrist
                       vertex each; all scored
face           5,024   head joint, then the 5,023 FLAME-region vertices; head not scored       head
soke-body      13      pelvis, neck, shoulders, elbows, wrists (kinematic), nose, eyes, ears   pelvis
                       (landmark vertices), as SOKE's released body metric; pelvis not scored
soke-lhand /   21      SOKE's hand layout: wrist + per finger 3 joints regressed from the      wrist
soke-rhand             posed mesh + fingertip vertex; all scored
region-body    region  vertices moved by the body stream (upper body, arms, hands, head)       --
region-hand    region  vertices moved by the lhand and rhand streams (both hands)              --
region-face    region  vertices moved by the face stream (expression, eyelids, jaw, teeth)     --
=============  ======  =====================================================================  ========
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from smplx.joint_names import JOINT_NAMES as _SMPLX_ALL_NAMES
from smplx.vertex_ids import vertex_ids as _VERTEX_IDS
from smplx.vertex_joint_selector import VertexJointSelector

from m3t_bench.body.assembly import N_TEETH
from m3t_bench.errors import UserError
from m3t_bench.motion.layout import BODY_JOINT_NAMES, SMPLX_JOINT_NAMES

FLAME_PREFIX, REGRESSED_PREFIX, VERTEX_PREFIX = "flame:", "regressed:", "vertex:"
N_FLAME_VERTICES = 5023
#: SMPL-FX mesh vertices: SMPL-X's topology, then the teeth.
N_SMPLX_VERTICES = 10_475
N_MESH_VERTICES = N_SMPLX_VERTICES + N_TEETH
HAND_FINGER_ORDER = ("thumb", "index", "middle", "ring", "pinky")


def _landmark_vertex_ids() -> dict[str, int]:
    """smplx's extra keypoint names (nose ... right_pinky) -> SMPL-X vertex id, in smplx's own order."""
    selector = VertexJointSelector(vertex_ids=_VERTEX_IDS["smplx"], use_hands=True, use_feet_keypoints=True)
    ids = selector.extra_joints_idxs.tolist()
    names = _SMPLX_ALL_NAMES[len(SMPLX_JOINT_NAMES):len(SMPLX_JOINT_NAMES) + len(ids)]
    return dict(zip(names, ids))


#: Landmark vertex name (``smplx.joint_names``) -> SMPL-X vertex id (``smplx.vertex_ids['smplx']``).
LANDMARK_VERTEX_IDS: Mapping[str, int] = MappingProxyType(_landmark_vertex_ids())


@dataclass(frozen=True)
class JointSet:
    """A named point set: ``points`` (names, see the module docstring), ``root`` (index into ``points``
    used for translation alignment), ``scored`` (indices whose errors are averaged and on which
    Procrustes is fitted) and a one-line ``doc``. A region set has no ``points`` here but the parameter
    ``streams`` whose moved vertices it holds (resolved per body model: root 0, every point scored)."""

    name: str
    points: tuple[str, ...]
    root: int
    scored: tuple[int, ...]
    doc: str
    streams: tuple[str, ...] = ()

    @property
    def is_region(self) -> bool:
        return bool(self.streams)


def _hand(side: str, regressed: bool) -> tuple[str, ...]:
    prefix = REGRESSED_PREFIX if regressed else ""
    out = [f"{prefix}{side}_wrist"]
    for finger in HAND_FINGER_ORDER:
        out += [f"{prefix}{side}_{finger}{k}" for k in (1, 2, 3)] + [f"{side}_{finger}"]
    return tuple(out)


def _all_scored(points: tuple[str, ...], skip: int | None = None) -> tuple[int, ...]:
    return tuple(i for i in range(len(points)) if i != skip)


def _build() -> dict[str, JointSet]:
    soke_body = ("pelvis", "neck", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                 "left_wrist", "right_wrist", "nose", "right_eye", "left_eye", "right_ear", "left_ear")
    face = ("head", *(f"{FLAME_PREFIX}{i}" for i in range(N_FLAME_VERTICES)))
    sets = [
        JointSet("body", BODY_JOINT_NAMES, 0, _all_scored(BODY_JOINT_NAMES),
                 "the 12 body-stream joints (spine2 ... right_wrist), spine2-aligned"),
        JointSet("face", face, 0, _all_scored(face, skip=0),
                 "the 5,023 FLAME-region vertices, aligned on the head joint (not scored)"),
        JointSet("soke-body", soke_body, 0, _all_scored(soke_body, skip=0),
                 "SOKE's body set: pelvis-aligned neck, arms and face landmarks"),
    ]
    for side, short in (("left", "l"), ("right", "r")):
        pts = _hand(side, regressed=False)
        sets.append(JointSet(f"{short}hand", pts, 0, _all_scored(pts),
                             f"{side} wrist + 3 kinematic joints and the tip vertex per finger, wrist-aligned"))
        pts = _hand(side, regressed=True)
        sets.append(JointSet(f"soke-{short}hand", pts, 0, _all_scored(pts),
                             f"SOKE's {side}-hand regressor: J_regressor joints on the posed mesh + tip vertices"))
    for modality, streams in (("body", ("body",)), ("hand", ("lhand", "rhand")), ("face", ("face",))):
        sets.append(JointSet(f"region-{modality}", (), 0, (), f"the mesh vertices the {' and '.join(streams)} "
                             f"stream{'s' if len(streams) > 1 else ''} move", streams=streams))
    for s in sets:
        for p in s.points:
            point_kind(p)  # every name resolves
    return {s.name: s for s in sets}


def point_kind(name: str) -> tuple[str, int]:
    """Resolve a point name to ``("joint", smplx joint index)``, ``("vertex", SMPL-FX vertex id)``,
    ``("regressed", smplx joint index)`` or ``("flame", FLAME vertex index)``; KeyError if unknown."""
    if name in SMPLX_JOINT_NAMES:
        return "joint", SMPLX_JOINT_NAMES.index(name)
    if name in LANDMARK_VERTEX_IDS:
        return "vertex", LANDMARK_VERTEX_IDS[name]
    if name.startswith(VERTEX_PREFIX) and name[len(VERTEX_PREFIX):].isdigit() \
            and int(name[len(VERTEX_PREFIX):]) < N_MESH_VERTICES:
        return "vertex", int(name[len(VERTEX_PREFIX):])
    if name.startswith(REGRESSED_PREFIX) and name[len(REGRESSED_PREFIX):] in SMPLX_JOINT_NAMES:
        return "regressed", SMPLX_JOINT_NAMES.index(name[len(REGRESSED_PREFIX):])
    if name.startswith(FLAME_PREFIX) and name[len(FLAME_PREFIX):].isdigit() \
            and int(name[len(FLAME_PREFIX):]) < N_FLAME_VERTICES:
        return "flame", int(name[len(FLAME_PREFIX):])
    raise KeyError(f"unknown SMPL-FX point name {name!r}")


#: The fixed registry of evaluation point sets (read-only).
JOINT_SETS: Mapping[str, JointSet] = MappingProxyType(_build())


def get_joint_set(name: str) -> JointSet:
    """The set called ``name`` as declared (a region set unresolved; see ``SMPLFX.joint_set``);
    :class:`~m3t_bench.errors.UserError` listing the known names otherwise."""
    if name not in JOINT_SETS:
        raise UserError(f"unknown joint set {name!r}; expected one of {', '.join(JOINT_SETS)}", field="joint_set")
    return JOINT_SETS[name]

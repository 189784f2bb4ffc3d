"""Gloss sequence -> SMPL-FX motion: the SynthSign renderer.

A sentence is rendered as rest → transition → sign₁ → transition → … → signₙ → transition → rest.
Each sign is a movement between two short holds; arm rotations come from wrist positions along the sign's
path (:mod:`m3t_bench.synth.kinematics`), finger and wrist rotations from its hand shapes. Transitions and
hand-shape changes interpolate along rotation geodesics with smoothstep easing (zero velocity at both ends),
expression coefficients with the same easing. With ``coarticulate`` the holds shrink and each transition
goes straight from one sign to the next; without it every sign starts and ends at a neutral home pose
(citation form).

The face depends on the lexicon's format: format 2 renders the whole sentence's face at once after the
manual part (:func:`m3t_bench.synth.faces.render_face`: co-articulated mouthing, blinks, background
dynamics with real FLAME statistics), from a generator derived from ``rng`` after every manual draw;
format 1 (earlier corpora) keeps its per-sign face tracks, so those corpora re-render bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.motion import MotionSequence, mirror_axis_angle
from m3t_bench.motion.layout import BODY_JOINT_NAMES, N_EXPRESSION
from m3t_bench.synth.faces import face_seed, render_face
from m3t_bench.synth.handshapes import handshape
from m3t_bench.synth.kinematics import IDLE_LOCATION, REST_LOCATION, mirror_point, solve_arm
from m3t_bench.synth.rotation_paths import aa_to_matrix, ease, geodesic_blend, matrix_to_aa, rotation_angle
from m3t_bench.synth.signers import Signer, make_signer

# Rotation slots of a track: 6 arm joints, 15 + 15 finger joints, jaw, head motion.
ARM_SLOTS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")
LHAND, RHAND, JAW, HEAD = slice(6, 21), slice(21, 36), 36, 37
N_SLOTS = 38
N_SCALARS = N_EXPRESSION + 2            # expression coefficients, two eyelids

HOLD_S = {True: 0.04, False: 0.12}        # per side of a sign, by coarticulate
REST_S = 0.3


@dataclass
class Track:
    """Rotations ``rot (n, 38, 3, 3)`` (slots above) and ``scalars (n, 102)`` (expression, eyelids)."""

    rot: np.ndarray
    scalars: np.ndarray

    def __len__(self) -> int:
        return self.rot.shape[0]


def _path(movement: str, u: np.ndarray, reps: int, direction: np.ndarray) -> np.ndarray:
    """Unit-amplitude wrist offsets ``(n, 3)`` along a movement at progress ``u (n,)`` in [0, 1]."""
    d = direction
    side = np.cross(d, [0.0, 0.0, 1.0])
    side = side / max(np.linalg.norm(side), 1e-6)
    phase = 2.0 * np.pi * reps * u
    if movement == "line":
        return (u - 0.5)[:, None] * d
    if movement == "arc":
        return (u - 0.5)[:, None] * d + (np.sin(np.pi * u) * 0.5)[:, None] * side
    if movement == "circle":
        return 0.5 * (np.cos(phase) - 1.0)[:, None] * d + 0.5 * np.sin(phase)[:, None] * side
    if movement == "tap":
        return -(np.sin(np.pi * reps * u) ** 2)[:, None] * np.array([0.0, 0.0, 0.5])
    if movement == "zigzag":
        return (u - 0.5)[:, None] * d + 0.25 * np.sin(phase * 1.5)[:, None] * side
    return np.zeros((u.shape[0], 3))   # hold, twist, wiggle: the wrist stays put


def _hand_rotations(side: str, fingers_aa: np.ndarray, wrist_aa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Place right-convention finger ``(n,15,3)`` and wrist ``(n,3)`` axis-angles on ``side``."""
    if side == "left":
        fingers_aa, wrist_aa = mirror_axis_angle(fingers_aa), mirror_axis_angle(wrist_aa)
    return aa_to_matrix(fingers_aa), aa_to_matrix(wrist_aa)


def _pose_track(dominant: str, dom: tuple, other: tuple, n: int) -> np.ndarray:
    """Rotation slots ``(n, 38, 3, 3)`` for the arms and hands; ``dom``/``other`` hold (wrist positions,
    wrist axis-angles, finger axis-angles or finger matrices) in the right-dominant frame."""
    rot = np.tile(np.eye(3), (n, N_SLOTS, 1, 1))
    placements = {"right": dom, "left": other} if dominant == "right" else \
        {"left": (mirror_point(dom[0]), *dom[1:]), "right": (mirror_point(other[0]), *other[1:])}
    for side, (pos, wrist_aa, fingers) in placements.items():
        sh, el = solve_arm(side, pos)
        if fingers.shape[-1] == 3 and fingers.ndim == 3:
            fingers_m, wrist_m = _hand_rotations(side, fingers, wrist_aa)
        else:   # finger matrices already (right convention): mirror by conjugation with diag(-1,1,1)
            mirror = np.diag([-1.0, 1.0, 1.0])
            fingers_m = mirror @ fingers @ mirror if side == "left" else fingers
            wrist_m = _hand_rotations(side, np.zeros((n, 15, 3)), wrist_aa)[1]
        rot[:, ARM_SLOTS.index(f"{side}_shoulder")] = sh
        rot[:, ARM_SLOTS.index(f"{side}_elbow")] = el
        rot[:, ARM_SLOTS.index(f"{side}_wrist")] = wrist_m
        rot[:, LHAND if side == "left" else RHAND] = fingers_m
    return rot


def _still(pos, n: int, shape: str = "relaxed") -> tuple:
    return (np.tile(np.asarray(pos, dtype=np.float64), (n, 1)), np.zeros((n, 3)), np.tile(handshape(shape), (n, 1, 1)))


def rest_track(n: int, *, home: bool = False) -> Track:
    """``n`` frames of the rest pose (hands lowered in the lap, relaxed, neutral face); ``home`` puts the
    hands a little higher, in front of the stomach (the citation-form start pose between signs)."""
    loc = IDLE_LOCATION if home else REST_LOCATION
    rot = _pose_track("right", _still(loc, n), _still(mirror_point(np.asarray(loc)), n), n)
    return Track(rot, np.zeros((n, N_SCALARS)))


def rest_sequence(scalars: np.ndarray, jaw: np.ndarray, signer: Signer, fps: float) -> MotionSequence:
    """A still body and hands in the rest pose with a given face: expression + eyelid scalars ``(n, 102)``
    and jaw opening ``(n,)`` rad (a face-only clip)."""
    track = rest_track(scalars.shape[0])
    track.scalars = np.asarray(scalars, dtype=np.float64)
    track.rot[:, JAW] = aa_to_matrix(np.stack([jaw, np.zeros_like(jaw), np.zeros_like(jaw)], axis=-1))
    return _to_sequence(track, signer, fps, False, question_brow=False)


def _envelope(n: int, edge: float) -> np.ndarray:
    """1 in the middle, smoothstep ramps over ``edge`` of the length at both ends, 0 at the ends."""
    s = np.linspace(0.0, 1.0, n)
    r = np.clip(np.minimum(s, 1.0 - s) / edge, 0.0, 1.0)
    return r * r * (3.0 - 2.0 * r)


def sign_track(lexicon, gloss: str, signer: Signer, fps: float, rng: np.random.Generator, *,
               coarticulate: bool = True) -> Track:
    """The frames of one sign (holds included) for ``signer`` at ``fps``.

    Draws from ``rng`` in a fixed order: handedness noise, location jitter, finger jitter, then (lexicon
    format 1 only) the face jitter; two signs with the same manual part and the same generator state get
    identical arm and hand rotations whatever their non-manual parts. Format 2 leaves the expression and
    eyelids at zero and the jaw closed (the sentence's face is rendered afterwards).
    """
    sign = lexicon[gloss]
    m, nm = sign.manual, sign.nonmanual
    cyclic = m.movement in ("circle", "tap", "twist", "wiggle", "zigzag")
    duration = m.duration * (1.0 + 0.6 * (m.repetitions - 1) * cyclic)
    n_move = max(4, int(round(duration / signer.speed * fps)))
    n_hold = max(1, int(round(HOLD_S[coarticulate] / signer.speed * fps)))
    u = np.concatenate([np.zeros(n_hold), ease(n_move, include_ends=True), np.ones(n_hold)])
    n = u.shape[0]
    dominant = signer.dominant
    if rng.random() < signer.swap_probability:
        dominant = "left" if dominant == "right" else "right"
    amp = m.amplitude * signer.amplitude
    loc = np.asarray(m.location) + np.asarray(signer.location_offset) + rng.normal(0.0, 0.004, 3)
    pos = loc + amp * _path(m.movement, u, m.repetitions, np.asarray(m.direction))
    wrist = np.tile(np.asarray(m.wrist), (n, 1))
    if m.movement == "twist":
        wrist[:, 0] += amp * np.sin(2.0 * np.pi * m.repetitions * u)
    jitter = rng.normal(0.0, 0.03, (15, 3))
    start = aa_to_matrix(handshape(m.handshape) + jitter)
    end = aa_to_matrix(handshape(m.handshape_end) + jitter)
    fingers = geodesic_blend(start, end, u) if m.handshape_end != m.handshape else np.tile(start, (n, 1, 1, 1))
    if m.movement == "wiggle":
        wiggle = np.zeros((n, 15, 3))
        for f in range(4):
            wiggle[:, 3 * f, 2] = amp * np.sin(2.0 * np.pi * (m.repetitions + 1) * u + f * np.pi / 2) * np.sin(np.pi * u)
        fingers = fingers @ aa_to_matrix(wiggle)
    dom = (pos, wrist, fingers)
    if m.two_handed == "symmetric":
        other = (mirror_point(pos), wrist, fingers)
    elif m.two_handed == "base":
        base = mirror_point(loc) * np.array([0.3, 1.0, 1.0]) + np.array([0.0, -0.07, 0.0])
        other = (np.tile(base, (n, 1)), np.tile([1.2, 0.0, 0.0], (n, 1)), np.tile(handshape(m.base_handshape), (n, 1, 1)))
    else:
        other = _still(mirror_point(np.asarray(IDLE_LOCATION)), n)
    rot = _pose_track(dominant, dom, other, n)
    if lexicon.format == 1:
        scalars, jaw, head = _face_v1(lexicon, nm, n, fps, rng)
    else:
        scalars, jaw, head = np.zeros((n, N_SCALARS)), np.zeros(n), _headshake(nm, n, fps)
    rot[:, JAW] = aa_to_matrix(np.stack([jaw, np.zeros(n), np.zeros(n)], axis=-1))
    rot[:, HEAD] = aa_to_matrix(np.stack([np.zeros(n), head, np.zeros(n)], axis=-1))
    return Track(rot, scalars)


def _headshake(nm, n: int, fps: float) -> np.ndarray:
    """Head-shake yaw ``(n,)`` rad of a sign (negation), zero otherwise."""
    if not nm.headshake:
        return np.zeros(n)
    return 0.18 * np.sin(2.0 * np.pi * 2.2 * np.arange(n) / fps) * _envelope(n, 0.25)


def _face_v1(lexicon, nm, n: int, fps: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lexicon format 1: expression+eyelid scalars ``(n, 102)``, jaw opening ``(n,)`` rad and head-shake
    yaw ``(n,)`` rad of one sign (visemes as raised-cosine bumps, a constant brow over the sign)."""
    s = np.linspace(0.0, 1.0, n)
    env = _envelope(n, 0.25)
    scalars = np.zeros((n, N_SCALARS))
    jaw = np.zeros(n)
    k_total = len(nm.visemes)
    for k, v in enumerate(nm.visemes):
        centre, width = 0.15 + 0.7 * (k + 0.5) / k_total, 0.7 / k_total
        bump = np.where(np.abs(s - centre) < width, 0.5 * (1.0 + np.cos(np.pi * (s - centre) / width)), 0.0)
        bump *= _envelope(n, 0.12)
        scalars[:, :N_EXPRESSION] += bump[:, None] * lexicon.visemes[v]
        jaw += bump * lexicon.viseme_jaw[v]
    scalars[:, :N_EXPRESSION] += (nm.brow * env)[:, None] * lexicon.brow_direction
    scalars[:, N_EXPRESSION:] += (nm.squint * env)[:, None] * np.array([1.0, 0.95])
    scalars[:, :N_EXPRESSION] += env[:, None] * rng.normal(0.0, 0.05, N_EXPRESSION)
    return scalars, jaw, _headshake(nm, n, fps)


def _transition(a: Track, b: Track, signer: Signer, fps: float, extra_s: float = 0.0) -> Track:
    """Eased geodesic frames strictly between ``a``'s last frame and ``b``'s first frame."""
    r0, r1 = a.rot[-1], b.rot[0]
    angle = float(rotation_angle(np.swapaxes(r0[:6], -1, -2) @ r1[:6]).max())
    n = max(3, int(round((0.12 + 0.16 * angle + extra_s) / signer.speed * fps)))
    w = ease(n)
    rot = geodesic_blend(r0, r1, w)
    scalars = a.scalars[-1] + w[:, None] * (b.scalars[0] - a.scalars[-1])
    return Track(rot, scalars)


def _to_sequence(track: Track, signer: Signer, fps: float, question: bool, *, question_brow: bool) -> MotionSequence:
    n = len(track)
    body = np.tile(np.eye(3), (n, len(BODY_JOINT_NAMES), 1, 1))
    idx = {name: i for i, name in enumerate(BODY_JOINT_NAMES)}
    for slot, name in enumerate(ARM_SLOTS):
        body[:, idx[name]] = track.rot[:, slot]
    body[:, idx["spine3"]] = aa_to_matrix(np.array([signer.lean, 0.0, 0.0]))
    head_aa = matrix_to_aa(track.rot[:, HEAD])
    tilt = np.zeros((n, 3))
    scalars = track.scalars.copy()
    if question:   # sentence-level non-manual: forward head tilt (and, format 1, brow raise) over the sentence
        env = _envelope(n, 0.15)
        tilt[:, 0] = 0.12 * env
        if question_brow:
            scalars[:, :N_EXPRESSION] += 0.8 * env[:, None] * np.abs(_QUESTION_BROW)
    body[:, idx["neck"]] = aa_to_matrix(0.35 * head_aa + 0.5 * tilt)
    body[:, idx["head"]] = aa_to_matrix(0.65 * head_aa + 0.5 * tilt)
    jaw6 = _rot6d(track.rot[:, JAW])
    face = np.concatenate([scalars, jaw6], axis=1)
    return MotionSequence(body=_rot6d(body).astype(np.float32), lhand=_rot6d(track.rot[:, LHAND]).astype(np.float32),
                          rhand=_rot6d(track.rot[:, RHAND]).astype(np.float32), face=face.astype(np.float32),
                          shape=signer.shape.astype(np.float32))


_QUESTION_BROW = np.zeros(N_EXPRESSION)
_QUESTION_BROW[[20, 23, 26]] = (0.9, 0.6, 0.4)


def _rot6d(m: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> 6D ``(..., 6)`` (first column, then second column)."""
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def _concat(tracks: list[Track]) -> Track:
    return Track(np.concatenate([t.rot for t in tracks]), np.concatenate([t.scalars for t in tracks]))


def synthesize(lexicon, glosses, *, signer: Signer | str, fps: float, coarticulate: bool = True,
               rng: np.random.Generator, question: bool = False, rest: bool = True) -> MotionSequence:
    """Render a gloss sequence as one SMPL-FX sample.

    ``glosses``: a sequence of lexicon glosses (or one space-separated string). ``signer``: a
    :class:`Signer` or a name (made with the lexicon's seed). Returns a :class:`MotionSequence` with
    ``body (T,12,6)``, ``lhand/rhand (T,15,6)``, ``face (T,108)`` float32 and ``shape (310,)``; ``meta``
    holds ``segments``: ``[start, end)`` frame ranges of each gloss's sign (holds included). ``rest``:
    start and end in the rest pose; ``question`` adds a sentence-level brow raise and head tilt.
    """
    if isinstance(glosses, str):
        glosses = glosses.split()
    glosses = list(glosses)
    if not glosses:
        raise UserError("empty gloss sequence; expected at least one gloss", field="gloss")
    unknown = [g for g in glosses if g not in lexicon]
    if unknown:
        raise UserError(f"{len(unknown)} gloss(es) not in the {lexicon.language} lexicon, first {unknown[0]!r}",
                        field="gloss")
    if isinstance(signer, str):
        signer = make_signer(signer, lexicon.seed)
    pieces: list[Track] = []
    segments: list[list[int]] = []
    frame = 0

    def add(t: Track) -> None:
        nonlocal frame
        pieces.append(t)
        frame += len(t)

    home = rest_track(max(1, int(round(0.1 * fps))), home=True)
    if rest:
        add(rest_track(max(1, int(round(REST_S * fps)))))
    for i, gloss in enumerate(glosses):
        sign = sign_track(lexicon, gloss, signer, fps, rng, coarticulate=coarticulate)
        if not coarticulate and (pieces or i > 0):
            add(_transition(pieces[-1], home, signer, fps))
            add(home)
        if pieces:
            add(_transition(pieces[-1], sign, signer, fps))
        segments.append([frame, frame + len(sign)])
        add(sign)
    if not coarticulate:
        add(_transition(pieces[-1], home, signer, fps))
        add(home)
    if rest:
        end = rest_track(max(1, int(round(REST_S * fps))))
        add(_transition(pieces[-1], end, signer, fps))
        add(end)
    track = _concat(pieces)
    if lexicon.format != 1:
        nonmanuals = [lexicon[g].nonmanual for g in glosses]
        track.scalars, jaw = render_face(lexicon, nonmanuals, segments, len(track), fps, signer.face,
                                         face_seed(rng, glosses), question=question)
        track.rot[:, JAW] = aa_to_matrix(np.stack([jaw, np.zeros_like(jaw), np.zeros_like(jaw)], axis=-1))
    seq = _to_sequence(track, signer, fps, question, question_brow=lexicon.format == 1)
    seq.meta = {"segments": segments, "signer": signer.name, "fps": fps}
    return seq

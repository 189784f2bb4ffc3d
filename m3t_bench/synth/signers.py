"""Per-signer variation for SynthSign: speed, movement amplitude, dominant hand, handedness noise,
posture, a per-signer shape vector and face traits (neutral face, expressiveness, blink rate)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from m3t_bench.motion.layout import N_BODY_SHAPE, N_HEAD_SHAPE
from m3t_bench.synth.faces import FaceTraits, draw_traits
from m3t_bench.synth.seeding import stream


@dataclass(frozen=True)
class Signer:
    """One signer's style. ``speed`` multiplies tempo (durations divide by it); ``amplitude`` scales
    movement paths; ``swap_probability`` is the chance that a sign is made with the non-dominant hand
    (handedness noise); ``location_offset`` (metres, body frame) shifts the signing space; ``lean`` (rad)
    bends spine3 forward; ``shape`` ``(310,)`` = 10 SMPL-X body + 300 FLAME head coefficients; ``face``: the
    signer's :class:`~m3t_bench.synth.faces.FaceTraits` (default: the population's mean face, average
    expressiveness; used by lexicon format 2)."""

    name: str
    dominant: str
    speed: float
    amplitude: float
    swap_probability: float
    location_offset: tuple[float, float, float]
    lean: float
    shape: np.ndarray
    face: FaceTraits = field(default_factory=FaceTraits)

    def __hash__(self):  # shape is an array; the name identifies the signer within a corpus
        return hash(self.name)


def make_signer(name: str, seed: int = 0) -> Signer:
    """The signer ``name`` of corpus seed ``seed`` (deterministic; about 1 in 8 is left-dominant). The face
    traits come from their own stream, so the other fields are those of earlier versions."""
    rng = stream(seed, "signer", name)
    body = np.clip(rng.normal(0.0, 0.7, N_BODY_SHAPE), -2.0, 2.0)
    head = np.clip(rng.normal(0.0, 1.0, N_HEAD_SHAPE) * 0.8 * np.exp(-np.arange(N_HEAD_SHAPE) / 60.0), -2.0, 2.0)
    return Signer(
        name=name,
        dominant="left" if rng.random() < 0.125 else "right",
        speed=float(rng.uniform(0.85, 1.2)),
        amplitude=float(rng.uniform(0.85, 1.15)),
        swap_probability=float(rng.uniform(0.0, 0.04)),
        location_offset=tuple(float(v) for v in rng.normal(0.0, 0.012, 3)),
        lean=float(rng.uniform(0.0, 0.08)),
        shape=np.concatenate([body, head]).astype(np.float32),
        face=draw_traits(stream(seed, "signer-face", name)),
    )

"""``synthsign-faces``: expressive talking-face clips without hands, in the role MEAD plays for M3T (the
paper trains its face tokenizer additionally on FLAME fits of MEAD, §4.1).

Like MEAD (8 emotions at 3 intensity levels, many speakers reading sentences), each clip is one speaker
saying a run of words — syllable-rate visemes (0.15–0.25 s each), 1–3 per word, short pauses — with an
emotion held over the clip at one of three intensities, and the speaker's blinks, background face
dynamics and tracker noise (:func:`m3t_bench.synth.faces.render_face`). The body and hands hold the rest
pose. Speakers are split by split (no speaker in two splits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from m3t_bench.motion import MotionSequence
from m3t_bench.synth.face_prior import FacePrior, default_prior
from m3t_bench.synth.faces import FaceVocabulary, N_VISEMES, band_weights, render_face
from m3t_bench.synth.lexicon import NonManualPart
from m3t_bench.synth.render import rest_sequence
from m3t_bench.synth.signers import Signer

EMOTIONS = ("neutral", "angry", "contempt", "disgusted", "fear", "happy", "sad", "surprised")
INTENSITIES = (1, 2, 3)
#: Latent standard deviation of an emotion's face at intensity 2 (whitened units; slow-band weighted).
EMOTION_SCALE = 1.0
SYLLABLE_S = (0.15, 0.25)
CLIP_S = (2.5, 4.5)


@dataclass(frozen=True)
class EmotionSet:
    """Expression offsets ``(8, 100)`` of the emotions at intensity 2 (neutral is zero)."""

    directions: np.ndarray

    def offset(self, emotion: str, intensity: int) -> np.ndarray:
        return self.directions[EMOTIONS.index(emotion)] * (0.5 * intensity)


def draw_emotions(rng: np.random.Generator, prior: FacePrior | None = None) -> EmotionSet:
    """One corpus's emotion faces, drawn on the prior's slow (non-speech) directions."""
    prior = prior or default_prior()
    _, brow_w = band_weights(prior)
    latent = rng.normal(0.0, 1.0, (len(EMOTIONS), prior.rank)) * EMOTION_SCALE * np.sqrt(brow_w)
    latent[0] = 0.0
    return EmotionSet(prior.to_coefficients(latent))


def _words(rng: np.random.Generator, seconds: float, fps: float) -> tuple[list[NonManualPart], list[list[int]]]:
    """Words (1-3 viseme syllables) and their frame ranges filling about ``seconds`` after a short lead-in."""
    parts, segments = [], []
    t = 0.3
    while t < seconds - 0.3:
        k = int(rng.integers(1, 4))
        length = float(sum(rng.uniform(*SYLLABLE_S, k)))
        visemes = tuple(int(v) for v in rng.integers(0, N_VISEMES, k))
        parts.append(NonManualPart(visemes=visemes, brow=0.0, squint=0.0))
        segments.append([int(round(t * fps)), int(round((t + length) * fps))])
        t += length + (float(rng.uniform(0.2, 0.5)) if rng.random() < 0.25 else 0.02)
    return parts, segments


def talking_face(vocabulary: FaceVocabulary, emotions: EmotionSet, emotion: str, intensity: int, speaker: Signer,
                 fps: float, rng: np.random.Generator) -> MotionSequence:
    """One clip: ``speaker`` talks with ``emotion`` at ``intensity`` (1-3); body and hands at rest.
    ``meta`` holds ``segments`` (frame range of each word)."""
    n = int(round(rng.uniform(*CLIP_S) * fps))
    words, segments = _words(rng, n / fps, fps)
    segments = [[s, min(e, n)] for s, e in segments if s < n]
    words = words[:len(segments)]
    scalars, jaw = render_face(vocabulary, words, segments, n, fps, speaker.face, rng,
                               affect=emotions.offset(emotion, intensity))
    seq = rest_sequence(scalars, jaw, speaker, fps)
    seq.meta = {"segments": segments, "signer": speaker.name, "fps": fps}
    return seq

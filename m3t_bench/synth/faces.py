"""SynthSign faces (lexicon format 2): the face stream of a sentence, built in the coordinates of a face
prior fitted to a real FLAME sequence (:mod:`m3t_bench.synth.face_prior`).

Every face vector below is drawn in the prior's whitened latent space (one unit = one real standard
deviation along a principal direction) and mapped to the 100 FLAME coefficients by the prior's basis, so
lexical faces inherit the real cross-component covariance. The expression stream of one sentence is

    mean + signer neutral + expressiveness * (mouthing + mouth gestures + brows + sentence non-manuals
    + background) + tracker noise

* **mouthing**: the sign's visemes, spread over its frames, blended into one co-articulated trajectory
  with Gaussian dominance functions (after Cohen & Massaro's co-articulation model, 1993): at each frame
  the mouth is the dominance-weighted mean of the nearby viseme targets and a weak neutral target. The
  jaw opening follows the same weights (jaw coupling), and each viseme's expression target moves along
  the real sequence's jaw-predicting direction in proportion to its jaw opening;
* **mouth gestures**: non-speech mouth shapes held over a sign (smooth on- and offset);
* **brows** (per sign, along the lexicon's brow direction), **questions** (sentence-long raise) and
  **negation** (furrow + mouth from the negation sign to the end of the clause);
* **background**: the prior's stationary latent processes, filling each direction's variance up to the
  real one (within signer) with the real autocorrelation;
* **eyelids**: squint per sign and blinks — a renewal process at the signer's rate (gamma intervals),
  fast closing (~70 ms) and slower opening (~170 ms); with probability 0.6 the blink nearest the
  sentence end moves onto it (blinks mark phrase boundaries in signing: Wilbur, "Eyeblinks & ASL phrase
  structure", 1994);
* **tracker noise**: additive AR(1) noise (50 ms correlation time) on every coefficient and eyelid.

Speech-band directions (high ``speech_fraction`` in the prior) carry the mouthing and gestures, slow
directions carry brows and non-manuals. On the real FLAME model these directions are meaningful; on the
stand-in body model (procedural expression basis) only their statistics are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from m3t_bench.motion.layout import N_EXPRESSION
from m3t_bench.synth.face_prior import FacePrior, default_prior

N_VISEMES = 12
N_GESTURES = 6
#: Latent standard deviation (whitened units) of viseme / gesture targets, of the per-sign brow direction
#: and of the sentence-level question and negation faces. Chosen with BACKGROUND_SHARE and DOMINANCE_SD_S
#: so that corpora match the real sequence's variance profile and autocorrelation (tests/test_synth_faces.py).
VISEME_SCALE = 1.2
BROW_SCALE = 0.6
SENTENCE_SCALE = 0.5
#: Share of each latent's variance left to the background process (the rest comes from lexical faces).
BACKGROUND_SHARE = 0.7
JAW_RANGE_RAD = (0.03, 0.3)
JAW_EXPRESSION_COUPLING = 0.8    # latent units along the jaw direction per standardised jaw opening
JAW_BACKGROUND_RAD = 0.03        # jaw opening sd from the background (along the jaw direction)
NEUTRAL_DOMINANCE = 0.05         # weight of the neutral mouth target in the co-articulation blend
DOMINANCE_SD_S = (0.03, 0.07)    # range of a viseme's dominance width (Gaussian sd, seconds)
BLINK_CLOSE_S, BLINK_OPEN_S = 0.07, 0.17
BOUNDARY_BLINK_PROBABILITY = 0.6
NOISE_TIME_S = 0.05
N_SCALARS = N_EXPRESSION + 2


@dataclass(frozen=True)
class FaceTraits:
    """One signer's face: ``neutral (100,)`` offset from the prior mean (coefficients), ``expressiveness``
    (scale of every movement), ``mouthing`` (extra scale of mouthings), ``blink_rate_per_min`` (0: none),
    ``jitter`` (tracker-noise standard deviation, coefficient units) and ``background`` (scale of the
    background dynamics; 0 gives the expected face of the signs alone, e.g. for an oracle)."""

    neutral: np.ndarray = field(default_factory=lambda: np.zeros(N_EXPRESSION))
    expressiveness: float = 1.0
    mouthing: float = 1.0
    blink_rate_per_min: float = 17.0
    jitter: float = 0.03
    background: float = 1.0

    def __hash__(self):
        return hash((self.expressiveness, self.mouthing, self.blink_rate_per_min, self.jitter, self.background))


def draw_traits(rng: np.random.Generator, prior: FacePrior | None = None) -> FaceTraits:
    """A signer's face traits. The neutral face varies between signers by half the within-signer
    standard deviation per direction (an assumption: one real speaker cannot measure it); blink rates
    between 12 and 26 per minute (adults: about 17 at rest, 26 in conversation, Bentivoglio et al. 1997)."""
    prior = prior or default_prior()
    return FaceTraits(neutral=prior.to_coefficients(rng.normal(0.0, 0.5, prior.rank)),
                      expressiveness=float(rng.uniform(0.8, 1.2)), mouthing=float(rng.uniform(0.7, 1.25)),
                      blink_rate_per_min=float(rng.uniform(12.0, 26.0)), jitter=float(rng.uniform(0.02, 0.05)))


@dataclass(frozen=True)
class FaceVocabulary:
    """A lexicon's face parts, as expression offsets ``(n, 100)`` (coefficient units): visemes with their
    jaw openings (rad), mouth gestures, and the brow, question and negation directions."""

    visemes: np.ndarray
    viseme_jaw: np.ndarray
    gestures: np.ndarray
    brow_direction: np.ndarray
    question_direction: np.ndarray
    negation_direction: np.ndarray


def band_weights(prior: FacePrior) -> tuple[np.ndarray, np.ndarray]:
    """Per-latent variance weights (mean 1) for mouth parts (speech band) and brow parts (the rest)."""
    speech = np.clip(prior.speech_fraction, 1e-3, None)
    slow = np.clip(1.0 - prior.speech_fraction, 1e-3, None)
    return speech / speech.mean(), slow / slow.mean()


def draw_vocabulary(rng: np.random.Generator, prior: FacePrior | None = None) -> FaceVocabulary:
    """Draw a lexicon's face vocabulary (see the module docstring)."""
    prior = prior or default_prior()
    mouth_w, brow_w = band_weights(prior)
    jaw = rng.uniform(*JAW_RANGE_RAD, N_VISEMES)
    visemes = rng.normal(0.0, 1.0, (N_VISEMES, prior.rank)) * VISEME_SCALE * np.sqrt(mouth_w)
    g = prior.jaw_direction
    standardised = (jaw - np.mean(JAW_RANGE_RAD)) / (np.ptp(JAW_RANGE_RAD) / np.sqrt(12.0))
    visemes += np.outer(JAW_EXPRESSION_COUPLING * standardised - visemes @ g, g)   # set the jaw component
    gestures = rng.normal(0.0, 1.0, (N_GESTURES, prior.rank)) * VISEME_SCALE * np.sqrt(mouth_w)
    brow, question, negation = rng.normal(0.0, 1.0, (3, prior.rank)) * np.sqrt(brow_w)
    question = SENTENCE_SCALE * (0.6 * brow + 0.8 * question)     # a question raises the brows (and more)
    negation = SENTENCE_SCALE * (-0.6 * brow + 0.8 * negation)    # negation furrows them
    brow = BROW_SCALE * brow
    return FaceVocabulary(visemes=prior.to_coefficients(visemes), viseme_jaw=jaw,
                          gestures=prior.to_coefficients(gestures), brow_direction=prior.to_coefficients(brow),
                          question_direction=prior.to_coefficients(question),
                          negation_direction=prior.to_coefficients(negation))


def _ramp_envelope(n: int, start: float, end: float, ramp: float) -> np.ndarray:
    """``(n,)`` weights: 1 on frames ``[start, end)``, smoothstep ramps of ``ramp`` frames outside, 0 beyond."""
    t = np.arange(n, dtype=np.float64)
    r = np.clip(np.minimum(t - (start - ramp), (end + ramp) - t) / max(ramp, 1e-9), 0.0, 1.0)
    return r * r * (3.0 - 2.0 * r)


def _blink_profile(t: np.ndarray, close: float, open_: float) -> np.ndarray:
    """Eyelid closure of one blink peaking at ``t = 0`` (seconds): raised-cosine close and open phases."""
    out = np.zeros_like(t)
    closing = (t > -close) & (t <= 0)
    opening = (t > 0) & (t < open_)
    out[closing] = 0.5 * (1.0 - np.cos(np.pi * (t[closing] + close) / close))
    out[opening] = 0.5 * (1.0 + np.cos(np.pi * t[opening] / open_))
    return out


def _blink_times(duration: float, rate_per_min: float, rng: np.random.Generator,
                 boundary: float | None) -> list[float]:
    """Blink peak times (s) in ``[0, duration)``: a stationary renewal process with gamma(2) intervals of
    mean ``60 / rate``; with probability 0.6 the blink nearest to ``boundary`` (within 1 s) moves onto it,
    so blinks gather at the sentence boundary without changing the rate."""
    if rate_per_min <= 0:
        return []
    mean_gap = 60.0 / rate_per_min
    times = []
    t = rng.gamma(2.0, mean_gap / 2.0) * rng.random()       # stationary start (forward recurrence)
    while t < duration:
        times.append(float(t))
        t += rng.gamma(2.0, mean_gap / 2.0)
    if boundary is not None and times and rng.random() < BOUNDARY_BLINK_PROBABILITY:
        nearest = int(np.argmin([abs(x - boundary) for x in times]))
        if abs(times[nearest] - boundary) < 1.0:
            times[nearest] = boundary
    return times


def _ar1_noise(n: int, dims: int, sd: float, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) noise ``(n, dims)`` with standard deviation ``sd`` and correlation time 50 ms."""
    rho = float(np.exp(-1.0 / (NOISE_TIME_S * fps)))
    eps = rng.standard_normal((n, dims))
    out = np.empty_like(eps)
    out[0] = eps[0]
    innovation = np.sqrt(1.0 - rho * rho)
    for t in range(1, n):
        out[t] = rho * out[t - 1] + innovation * eps[t]
    return sd * out


def face_seed(rng: np.random.Generator, glosses) -> np.random.Generator:
    """The face generator of a sentence: one draw from ``rng`` (taken after the manual part) mixed with the
    gloss sequence, so that signs sharing a manual part get different face noise."""
    words = np.frombuffer(hashlib.sha256("\x1f".join(glosses).encode("utf-8")).digest()[:8], dtype=np.uint32)
    return np.random.default_rng([int(rng.integers(0, 2**32)), *words.tolist()])


def render_face(vocabulary, nonmanuals, segments, n: int, fps: float, traits: FaceTraits,
                rng: np.random.Generator, *, question: bool = False, affect: np.ndarray | None = None,
                prior: FacePrior | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The face of one sentence: expression + eyelid scalars ``(n, 102)`` and jaw opening ``(n,)`` rad.

    ``vocabulary``: a :class:`FaceVocabulary` (or a lexicon with the same attributes); ``nonmanuals``: the
    signs' non-manual parts (``visemes``, ``gesture``, ``brow``, ``squint``, ``headshake``); ``segments``:
    their ``[start, end)`` frame ranges; ``affect (100,)``: an expression offset held over the whole clip
    (an emotion; 0.3 s ramps). Draws from ``rng`` in a fixed order.
    """
    prior = prior or default_prior()
    t = np.arange(n) / fps
    deltas = np.zeros((n, N_EXPRESSION))
    eyelids = np.zeros(n)
    # mouthing: co-articulated viseme trajectory and the jaw that goes with it
    centres, widths, targets, jaws = [], [], [], []
    for nm, (start, end) in zip(nonmanuals, segments):
        k_total = len(nm.visemes)
        for k, v in enumerate(nm.visemes):
            span = (end - start) / fps
            centres.append(start / fps + span * (0.15 + 0.7 * (k + 0.5) / k_total))
            widths.append(float(np.clip(0.45 * 0.7 * span / k_total, *DOMINANCE_SD_S)))
            targets.append(vocabulary.visemes[v])
            jaws.append(vocabulary.viseme_jaw[v])
    jaw = np.zeros(n)
    if centres:
        dominance = np.exp(-0.5 * ((t[:, None] - np.asarray(centres)) / np.asarray(widths)) ** 2)
        weights = dominance / (NEUTRAL_DOMINANCE + dominance.sum(axis=1, keepdims=True))
        deltas += traits.mouthing * (weights @ np.asarray(targets))
        jaw += weights @ np.asarray(jaws)
    ramp = 0.12 * fps
    for nm, (start, end) in zip(nonmanuals, segments):
        env = _ramp_envelope(n, start, end, ramp)
        if getattr(nm, "gesture", -1) >= 0:
            deltas += env[:, None] * vocabulary.gestures[nm.gesture]
        if nm.brow:
            deltas += (nm.brow * env)[:, None] * vocabulary.brow_direction
        eyelids += nm.squint * env
    if segments:
        first, last = segments[0][0], segments[-1][1]
        if question:
            deltas += _ramp_envelope(n, first - 0.1 * fps, last, 0.25 * fps)[:, None] * vocabulary.question_direction
        negated = [s for nm, (s, _) in zip(nonmanuals, segments) if nm.headshake]
        if negated:
            deltas += _ramp_envelope(n, min(negated), last, 0.2 * fps)[:, None] * vocabulary.negation_direction
    if affect is not None:
        deltas += _ramp_envelope(n, 0.3 * fps, n - 0.3 * fps, 0.3 * fps)[:, None] * affect
    # background: the prior's processes with the share of variance the lexical parts leave
    background = prior.sample_dynamics(n, fps, rng) * (np.sqrt(BACKGROUND_SHARE) * traits.background)
    deltas += prior.to_coefficients(background)
    jaw += JAW_BACKGROUND_RAD * (background @ prior.jaw_direction) / np.sqrt(BACKGROUND_SHARE)   # sd 0.03 rad x background
    # eyelids: blinks
    boundary = (segments[-1][1] / fps + 0.15) if segments else None
    for peak in _blink_times(n / fps, traits.blink_rate_per_min, rng, boundary):
        close = BLINK_CLOSE_S * rng.uniform(0.8, 1.2)
        open_ = BLINK_OPEN_S * rng.uniform(0.8, 1.3)
        eyelids = np.maximum(eyelids, rng.uniform(0.85, 1.0) * _blink_profile(t - peak, close, open_))
    scalars = np.zeros((n, N_SCALARS))
    scalars[:, :N_EXPRESSION] = prior.mean + traits.neutral + traits.expressiveness * deltas
    scalars[:, N_EXPRESSION:] = eyelids[:, None]
    scalars[:, :N_EXPRESSION] += _ar1_noise(n, N_EXPRESSION, traits.jitter, fps, rng)
    scalars[:, N_EXPRESSION:] += _ar1_noise(n, 2, 0.01, fps, rng)
    jaw = traits.expressiveness * jaw + _ar1_noise(n, 1, 0.003, fps, rng)[:, 0]
    jaw = 0.01 * np.logaddexp(0.0, jaw / 0.01)      # smooth clamp: the jaw does not close beyond rest
    return scalars, jaw

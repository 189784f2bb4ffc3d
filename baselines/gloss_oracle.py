"""Gloss-concatenation oracle (SynthSign only): perfect lexical knowledge, no co-articulation.

For each test sentence it reads the *reference gloss sequence* from the manifest (an oracle: a real system
would have to predict it) and synthesises it with SynthSign's own lexicon, one citation-form sign after the
other (``coarticulate=False``), with a neutral default signer (right-dominant, average speed and
amplitude, no handedness noise, mean shape, the population's mean face without background face dynamics,
blinks or tracker noise: the expected face of the signs). Its error measures what co-articulation, signer style and
timing alone cost a system that knows every sign exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.motion import MotionSequence

DESCRIPTION = "SynthSign reference glosses synthesised from the known lexicon without co-articulation"


def default_signer():
    """A neutral signer: right-dominant, speed and amplitude 1, no noise, no offset or lean, zero shape, mean
    face with no background dynamics, blinks or tracker noise."""
    from m3t_bench.synth.faces import FaceTraits
    from m3t_bench.synth.signers import Signer
    from m3t_bench.motion.layout import SHAPE_DIM
    return Signer(name="default", dominant="right", speed=1.0, amplitude=1.0, swap_probability=0.0,
                  location_offset=(0.0, 0.0, 0.0), lean=0.0, shape=np.zeros(SHAPE_DIM, dtype=np.float32),
                  face=FaceTraits(blink_rate_per_min=0.0, jitter=0.0, background=0.0))


def lexicon_dir_for(test) -> Path:
    """SynthSign writes ``<out>/<dataset>/<split>/`` and ``<out>/lexicon/``: the lexicon folder of a split."""
    return Path(test.root).resolve().parent.parent / "lexicon"


def predict(train, test, *, seed: int = 0, lexicon_dir: str | Path | None = None, **_) -> dict[str, MotionSequence]:
    """``{id: glosses synthesised without co-articulation}`` for every sample of a SynthSign ``test`` split."""
    if not test.spec.name.startswith("synthsign-") or test.spec.task != "continuous":
        raise UserError(f"the gloss-concatenation oracle needs a continuous SynthSign dataset (its lexicon is "
                        f"known); got {test.spec.id}", field="--dataset")
    from m3t_bench.synth.lexicon import load_lexicon, synthesize
    lexicon = load_lexicon(lexicon_dir or lexicon_dir_for(test), test.spec.name)
    signer = default_signer()
    out = {}
    for i, entry in enumerate(test.entries):
        glosses = entry["gloss"].split() if isinstance(entry["gloss"], str) else list(entry["gloss"])
        if not glosses:
            raise UserError(f"sample {entry['id']!r} has no glosses", file=Path(test.root) / "manifest.jsonl",
                            field="gloss")
        seq = synthesize(lexicon, glosses, signer=signer, fps=test.spec.fps, coarticulate=False,
                         rng=np.random.default_rng([seed, i]))
        out[entry["id"]] = MotionSequence(**seq.streams())
    return out

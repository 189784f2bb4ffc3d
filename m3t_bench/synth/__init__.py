"""SynthSign: the seeded procedural sign corpus that is the embedded default dataset (DESIGN §6)."""

from m3t_bench.synth.generate import generate
from m3t_bench.synth.lexicon import Lexicon, build_lexicon, load_lexicon
from m3t_bench.synth.presets import PRESETS, get_preset
from m3t_bench.synth.render import synthesize
from m3t_bench.synth.signers import Signer, make_signer
from m3t_bench.synth.summary import summarize

__all__ = ["PRESETS", "Lexicon", "Signer", "build_lexicon", "generate", "get_preset", "load_lexicon",
           "make_signer", "summarize", "synthesize"]

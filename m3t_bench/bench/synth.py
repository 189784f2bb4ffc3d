"""Generation speed of the SynthSign presets (absolute figures; there is no peer generator to compare with)."""

from __future__ import annotations

import tempfile
import time

from m3t_bench.synth import generate
from m3t_bench.synth.presets import get_preset


def run(quick: bool) -> list[str]:
    """Time ``generate`` for ``tiny`` (and ``small`` unless ``quick``); one line per preset."""
    lines = []
    for name in ("tiny",) if quick else ("tiny", "small"):
        p = get_preset(name)
        n = 3 * sum(p.sentences) + p.nmfs_classes * p.nmfs_signers * p.nmfs_repetitions
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate(tmp, preset=name, seed=0)
            dt = time.perf_counter() - start
        lines.append(f"synthsign {name:5}: {n} samples in {dt:.1f} s ({n / dt:.0f} samples/s, one process)")
    return lines

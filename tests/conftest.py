"""Shared fixtures. Real annotation data lives in ../shared/data (or $M3T_DATA); tests that need it skip
with a reason when it is absent. Generated assets (stand-in body model, SynthSign tiny) are built once per
session into a temporary folder through the same code a user runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("M3T_DATA", REPO.parent / "shared" / "data"))

settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def _private_reference_cache(tmp_path_factory):
    """Scoring from the command line caches reference points under $M3T_CACHE_DIR: a temporary folder here,
    never the user's cache directory."""
    before = os.environ.get("M3T_CACHE_DIR")
    os.environ["M3T_CACHE_DIR"] = str(tmp_path_factory.mktemp("reference-cache"))
    yield
    if before is None:
        os.environ.pop("M3T_CACHE_DIR", None)
    else:
        os.environ["M3T_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real annotation folder; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real annotation data not found at {SHARED_DATA} (set M3T_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def skeletons(shared_data) -> list:
    """The real Phoenix-2014T 3-D skeleton sequences (T, 50, 3) float32 (skips without the data)."""
    import numpy as np
    with np.load(shared_data / "skeletons" / "phoenix14t_3d_skels_50joints.npz", allow_pickle=False) as f:
        return [f[k].astype(np.float32) for k in sorted(f.keys())]


@pytest.fixture(scope="session")
def standin_dir(tmp_path_factory) -> Path:
    """A stand-in SMPL-X/FLAME/correspondence folder written by `m3t-bench assets standin`'s code."""
    from m3t_bench.body.standin import write_standin_assets
    return write_standin_assets(tmp_path_factory.mktemp("standin"))


@pytest.fixture(scope="session")
def smplfx(standin_dir):
    """The SMPL-FX model built from the stand-in files (CPU, float32)."""
    from m3t_bench.body import SMPLFX
    return SMPLFX.from_dir(standin_dir)


@pytest.fixture(scope="session")
def synth_tiny(tmp_path_factory) -> Path:
    """SynthSign `tiny` (seed 0) generated with the built-in vocabulary (no real annotations)."""
    from m3t_bench.synth import generate
    return generate(tmp_path_factory.mktemp("synth"), preset="tiny", seed=0, annotations=None)

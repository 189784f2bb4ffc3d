"""Active-window cropping of isolated signs against SynthSign's known sign segments (stand-in SMPL-FX)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from m3t_bench.synth import load_lexicon, make_signer, synthesize
from m3t_bench.synth.seeding import stream
from reference_models.m3t.slr_window import WindowConfig, active_window, crop, signing_window

FPS = 30.0


def _lead(body: np.ndarray) -> tuple[int, int]:
    """Frames at the start / end identical to the first / last frame: the rest pose the clip is padded with."""
    flat = body.reshape(len(body), -1)
    moved_from_first = np.flatnonzero((flat != flat[0]).any(axis=1))
    moved_from_last = np.flatnonzero((flat != flat[-1]).any(axis=1))
    return int(moved_from_first[0]), int(len(flat) - 1 - moved_from_last[-1])


@pytest.fixture(scope="module")
def isolated_signs(synth_tiny):
    """Every sign of the tiny zh lexicon, signed alone (rest pose before and after) by three signers."""
    lexicon = load_lexicon(synth_tiny / "lexicon", "zh")
    clips = []
    for signer in ("w-s00", "w-s01", "w-s02"):
        for gloss in lexicon.signs:
            seq = synthesize(lexicon, [gloss], signer=make_signer(signer, 0), fps=FPS,
                             rng=stream(0, "window-test", signer, gloss))
            clips.append(seq)
    return clips


@pytest.fixture(scope="module")
def windows(isolated_signs, smplfx):
    return [signing_window(smplfx, seq, FPS) for seq in isolated_signs]


def test_window_keeps_the_whole_sign_and_trims_the_rest_pose(isolated_signs, windows):
    margin = int(round(WindowConfig().margin_s * FPS))
    starts, ends = [], []
    for seq, (start, end) in zip(isolated_signs, windows):
        (seg_start, seg_end), = seq.meta["segments"]
        lead_in, lead_out = _lead(seq.body)
        assert start <= seg_start and end >= seg_end, (start, end, seg_start, seg_end)       # no sign frame lost
        assert start >= lead_in - margin and end <= seq.n_frames - lead_out + margin          # rest pose trimmed
        starts.append(seg_start - start)
        ends.append(end - seg_end)
    # within a few frames of the segment: about half of the approach / return transition plus the margin
    assert np.mean(starts) <= 6.5 and np.mean(ends) <= 6.5, (np.mean(starts), np.mean(ends))
    assert max(starts) <= 10 and max(ends) <= 10


def test_clip_already_trimmed_to_the_sign_is_mostly_kept_whole(isolated_signs, smplfx):
    kept = []
    for seq in isolated_signs:
        (seg_start, seg_end), = seq.meta["segments"]
        sign = crop(seq, seg_start, seg_end)
        start, end = signing_window(smplfx, sign, FPS)
        kept.append((end - start) / sign.n_frames)
    assert np.mean(np.asarray(kept) == 1.0) >= 0.9, kept


def test_still_or_disabled_clips_are_kept_whole(isolated_signs, smplfx):
    seq = isolated_signs[0]
    rest = crop(seq, 0, 3)
    assert signing_window(smplfx, rest, FPS) == (0, 3)
    assert signing_window(smplfx, seq, FPS, WindowConfig(enabled=False)) == (0, seq.n_frames)
    one = crop(seq, 20, 21)
    assert signing_window(smplfx, one, FPS) == (0, 1)


@given(st.integers(1, 40), st.integers(1, 2), st.integers(0, 2 ** 31 - 1), st.floats(0.0, 0.3))
def test_window_is_never_empty_and_inside_the_clip(t, hands, seed, scale):
    rng = np.random.default_rng(seed)
    wrists = np.cumsum(rng.normal(0.0, scale, (t, hands, 3)), axis=0) + np.array([0.0, -0.45, 0.2])
    start, end = active_window(wrists, np.zeros(t), FPS)
    assert 0 <= start < end <= t


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        active_window(np.zeros((0, 2, 3)), np.zeros(0), FPS)
    with pytest.raises(ValueError):
        active_window(np.zeros((5, 2, 3)), np.zeros(4), FPS)
    with pytest.raises(ValueError):
        WindowConfig(peak_fraction=1.5)


def test_crop_cuts_every_stream(isolated_signs):
    seq = isolated_signs[0]
    part = crop(seq, 5, 17)
    assert all(getattr(part, s).shape[0] == 12 for s in ("body", "lhand", "rhand", "face"))
    np.testing.assert_array_equal(part.face, seq.face[5:17])
    assert part.shape is seq.shape

"""Keypoints and tracker outputs -> SMPL-FX pseudo-GT (paper §3.1, appendix C)."""

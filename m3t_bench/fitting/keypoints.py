"""One clip of detected keypoints in a layout's order, as every reader returns it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.fitting.layouts import KeypointLayout
from m3t_bench.motion.limits import MAX_FRAMES

#: Largest keypoint coordinate used (pixels, or the 3D keypoints' unit); larger ones count as missing.
MAX_ABS_COORDINATE = 1e6
MAX_IMAGE_SIDE = 65536
MAX_FPS = 1000.0


def _usable(points: np.ndarray) -> np.ndarray:
    """``(..., C) -> (...)`` bool: every coordinate finite and within ``MAX_ABS_COORDINATE``."""
    with np.errstate(invalid="ignore"):
        return (np.abs(points) <= MAX_ABS_COORDINATE).all(-1)


@dataclass
class KeypointClip:
    """Detections of one clip in ``layout`` order.

    ``xy (T, K, 2)`` float32 pixels (x right, y down, origin at the image's top-left corner),
    ``confidence (T, K)`` float32 in [0, 1] (0 = missing), ``image_size`` ``(width, height)`` pixels,
    ``fps`` frames per second (``None`` when the source does not say), optional ``xyz (T, K, 3)`` 3D keypoints
    (any consistent unit and axes: fitted up to a per-clip similarity) with ``confidence_3d (T, K)``.
    ``source``: the file or folder read; ``sha256``: of its bytes (a folder: of its files' hashes).
    """

    clip_id: str
    layout: KeypointLayout
    xy: np.ndarray
    confidence: np.ndarray
    image_size: tuple[int, int] | None
    fps: float | None
    xyz: np.ndarray | None = None
    confidence_3d: np.ndarray | None = None
    source: str = ""
    sha256: str = ""

    @property
    def n_frames(self) -> int:
        return int(self.xy.shape[0])

    def checked(self) -> "KeypointClip":
        """Shapes and values checked (UserError naming the source); non-finite coordinates and coordinates
        beyond ``MAX_ABS_COORDINATE`` (no detector gives them; squared in the losses they would overflow) get
        confidence 0; at most ``MAX_FRAMES`` frames, an image of at most ``MAX_IMAGE_SIDE`` pixels a side and
        at most ``MAX_FPS`` frames per second."""
        t, k = self.confidence.shape if self.confidence.ndim == 2 else (-1, -1)
        if self.xy.shape != (t, k, 2) or k != len(self.layout) or t < 1:
            raise UserError(f"keypoints {self.xy.shape} / confidence {self.confidence.shape}, expected (T, "
                            f"{len(self.layout)}, 2) and (T, {len(self.layout)}) with T >= 1", file=self.source)
        if t > MAX_FRAMES:
            raise UserError(f"{t:,} frames; expected at most {MAX_FRAMES:,}", file=self.source)
        bad = ~_usable(self.xy) | ~np.isfinite(self.confidence)
        self.xy = np.where(bad[..., None], 0.0, self.xy).astype(np.float32)
        self.confidence = np.clip(np.where(bad, 0.0, self.confidence), 0.0, 1.0).astype(np.float32)
        if self.image_size is not None and (len(self.image_size) != 2
                                            or not all(1 <= v <= MAX_IMAGE_SIDE for v in self.image_size)):
            raise UserError(f"image size {self.image_size}, expected (width, height) of 1-{MAX_IMAGE_SIDE} pixels",
                            file=self.source)
        if self.fps is not None and not (np.isfinite(self.fps) and 0 < self.fps <= MAX_FPS):
            raise UserError(f"fps {self.fps}, expected a positive number up to {MAX_FPS}", file=self.source,
                            field="fps")
        if self.xyz is not None:
            if self.xyz.shape != (t, k, 3):
                raise UserError(f"3D keypoints {self.xyz.shape}, expected (T, {k}, 3)", file=self.source)
            c3 = np.ones((t, k), np.float32) if self.confidence_3d is None else self.confidence_3d
            bad3 = ~_usable(self.xyz) | ~np.isfinite(c3)
            self.xyz = np.where(bad3[..., None], 0.0, self.xyz).astype(np.float32)
            self.confidence_3d = np.clip(np.where(bad3, 0.0, c3), 0.0, 1.0).astype(np.float32)
        return self

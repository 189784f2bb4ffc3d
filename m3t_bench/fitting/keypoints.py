"""One clip of detected keypoints in a layout's order, as every reader returns it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from m3t_bench.errors import UserError
from m3t_bench.fitting.layouts import KeypointLayout

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
        """Shapes and values checked (UserError naming the source); non-finite coordinates get confidence 0."""
        t, k = self.confidence.shape if self.confidence.ndim == 2 else (-1, -1)
        if self.xy.shape != (t, k, 2) or k != len(self.layout) or t < 1:
            raise UserError(f"keypoints {self.xy.shape} / confidence {self.confidence.shape}, expected (T, "
                            f"{len(self.layout)}, 2) and (T, {len(self.layout)}) with T >= 1", file=self.source)
        bad = ~np.isfinite(self.xy).all(-1) | ~np.isfinite(self.confidence)
        self.xy = np.where(bad[..., None], 0.0, self.xy).astype(np.float32)
        self.confidence = np.clip(np.where(bad, 0.0, self.confidence), 0.0, 1.0).astype(np.float32)
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) <= 0):
            raise UserError(f"image size {self.image_size}, expected positive (width, height)", file=self.source)
        if self.fps is not None and not (np.isfinite(self.fps) and self.fps > 0):
            raise UserError(f"fps {self.fps}, expected a positive number", file=self.source, field="fps")
        if self.xyz is not None:
            if self.xyz.shape != (t, k, 3):
                raise UserError(f"3D keypoints {self.xyz.shape}, expected (T, {k}, 3)", file=self.source)
            c3 = np.ones((t, k), np.float32) if self.confidence_3d is None else self.confidence_3d
            bad3 = ~np.isfinite(self.xyz).all(-1) | ~np.isfinite(c3)
            self.xyz = np.where(bad3[..., None], 0.0, self.xyz).astype(np.float32)
            self.confidence_3d = np.clip(np.where(bad3, 0.0, c3), 0.0, 1.0).astype(np.float32)
        return self

"""Keypoints and tracker outputs -> SMPL-FX pseudo-GT (paper §3.1, appendix C).

Modules: :mod:`~m3t_bench.fitting.layouts` (keypoint layouts, data in ``maps/``), :mod:`~m3t_bench.fitting.face_maps`
(face-landmark maps per body model), :mod:`~m3t_bench.fitting.readers` (``.pose``, OpenPose JSON, arrays),
:mod:`~m3t_bench.fitting.init_params` (tracker starts), :mod:`~m3t_bench.fitting.camera`,
:mod:`~m3t_bench.fitting.losses`, :mod:`~m3t_bench.fitting.optimise` (``FitConfig``, ``fit_clip``),
:mod:`~m3t_bench.fitting.quality` and :mod:`~m3t_bench.fitting.overlay` (report), :mod:`~m3t_bench.fitting.pipeline`
(folder -> dataset split, resume, ``torchrun`` sharding), :mod:`~m3t_bench.fitting.synthetic` (round trips).

```python
from m3t_bench.body import SMPLFX
from m3t_bench.fitting.face_maps import load_face_map
from m3t_bench.fitting.layouts import get_layout, resolve_layout
from m3t_bench.fitting.optimise import FitConfig, fit_clip
from m3t_bench.fitting.readers import discover_clips, read_clip
model = SMPLFX.from_dir("body-models")
layout = resolve_layout(get_layout("mediapipe"), load_face_map(None, model))
clip = read_clip(discover_clips("poses/")[0], layout.layout)
result = fit_clip(model, layout, clip, FitConfig())     # result.sequence, .metrics, .camera, .converged
```
"""

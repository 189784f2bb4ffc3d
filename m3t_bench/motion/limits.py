"""Value ranges and sizes a sample must respect (the data contract's limits; README "Input limits").

Finite but absurd numbers are refused, not scored: they overflow float32 arithmetic (a 6D rotation scaled by
3e38 squares to infinity) or give metric values that mean nothing. The bounds are far outside what real fits
produce and far inside what float32 arithmetic survives:

- 6D rotation components (body, hands, jaw): ``|x| <= ROT6D_ABS_MAX``. Proper 6D rotations have components in
  [-1, 1]; un-normalised network outputs are accepted up to 1,000 (Gram–Schmidt is scale-invariant).
- FLAME expression and eyelid coefficients: ``|x| <= FACE_COEFF_ABS_MAX`` (20). The real BEAT2 FLAME fit in
  ``shared/data/flame-motion`` (1,906 frames, all 100 components moving) peaks at |6.07|; SynthSign stays
  within 2.6 (eyelids 0.35).
- Shape coefficients (10 SMPL-X body + 300 FLAME head, in standard deviations): ``|x| <= SHAPE_ABS_MAX`` (20);
  the BEAT2 fit's 300 betas peak at |2.52|.
- Joint positions (skeleton-only predictions): ``|x| <= JOINT_ABS_MAX_M`` metres (100).
- Axis-angle inputs of converters: rotation angle ``<= AXIS_ANGLE_MAX_RAD`` (4π, two full turns); the BEAT2
  fit's largest joint angle is 2.45 rad.
- Length: at most ``MAX_FRAMES`` frames per sample (about 55 minutes at 30 fps); a skeleton has at most
  ``MAX_JOINTS`` joints.
"""

from __future__ import annotations

import math

ROT6D_ABS_MAX = 1_000.0
FACE_COEFF_ABS_MAX = 20.0
SHAPE_ABS_MAX = 20.0
JOINT_ABS_MAX_M = 100.0
AXIS_ANGLE_MAX_RAD = 4 * math.pi
MAX_FRAMES = 100_000
MAX_JOINTS = 1_024

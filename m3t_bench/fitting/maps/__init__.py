"""Data files of the keypoint fitting: keypoint layouts (``*.layout.json``), shared point templates
(``templates.json``) and face-landmark maps (``mediapipe-face-*.json``). No code."""

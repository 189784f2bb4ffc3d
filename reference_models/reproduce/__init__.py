"""``make reproduce-m3t``: the whole M3T pipeline as declared stages, resumable, into one output folder.

- :mod:`.config`: the ``micro`` (CI), ``tiny`` (2-core CPU, SynthSign small) and ``full`` (paper, CUDA) settings.
- :mod:`.hashing`: stage keys (config + input digests) and folder digests.
- :mod:`.stages`: every stage as a function with declared inputs and outputs (the pipeline graph).
- :mod:`.runner`: skip / force / resume, a log file per stage, progress display, wall times.
- :mod:`.figures`, :mod:`.renders`, :mod:`.index`: token-frequency and training-curve figures, generated vs
  ground-truth renders, and the static ``index.html``.
"""

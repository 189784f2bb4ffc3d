"""Keypoint fitting: frames per second (CPU, or CUDA when present), recovery error against iterations and,
in the full run, the round trip per keypoint layout with the default settings.

Synthetic keypoints of a SynthSign sentence (1280x720 camera, 1 px noise, 20% dropped, start perturbed by
10° body / 15° hands / 0.5 expression like the round-trip tests; pt50 from noisy 3D keypoints) on the
stand-in model; no peer does this step, so the figures are absolute.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import torch


def _sentence(frames: int):
    from m3t_bench.synth import build_lexicon, make_signer, synthesize
    from m3t_bench.synth.grammar import builtin_words
    words = builtin_words("de")
    lexicon = build_lexicon(words, "de", np.random.default_rng(0))
    glosses, seq = [], None
    while seq is None or seq.n_frames < frames:
        glosses.append(words[len(glosses) % len(words)])
        seq = synthesize(lexicon, glosses, signer=make_signer("bench"), fps=25, rng=np.random.default_rng(1))
    return type(seq)(body=seq.body[:frames], lhand=seq.lhand[:frames], rhand=seq.rhand[:frames],
                     face=seq.face[:frames], shape=seq.shape)


HEADER = "  {:>24}  joints  PA-joints  hands(wrist-al.)  face(head-al.)  expression |err|  reproj px"


def _row(label: str, err: dict, px: float) -> str:
    return (f"  {label:>24}  {err['joints_mm']:6.1f}  {err['joints_pa_mm']:9.1f}  {err['hands_wrist_aligned_mm']:16.1f}"
            f"  {err['face_mm']:14.2f}  {err['expression_abs']:16.3f}  {px:9.2f}")


def _round_trip(model, resolved, truth, config, *, three_d: bool = False):
    """(errors of the perturbed start, errors of the fit, fit result) for one synthetic clip."""
    from m3t_bench.fitting.optimise import fit_clip
    from m3t_bench.fitting.synthetic import corrupt, perturb_init, recovery_errors, render_keypoints
    rng = np.random.default_rng(0)
    clip = render_keypoints(model, resolved, truth, with_3d=three_d)[0]
    if three_d:
        clip.confidence[:] = 0.0
    clip = corrupt(clip, rng, noise_px=1.0, drop=0.2, noise_3d=0.005)
    start = perturb_init(truth, rng)
    result = fit_clip(model, resolved, clip, config, init=start)
    return recovery_errors(model, truth, start.sequence), recovery_errors(model, truth, result.sequence), result


def run(quick: bool) -> list[str]:
    from m3t_bench.body import SMPLFX
    from m3t_bench.body.standin import write_standin_assets
    from m3t_bench.fitting.face_maps import load_face_map
    from m3t_bench.fitting.layouts import get_layout, resolve_layout
    from m3t_bench.fitting.optimise import FitConfig

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        model = SMPLFX.from_dir(write_standin_assets(tmp), device=device)
    resolved = resolve_layout(get_layout("mediapipe"), load_face_map(None, model))
    lines = [f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, stand-in model, "
             f"MediaPipe Holistic ({int(resolved.mapped.sum())} mapped keypoints)"]
    lengths = (60,) if quick else (60, 240)
    for frames in lengths:
        config, truth = FitConfig(iterations=100 if quick else 300), _sentence(frames)
        cpu = time.process_time()   # includes making the synthetic keypoints and scoring them (small)
        result = _round_trip(model, resolved, truth, config)[2]
        seconds, cpu = result.metrics["seconds"], time.process_time() - cpu
        steps = config.camera_iterations + config.iterations
        lines.append(f"  {frames:4d}-frame clip, {steps} Adam steps: {seconds:6.1f} s = {frames / seconds:6.2f} frames/s "
                     f"({1000 * seconds / steps:.0f} ms/step; {frames / cpu:.2f} frames per CPU-second), reprojection "
                     f"{result.metrics['reprojection_px']:.2f} px")
    truth = _sentence(40)
    lines.append("recovery error vs Adam iterations (MediaPipe Holistic, 40 frames; mm unless stated):")
    lines.append(HEADER.format("iterations"))
    for iterations in (50, 150) if quick else (50, 100, 200, 300, 600):
        before, after, result = _round_trip(model, resolved, truth, FitConfig(iterations=iterations))
        if iterations == 50:
            lines.append(_row("start", before, float("nan")))
        lines.append(_row(str(iterations), after, result.metrics["reprojection_px"]))
    if not quick:
        lines.append("round trip per layout, default settings (40 frames; pt50 from 3D keypoints):")
        lines.append(HEADER.format("layout"))
        face_map = load_face_map(None, model)
        for name in ("mediapipe-holistic", "openpose", "openpose-135", "coco-wholebody", "pt50"):
            before, after, result = _round_trip(model, resolve_layout(get_layout(name), face_map), truth, FitConfig(),
                                                three_d=name == "pt50")
            lines.append(_row(f"{name} start", before, result.metrics.get("reprojection_px_init", float("nan"))))
            lines.append(_row(f"{name} fit", after, result.metrics.get("reprojection_px", float("nan")))
                         + f"  ({result.metrics['seconds']:.1f} s)")
    return lines

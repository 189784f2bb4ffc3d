"""``python -m reference_models.bench [--quick]``: tokenizer throughput (encode + quantize + decode, frames/s)
of the ``tiny`` and ``full`` configs, per modality, on the CPU (and on CUDA when a GPU is visible, with a
full-config training-step throughput). Inference in ``torch.inference_mode``, float32, random weights (speed
does not depend on the weights)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import torch

from m3t_bench.cli import plain_text
from reference_models.m3t.config import FULL, TINY, TokenizerConfig
from reference_models.m3t.train import build_model, masked_mse
from reference_models.m3t.vae import MODALITY_CHANNELS, parameter_count


def _time(fn, iterations: int) -> float:
    """Seconds per call of ``fn`` (one warm-up call, then the mean over ``iterations``)."""
    fn()
    t0 = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - t0) / iterations


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def inference_fps(cfg: TokenizerConfig, modality: str, *, batch: int, frames: int, iterations: int,
                  device: torch.device) -> float:
    """Frames per second through ``reconstruct`` (encode, quantize, decode) of a ``(batch, frames, C)`` input."""
    model = build_model(modality, cfg, "fsq", seed=0).to(device).eval()
    x = torch.randn(batch, frames, MODALITY_CHANNELS[modality], device=device)

    def step():
        with torch.inference_mode():
            model.reconstruct(x)
        _sync(device)
    return batch * frames / _time(step, iterations)


def training_fps(cfg: TokenizerConfig, modality: str, *, iterations: int, device: torch.device) -> float:
    """Frames per second of full training steps (forward, L2 loss, backward, Adam) at the config's batch/window."""
    model = build_model(modality, cfg, "fsq", seed=0).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    x = torch.randn(cfg.batch_size, cfg.window, MODALITY_CHANNELS[modality], device=device)
    mask = torch.ones(cfg.batch_size, cfg.window, device=device)

    def step():
        recon, _, _ = model(x)
        loss = masked_mse(recon, x, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
    return cfg.batch_size * cfg.window / _time(step, iterations)


def run(quick: bool = False) -> list[str]:
    """Lines to print: one per (device, config, modality)."""
    lines = []
    cpu = torch.device("cpu")
    lines.append(f"tokenizer encode+quantize+decode, CPU ({torch.get_num_threads()} threads), float32:")
    for cfg, batch, frames, iters in ((TINY, 16, 256, 3 if quick else 10), (FULL, 1, 64, 1 if quick else 3)):
        with torch.device("meta"):
            count = parameter_count(build_model("body", cfg, "fsq", seed=0))
        for modality in ("body", "hand", "face"):
            fps = inference_fps(cfg, modality, batch=batch, frames=frames, iterations=iters, device=cpu)
            lines.append(f"  {cfg.name:4s} (W={cfg.width}, {count / 1e6:.1f}M params) {modality:4s}: "
                         f"{fps:12,.0f} frames/s  (batch {batch} x {frames} frames)")
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        name = torch.cuda.get_device_name(gpu)
        for modality in ("body", "face"):
            fps = inference_fps(FULL, modality, batch=16, frames=256, iterations=5, device=gpu)
            lines.append(f"  full {modality} on {name}: {fps:,.0f} frames/s inference")
            fps = training_fps(FULL, modality, iterations=5, device=gpu)
            lines.append(f"  full {modality} on {name}: {fps:,.0f} frames/s training "
                         f"(batch {FULL.batch_size} x {FULL.window} frames, Adam)")
    else:
        lines.append("  no CUDA GPU visible: GPU figures (full-config training-step throughput) not measured")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_models.bench", description=plain_text(__doc__))
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args(argv)
    print(f"# reference_models benchmarks — {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    for line in run(quick=args.quick):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

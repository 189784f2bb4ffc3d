"""``python -m reference_models.bench [--quick]``: tokenizer throughput (encode + quantize + decode, frames/s)
of the ``tiny`` and ``full`` configs, per modality, on the CPU (and on CUDA when a GPU is visible, with a
full-config training-step throughput); SMLM greedy decoding with vs without the KV cache (tokens/s and their
ratio) for the ``tiny`` and ``full`` configs on the CPU, the SMLM parameter counts, and on CUDA the ``full``
SMLM training throughput. Inference in ``torch.inference_mode``, float32, random weights (speed does not
depend on the weights)."""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np
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


#: Text rows of the ``full`` SMLM in the benches: about what pruning cc25 to the training texts leaves (SOKE's
#: pruned mBART; the paper's 396M parameters imply ~40k rows).
FULL_TEXT_ROWS = 40_000
MBART_CC25_ROWS = 250_027


def _smlm(cfg, n_text: int, device: torch.device, *, never_stop: bool = True):
    """A randomly initialised SMLM over ``n_text`` text rows and the reference codebook sizes; with
    ``never_stop`` the EOS classes can never win, so greedy decoding runs to its length limit."""
    from reference_models.m3t.fsq import MODALITY_LEVELS
    from reference_models.m3t.smlm import SignMotionLM
    from reference_models.m3t.smlm_vocab import Vocabulary
    sizes = {m: math.prod(levels) for m, levels in MODALITY_LEVELS.items()}
    torch.manual_seed(0)
    model = SignMotionLM(cfg, Vocabulary(n_text, sizes, ["de", "en", "zh"])).to(device).eval()
    if never_stop:
        with torch.no_grad():
            for stream, head in model.heads.items():
                head.bias[model.vocab.blocks[stream].codebook_size] = -1e9
    return model


def _decode_inputs(model, batch: int, text_len: int, device: torch.device):
    ids = torch.randint(4, model.vocab.n_text - 3, (batch, text_len), device=device)
    prompts = torch.tensor([model.vocab.prompt_ids("en")] * batch, device=device)
    return ids, torch.ones_like(ids), prompts


def decoding_tokens_per_s(model, *, batch: int, steps: int, use_cache: bool, device: torch.device,
                          text_len: int = 16) -> float:
    """Generated tokens (steps x batch) per second of :func:`greedy_decode`, all samples running ``steps``."""
    from reference_models.m3t.smlm_generate import greedy_decode
    ids, mask, prompts = _decode_inputs(model, batch, text_len, device)

    def run():
        with torch.inference_mode():
            greedy_decode(model, ids, mask, prompts, max_len=steps, use_cache=use_cache)
        _sync(device)
    t0 = time.perf_counter()
    run()
    return batch * steps / (time.perf_counter() - t0)


def uncached_tokens_per_s_from_prefixes(model, *, batch: int, steps: int, device: torch.device, samples: int = 5,
                                        text_len: int = 16) -> float:
    """Tokens/s of uncached greedy decoding over ``steps`` steps, from the measured time of one decoder pass
    (and heads) over the full prefix at ``samples`` prefix lengths between 2 and ``steps + 1``, linearly
    interpolated and summed over the steps (uncached step ``t`` re-runs the decoder on ``t + 2`` positions;
    used where running every step would take the bench hours)."""
    ids, mask, prompts = _decode_inputs(model, batch, text_len, device)
    with torch.inference_mode():
        t0 = time.perf_counter()
        encoded = model.encode_text(ids, mask)
        encode_s = time.perf_counter() - t0
        lengths = np.linspace(2, steps + 1, samples).round().astype(int)
        seconds = []
        for length in lengths:
            prefix = torch.cat([prompts[:, None], torch.randint(model.vocab.n_text, model.vocab.blocks["body"].end,
                                                                (batch, int(length) - 1, 4), device=device)], 1)
            t0 = time.perf_counter()
            model.motion_logits(model.decode(encoded, mask, motion_ids=prefix)[:, -1])
            _sync(device)
            seconds.append(time.perf_counter() - t0)
    total = encode_s + float(np.interp(np.arange(2, steps + 2), lengths, seconds).sum())
    return batch * steps / total


def smlm_lines(quick: bool = False) -> list[str]:
    """SMLM parameter counts, greedy decoding with vs without KV cache on the CPU, CUDA training throughput."""
    from reference_models.m3t.smlm import FULL, TINY
    from reference_models.m3t.smlm_train import PAPER_PARAMETERS
    lines = []
    with torch.device("meta"):
        for rows, what in ((MBART_CC25_ROWS, "cc25's full vocabulary"), (FULL_TEXT_ROWS, "a pruned vocabulary")):
            count = parameter_count(_smlm(FULL, rows, torch.device("meta"), never_stop=False))
            lines.append(f"SMLM full with {what} ({rows:,} text rows): {count / 1e6:,.1f}M parameters "
                         f"(paper D.2: {PAPER_PARAMETERS / 1e6:.0f}M)")
    cpu = torch.device("cpu")
    batch, steps = 8, (50 if quick else 200)
    lines.append(f"SMLM greedy decoding, CPU ({torch.get_num_threads()} threads), batch {batch}, {steps} steps, float32:")
    tiny = _smlm(TINY, 1_000, cpu)
    cached = decoding_tokens_per_s(tiny, batch=batch, steps=steps, use_cache=True, device=cpu)
    uncached = decoding_tokens_per_s(tiny, batch=batch, steps=steps, use_cache=False, device=cpu)
    lines.append(f"  tiny: {cached:9,.0f} tokens/s with KV cache, {uncached:9,.0f} without: "
                 f"{cached / uncached:.1f}x")
    full = _smlm(FULL, FULL_TEXT_ROWS, cpu)
    full_steps = 20 if quick else steps
    cached = decoding_tokens_per_s(full, batch=batch, steps=full_steps, use_cache=True, device=cpu)
    uncached = uncached_tokens_per_s_from_prefixes(full, batch=batch, steps=full_steps, device=cpu)
    lines.append(f"  full: {cached:9,.1f} tokens/s with KV cache, {uncached:9,.1f} without: {cached / uncached:.1f}x "
                 f"({full_steps} steps; uncached time summed from 5 measured prefix passes)")
    del full
    if torch.cuda.is_available():
        lines += smlm_training_lines(torch.device("cuda"))
    else:
        lines.append("  no CUDA GPU visible: SMLM full training throughput (samples/s, tokens/s) not measured")
    return lines


def smlm_training_lines(device: torch.device, *, iterations: int = 5, motion_tokens: int = 50,
                        text_tokens: int = 24) -> list[str]:
    """``full`` SMLM training steps (production, AdamW, bf16 autocast) on a GPU: samples/s and motion tokens/s."""
    from reference_models.m3t.smlm import FULL, mean_loss
    model = _smlm(FULL, FULL_TEXT_ROWS, device, never_stop=False).train()
    opt = torch.optim.AdamW(model.parameters(), lr=FULL.lr)
    b = FULL.batch_size
    vocab = model.vocab
    motion = torch.stack([torch.randint(vocab.blocks[s].offset, vocab.blocks[s].offset + vocab.blocks[s].codebook_size,
                                        (b, motion_tokens + 2), device=device) for s in vocab.blocks], -1)
    batch = {"text_ids": torch.randint(4, vocab.n_text, (b, text_tokens), device=device),
             "text_mask": torch.ones(b, text_tokens, dtype=torch.long, device=device), "motion_in": motion,
             "motion_targets": torch.randint(0, 100, (b, motion_tokens + 2, 4), device=device)}

    def step():
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            loss = mean_loss(model(batch, "production"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
    seconds = _time(step, iterations)
    name = torch.cuda.get_device_name(device)
    return [f"  SMLM full training on {name}: {b / seconds:,.1f} samples/s, {b * (motion_tokens + 2) / seconds:,.0f} "
            f"motion tokens/s (batch {b}, {motion_tokens} motion + {text_tokens} text tokens, AdamW, bf16 autocast)"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_models.bench", description=plain_text(__doc__))
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args(argv)
    print(f"# reference_models benchmarks — {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    for lines in (run, smlm_lines):
        for line in lines(quick=args.quick):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

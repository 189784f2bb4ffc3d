"""Greedy decoding of an SMLM and ``m3t-bench generate``: text -> motion tokens -> frozen FSQ-VAE decoders ->
SMPL-FX streams -> a submission folder.

Decoding (paper §3.3): the encoder runs once; the decoder starts from the two prefix steps
``<L_m> <BOS_m>`` and then, one step at a time, feeds the fused embeddings of the tokens it just chose
(the argmax of each stream's head). With ``use_cache`` the decoder's keys and values are kept in an
``EncoderDecoderCache`` and each step runs on the new position only. A sample stops when *any* of its
streams emits EOS, **per sample**: its tokens up to that step are its output, it leaves the batch (rows
are dropped from the cache and the encoder states), and the others go on. EOS is not allowed at the first
step (every output has at least one token); a sample reaching ``max_len`` tokens is cut there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from m3t_bench.errors import UserError
from reference_models.m3t.smlm import SignMotionLM
from reference_models.m3t.smlm_vocab import MOTION_STREAMS

SYSTEM_NAME = "m3t-smlm"


@torch.no_grad()
def greedy_decode(model: SignMotionLM, text_ids: torch.Tensor, text_mask: torch.Tensor, prompt_ids: torch.Tensor, *,
                  max_len: int, use_cache: bool = True) -> list[np.ndarray]:
    """Token streams for a batch of texts: ``text_ids/text_mask (B, S)``, ``prompt_ids (B, 4)`` (each sample's
    language-modality prompts). Returns one ``(T_i, 4)`` int64 array of code indices per sample,
    ``1 <= T_i <= max_len``."""
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache
    if max_len < 1:
        raise UserError(f"{max_len}; expected at least 1 token", field="--max-len")
    vocab = model.vocab
    device = text_ids.device
    batch = text_ids.shape[0]
    blocks = [vocab.blocks[s] for s in MOTION_STREAMS]
    offsets = torch.tensor([b.offset for b in blocks], device=device)
    eos_class = torch.tensor([b.codebook_size for b in blocks], device=device)
    encoded, encoded_mask = model.encode_text(text_ids, text_mask), text_mask
    bos = torch.tensor([b.bos for b in blocks], device=device).expand(batch, 4)
    history = torch.stack([prompt_ids.to(device), bos], dim=1)  # (B, 2, 4): all inputs fed so far
    step_input = history
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache()) if use_cache else None
    active = torch.arange(batch, device=device)  # original row of each row still decoding
    codes = torch.zeros(batch, max_len, 4, dtype=torch.long, device=device)
    lengths = torch.full((batch,), max_len, dtype=torch.long, device=device)
    for step in range(max_len):
        hidden = model.decode(encoded, encoded_mask, motion_ids=step_input if use_cache else history, cache=cache)
        logits = model.motion_logits(hidden[:, -1])
        choice = []
        for k, stream in enumerate(MOTION_STREAMS):
            scores = logits[stream]
            if step == 0:
                scores = scores.clone()
                scores[:, blocks[k].codebook_size] = float("-inf")
            choice.append(scores.argmax(dim=-1))
        choice = torch.stack(choice, dim=1)  # (A, 4) head classes
        ended = (choice == eos_class).any(dim=1)
        lengths[active[ended]] = step
        codes[active[~ended], step] = choice[~ended]
        going = ~ended
        if not going.any():
            break
        next_ids = (choice[going] + offsets)[:, None]  # (A', 1, 4) vocabulary ids
        if not going.all():
            keep = going.nonzero().squeeze(1)
            active, encoded, encoded_mask = active[keep], encoded[keep], encoded_mask[keep]
            if cache is not None:
                cache.batch_select_indices(keep)
            history = history[keep]
        history = torch.cat([history, next_ids], dim=1)
        step_input = next_ids
    codes, lengths = codes.cpu().numpy(), lengths.cpu().numpy()
    return [codes[i, :lengths[i]] for i in range(batch)]


def tokens_to_sequence(tokenizers: dict, tokens: np.ndarray):
    """``(T', 4)`` code indices -> a ``MotionSequence`` of ``4 T'`` frames through the frozen decoders."""
    from reference_models.m3t.tokenize import detokenize_arrays
    return detokenize_arrays(tokenizers, {s: tokens[:, k] for k, s in enumerate(MOTION_STREAMS)}, None)


def generate_sequences(model: SignMotionLM, text_tokenizer, tokenizers: dict, items: list[tuple[str, str, str]], *,
                       max_len: int, batch_size: int = 8, use_cache: bool = True, progress: bool = False,
                       desc: str = "generate") -> dict[str, tuple[np.ndarray, object]]:
    """``{key: (tokens (T', 4), MotionSequence)}`` for ``items`` = ``(key, text, language)``, decoded in
    batches of ``batch_size`` (longest texts first, so a batch holds similar lengths)."""
    from tqdm import tqdm
    from reference_models.m3t.smlm_data import text_batch
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    order = sorted(items, key=lambda it: -len(it[1]))
    out = {}
    with tqdm(total=len(order), desc=desc, unit="sample", disable=not progress, leave=False, file=sys.stderr) as bar:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            ids, mask = text_batch([(t, lang) for _, t, lang in chunk], text_tokenizer, model.cfg.max_text_tokens)
            prompts = torch.tensor([model.vocab.prompt_ids(lang) for _, _, lang in chunk])
            decoded = greedy_decode(model, ids.to(device), mask.to(device), prompts.to(device), max_len=max_len,
                                    use_cache=use_cache)
            for (key, _, _), tokens in zip(chunk, decoded):
                out[key] = (tokens, tokens_to_sequence(tokenizers, tokens))
            bar.update(len(chunk))
    model.train(was_training)
    return out


def generate_split(ckpt: str | Path, dataset: str | Path, split: str, out: str | Path, *,
                   data_root: str | Path | None = None, max_len: int | None = None, batch_size: int = 8,
                   device: str = "cpu", system: str | None = None, progress: bool = True) -> tuple[Path, int]:
    """Generate every sample of a split with a trained SMLM and write a submission folder (``<id>.npz`` +
    ``meta.json`` naming ``system``, default ``m3t-smlm-<config>``); returns ``(folder, number of samples)``."""
    from m3t_bench.datasets import open_split
    from m3t_bench.scoring.submission import write_submission
    from reference_models.m3t.smlm_checkpoint import load_smlm
    from m3t_bench.distributed import Distributed, resolve_device
    from reference_models.m3t.vae import parameter_count
    if batch_size < 1:
        raise UserError(f"{batch_size}; expected at least 1", field="--batch-size")
    dev = resolve_device(device, Distributed())
    loaded = load_smlm(ckpt, device=dev)
    sp = open_split(dataset, split, data_root=data_root)
    loaded.model.vocab.prompt_ids(sp.spec.language)  # refuses a language the model was not trained on
    limit = max_len if max_len is not None else loaded.default_max_len
    if limit + 2 > loaded.model.max_positions:
        raise UserError(f"{limit} tokens do not fit the model's {loaded.model.max_positions} positions "
                        f"(at most {loaded.model.max_positions - 2})", field="--max-len")
    items = [(e["id"], e["text"], e.get("language", sp.spec.language)) for e in sp.entries]
    generated = generate_sequences(loaded.model, loaded.text, loaded.tokenizers, items, max_len=limit,
                                   batch_size=batch_size, progress=progress, desc=f"generate {sp.spec.name} {sp.split}")
    predictions = {key: seq for key, (_, seq) in generated.items()}
    folder = write_submission(out, predictions, system=system or f"{SYSTEM_NAME}-{loaded.model.cfg.name}",
                              params=parameter_count(loaded.model))
    return folder, len(predictions)

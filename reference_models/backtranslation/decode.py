"""Decoding: greedy and beam search over a batch of motion sequences; deterministic (eval mode, no sampling;
ties go to the lower token id / the earlier hypothesis).

Beam search keeps ``beam_size`` live hypotheses per sequence; a hypothesis that emits ``<eos>`` is finished
with the score ``log p / ((5 + length) / 6) ** alpha`` (the GNMT length penalty, ``length`` counting the
``<eos>``; ``alpha`` 0 = no penalty), and a sequence stops when the best candidate of a step is an ``<eos>``
(as JoeyNMT, on which neccam/slt builds, does) or at ``max_length`` tokens, where only ``<eos>`` may follow.
The best finished hypothesis is returned. Every sequence stops on its own ``<eos>``: one sequence never ends
another's decoding.
"""

from __future__ import annotations

import torch

from reference_models.backtranslation.model import BackTranslationTransformer
from reference_models.backtranslation.text import BOS, EOS, PAD, TEXT_SPECIALS

PAD_ID, BOS_ID, EOS_ID = (TEXT_SPECIALS.index(t) for t in (PAD, BOS, EOS))


def _mask_log_probs(logits: torch.Tensor, *, last: bool) -> torch.Tensor:
    """Log-probabilities ``(N, V)`` of next-token logits; ``<pad>``/``<bos>`` never, only ``<eos>`` when
    ``last``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    if last:
        forced = torch.full_like(logp, float("-inf"))
        forced[:, EOS_ID] = 0.0
        return forced
    logp[:, [PAD_ID, BOS_ID]] = float("-inf")
    return logp


def _until_eos(ids: list[int]) -> list[int]:
    return ids[:ids.index(EOS_ID)] if EOS_ID in ids else ids


@torch.no_grad()
def greedy_decode(model: BackTranslationTransformer, frames: torch.Tensor, frame_mask: torch.Tensor, *,
                  max_length: int) -> list[list[int]]:
    """Token ids (without ``<bos>``/``<eos>``) of the arg-max translation of each sequence of the batch:
    ``frames (B, T, 360)``, ``frame_mask (B, T)`` bool; the model must be in eval mode."""
    cache = model.start_decoding(model.encode(frames, frame_mask), frame_mask)
    batch = frames.shape[0]
    prefix = torch.full((batch, 1), BOS_ID, dtype=torch.long, device=frames.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=frames.device)
    for step in range(max_length):
        logits = model.decode_next(cache, prefix[:, -1])
        nxt = _mask_log_probs(logits, last=step == max_length - 1).argmax(dim=-1)
        nxt = torch.where(finished, torch.full_like(nxt, PAD_ID), nxt)
        prefix = torch.cat([prefix, nxt[:, None]], dim=1)
        finished |= nxt == EOS_ID
        if bool(finished.all()):
            break
    return [_until_eos(row[1:]) for row in prefix.tolist()]


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ``((5 + length) / 6) ** alpha``."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(model: BackTranslationTransformer, frames: torch.Tensor, frame_mask: torch.Tensor, *,
                beam_size: int, alpha: float, max_length: int) -> list[list[int]]:
    """Token ids (without ``<bos>``/``<eos>``) of the best beam-search translation of each sequence; see the
    module doc. ``beam_size`` 1 is greedy decoding. The model must be in eval mode."""
    if beam_size == 1:
        return greedy_decode(model, frames, frame_mask, max_length=max_length)
    batch, k = frames.shape[0], beam_size
    rep = torch.arange(batch, device=frames.device).repeat_interleave(k)
    cache = model.start_decoding(model.encode(frames, frame_mask), frame_mask)
    cache.select(rep)
    prefix = torch.full((batch * k, 1), BOS_ID, dtype=torch.long, device=frames.device)
    scores = torch.full((batch, k), float("-inf"), device=frames.device)
    scores[:, 0] = 0.0                                   # one live hypothesis at the start
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    done = [False] * batch
    for step in range(max_length):
        logp = _mask_log_probs(model.decode_next(cache, prefix[:, -1]), last=step == max_length - 1)
        vocab = logp.shape[-1]
        cand = (scores.reshape(-1, 1) + logp).reshape(batch, k * vocab)
        top_scores, top_index = cand.topk(2 * k, dim=1)
        top_scores, top_index = top_scores.tolist(), top_index.tolist()
        rows, tokens, new_scores = [], [], []
        for b in range(batch):
            alive: list[tuple[float, int, int]] = []
            if not done[b]:
                for rank, (score, index) in enumerate(zip(top_scores[b], top_index[b])):
                    if score == float("-inf") or len(alive) == k:
                        break
                    beam, token = divmod(index, vocab)
                    if token == EOS_ID:
                        hyp = prefix[b * k + beam, 1:].tolist()
                        finished[b].append((score / length_penalty(step + 1, alpha), hyp))
                        done[b] = done[b] or rank == 0
                    else:
                        alive.append((score, beam, token))
                done[b] = done[b] or not alive
            if done[b]:
                alive = []
            alive += [(float("-inf"), 0, PAD_ID)] * (k - len(alive))
            rows += [b * k + beam for _, beam, _ in alive]
            tokens += [token for _, _, token in alive]
            new_scores += [score for score, _, _ in alive]
        if all(done):
            break
        index = torch.tensor(rows, device=prefix.device)
        cache.select(index)
        prefix = torch.cat([prefix[index], torch.tensor(tokens, device=prefix.device)[:, None]], dim=1)
        scores = torch.tensor(new_scores, device=frames.device).reshape(batch, k)
    out = []
    for hyps in finished:
        best = max(range(len(hyps)), key=lambda i: (hyps[i][0], -i)) if hyps else None
        out.append([] if best is None else hyps[best][1])
    return out


#: Encoder attention budget of one inference batch: sequences x (longest length)^2 (a single longer
#: sequence is decoded alone).
ATTENTION_BUDGET = 1 << 24


def inference_batches(lengths: list[int], *, budget: int = ATTENTION_BUDGET) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first) with ``len(batch) * max_len**2 <=
    budget``; depends only on ``lengths``."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] ** 2 <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def pad_frames(features: list, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(T_i, C)`` arrays -> ``frames (B, T_max, C)`` float32 zero-padded, ``mask (B, T_max)`` bool."""
    longest = max(int(f.shape[0]) for f in features)
    frames = torch.zeros(len(features), longest, int(features[0].shape[1]), dtype=torch.float32)
    mask = torch.zeros(len(features), longest, dtype=torch.bool)
    for row, f in enumerate(features):
        frames[row, :f.shape[0]] = torch.as_tensor(f, dtype=torch.float32)
        mask[row, :f.shape[0]] = True
    return frames.to(device), mask.to(device)


def translate_features(model: BackTranslationTransformer, features: list, *, beam_size: int, alpha: float,
                       max_length: int, device: torch.device | str = "cpu", progress: bool = False,
                       budget: int = ATTENTION_BUDGET) -> list[list[int]]:
    """Decoded token ids of each ``(T_i, 360)`` feature array, in input order (model in eval mode on
    ``device``); batched by :func:`inference_batches`, with a progress bar on stderr when ``progress``."""
    from tqdm import tqdm
    was_training = model.training
    model.eval()
    out: list[list[int]] = [[] for _ in features]
    try:
        with tqdm(total=len(features), desc="back-translation", unit="sample", disable=not progress,
                  leave=False) as bar:
            for batch in inference_batches([int(f.shape[0]) for f in features], budget=budget):
                frames, mask = pad_frames([features[i] for i in batch], torch.device(device))
                ids = beam_search(model, frames, mask, beam_size=beam_size, alpha=alpha, max_length=max_length)
                for i, hyp in zip(batch, ids):
                    out[i] = hyp
                bar.update(len(batch))
    finally:
        model.train(was_training)
    return out

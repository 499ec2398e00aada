"""Decoding an encoder-decoder: greedy, and batched beam search with n-best lists and scores.

Both work with any model offering ``encode(src, src_lengths) -> (memory, state)`` and
``step(tokens, state, memory) -> (log_probs, state, attention)`` (`Seq2Seq` does), whose
memory and state have ``select(rows)``, and ``bos_id``/``eos_id`` attributes.

Lengths count the end token. A hypothesis of sentence i has at most
``floor(max_length_ratio * source_length_i) + max_length_extra`` tokens; at that length
only the end token is allowed. The score of a finished hypothesis of n tokens with summed
log-probability s is ``s / n ** length_penalty`` (0: no normalisation; 1: the mean
log-probability per token), so that long outputs are not beaten by short ones merely
for having fewer factors below one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

__all__ = ["Hypothesis", "StepModel", "beam_search", "greedy_decode", "max_lengths"]


class StepModel(Protocol):
    """What decoding needs of a model (see the module docstring)."""

    bos_id: int
    eos_id: int

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Any, Any]: ...

    def step(self, tokens: Tensor, state: Any, memory: Any) -> tuple[Tensor, Any, Tensor]: ...


@dataclass(frozen=True)
class Hypothesis:
    """One decoded output.

    tokens: the output ids without the end token; score: log_prob / (len(tokens)+1) ** alpha;
    log_prob: the summed log-probability, end token included; attention: (len(tokens)+1,
    source length) weights, one row per output step (the last row is the end token's).
    """

    tokens: list[int]
    score: float
    log_prob: float
    attention: Tensor


def max_lengths(src_lengths: Tensor, ratio: float, extra: int) -> Tensor:
    """Per-sentence output limits (end token included): floor(ratio * length) + extra, >= 1."""
    if ratio < 0 or extra < 0 or (ratio == 0 and extra == 0):
        raise ValueError(
            f"max_length_ratio ({ratio}) and max_length_extra ({extra}) must be >= 0, not both 0"
        )
    return (src_lengths.double() * ratio).floor().long().add(extra).clamp_min(1).cpu()


def _normalise(log_prob: float, length: int, alpha: float) -> float:
    return log_prob / length**alpha if alpha else log_prob


@torch.no_grad()
def greedy_decode(
    model: StepModel,
    src: Tensor,
    src_lengths: Tensor,
    *,
    length_penalty: float = 1.0,
    max_length_ratio: float = 2.0,
    max_length_extra: int = 5,
) -> list[Hypothesis]:
    """The most likely next token at every step, for a batch; the model runs in eval mode.

    Args:
        model: see `StepModel`.
        src: (B, S) source ids; src_lengths: (B,).
        length_penalty: alpha of the reported score (the choice of tokens ignores it).
        max_length_ratio, max_length_extra: the output limit (see the module docstring).

    Returns:
        One `Hypothesis` per sentence, in order.
    """
    with _evaluating(model):
        limits = max_lengths(src_lengths, max_length_ratio, max_length_extra)
        memory, state = model.encode(src, src_lengths)
        batch = src.shape[0]
        tokens = torch.full((batch,), model.bos_id, dtype=torch.long, device=src.device)
        alive = torch.ones(batch, dtype=torch.bool)
        log_prob = torch.zeros(batch, dtype=torch.float64)
        picked, weights = [], []
        for t in range(int(limits.max())):
            logp, state, attention = model.step(tokens, state, memory)
            logp = _force_end(logp.double().cpu(), t == limits - 1, model.eos_id)
            best_lp, best = logp.max(-1)
            log_prob += torch.where(alive, best_lp.double(), 0.0)
            picked.append(best)
            weights.append(attention.cpu())
            alive &= best != model.eos_id
            if not alive.any():
                break
            tokens = best.to(src.device)
        ids, att = torch.stack(picked, 1), torch.stack(weights, 1)  # (B, T), (B, T, S)
        out = []
        for i in range(batch):
            n = int((ids[i] == model.eos_id).nonzero()[0]) + 1
            lp = float(log_prob[i])
            a = att[i, :n, : int(src_lengths[i])]
            out.append(
                Hypothesis(ids[i, : n - 1].tolist(), _normalise(lp, n, length_penalty), lp, a)
            )
        return out


def _force_end(logp: Tensor, last: Tensor, eos_id: int) -> Tensor:
    """Leave only the end token possible for the rows of sentences at their last step.

    logp is (B, V) or (B, K, V); last is (B,) bool.
    """
    if not last.any():
        return logp
    others = torch.ones(logp.shape[-1], dtype=torch.bool)
    others[eos_id] = False
    shape = (-1,) + (1,) * (logp.dim() - 1)
    return logp.masked_fill(last.view(shape) & others, float("-inf"))


@torch.no_grad()
def beam_search(
    model: StepModel,
    src: Tensor,
    src_lengths: Tensor,
    *,
    beam_size: int = 5,
    n_best: int = 1,
    length_penalty: float = 1.0,
    max_length_ratio: float = 2.0,
    max_length_extra: int = 5,
) -> list[list[Hypothesis]]:
    """Beam search over a batch of sentences at once (B * beam_size decoder rows).

    At each step every live hypothesis is extended by every token; of the 2K best
    extensions of a sentence (K = beam_size), those ending in the end token *and ranked
    within the best K* are set aside as finished, and the best K others form the next beam
    (as in fairseq). A sentence is done when K hypotheses have finished or it reached its
    length limit; its finished ones are ranked by normalised score. With K = 1 this is
    greedy decoding; with K at least the number of possible extensions it is exhaustive.
    Deterministic: no sampling, and ties keep the lower index.

    Args:
        model: see `StepModel`; it runs in eval mode.
        src: (B, S) source ids; src_lengths: (B,).
        beam_size: K. Default 5.
        n_best: hypotheses returned per sentence (<= beam_size). Default 1.
        length_penalty: alpha of the score log_prob / length ** alpha. Default 1.0.
        max_length_ratio, max_length_extra: the output limit (module docstring).

    Returns:
        Per sentence, its n_best hypotheses, best first.
    """
    if not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive integer, got {beam_size!r}")
    if not isinstance(n_best, int) or not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be an integer in [1, beam_size={beam_size}], got {n_best!r}")
    with _evaluating(model):
        return _beam_search(
            model,
            src,
            src_lengths,
            beam_size,
            n_best,
            length_penalty,
            max_lengths(src_lengths, max_length_ratio, max_length_extra),
        )


def _beam_search(
    model: StepModel,
    src: Tensor,
    src_lengths: Tensor,
    k: int,
    n_best: int,
    alpha: float,
    limits: Tensor,
) -> list[list[Hypothesis]]:
    batch, eos, device = src.shape[0], model.eos_id, src.device
    memory, state = model.encode(src, src_lengths)
    rows = torch.arange(batch, device=device).repeat_interleave(k)
    memory, state = memory.select(rows), state.select(rows)
    scores = torch.full((batch, k), float("-inf"), dtype=torch.float64)
    scores[:, 0] = 0.0  # one live hypothesis per sentence at the start: no duplicates
    tokens = torch.full((batch * k,), model.bos_id, dtype=torch.long, device=device)
    prefix = torch.empty(batch * k, 0, dtype=torch.long)  # (B*K, t) tokens so far
    attention = torch.empty(batch * k, 0, src.shape[1])  # (B*K, t, S)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = torch.zeros(batch, dtype=torch.bool)
    base = torch.arange(batch)[:, None] * k
    for t in range(int(limits.max())):
        logp, state, weights = model.step(tokens, state, memory)
        weights = weights.cpu()
        logp = _force_end(logp.double().cpu().view(batch, k, -1), t == limits - 1, eos)
        vocab = logp.shape[-1]
        top, index = (scores[..., None] + logp).view(batch, -1).topk(2 * k, dim=1)  # (B, 2K)
        beam, token = index // vocab, index % vocab
        ending = (token == eos) & top.isfinite() & ~done[:, None]
        for b, j in ending[:, :k].nonzero().tolist():
            row = int(base[b, 0] + beam[b, j])
            n = t + 1
            lp = float(top[b, j])
            att = torch.cat([attention[row], weights[row, None]])[:, : int(src_lengths[b])]
            finished[b].append(Hypothesis(prefix[row].tolist(), _normalise(lp, n, alpha), lp, att))
        going = top.masked_fill(token == eos, float("-inf"))
        order = going.argsort(dim=1, descending=True, stable=True)[:, :k]  # (B, K)
        scores = going.gather(1, order)
        done |= torch.tensor([len(f) >= k for f in finished]) | (t == limits - 1)
        scores[done] = float("-inf")
        if done.all():
            break
        source_rows = (base + beam.gather(1, order)).view(-1)  # (B*K,) the row each extends
        chosen = token.gather(1, order).view(-1)
        prefix = torch.cat([prefix[source_rows], chosen[:, None]], 1)
        attention = torch.cat([attention[source_rows], weights[source_rows, None]], 1)
        state = state.select(source_rows.to(device))
        tokens = chosen.to(device)
    return [sorted(f, key=lambda h: -h.score)[:n_best] for f in finished]


class _evaluating:
    """Context: the model in eval mode (no dropout), restored afterwards."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.was_training = bool(getattr(model, "training", False))

    def __enter__(self) -> None:
        if isinstance(self.model, nn.Module):
            self.model.eval()

    def __exit__(self, *exc: object) -> None:
        if isinstance(self.model, nn.Module):
            self.model.train(self.was_training)

"""A linear-chain conditional random field: exact log-likelihood and Viterbi decoding, batched.

Lafferty, McCallum & Pereira (2001); as an output layer over a BiLSTM, Lample et al. (2016),
"Neural Architectures for Named Entity Recognition". Everything runs in log space over
batch-first emissions with per-sequence lengths; the loops run over time only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["CONSTRAINED_SCHEMES", "IMPOSSIBLE", "LinearChainCRF", "transition_constraints"]

# Score added to a forbidden start, transition or end. Finite rather than -inf so that a
# position whose every way in is forbidden still has finite (huge negative) scores and
# gradients instead of NaN; exp(-1e4) is exactly 0 in float32 and float64, so the
# log-partition and decoding are those of the constrained model.
IMPOSSIBLE = -1e4
CONSTRAINED_SCHEMES = ("iob1", "bio", "bioes")


class LinearChainCRF(nn.Module):
    """Linear-chain CRF over K tags with start, transition and end scores.

    For emissions e (T, K) of one sequence and tags y_1..y_T the path score is

        s(y) = start[y_1] + sum_t e[t, y_t] + sum_{t>1} trans[y_{t-1}, y_t] + end[y_T]

    and p(y | e) = exp s(y) / Z with log Z = logsumexp over all K^T paths, computed by the
    forward algorithm: alpha_1 = start + e_1, alpha_t[j] = logsumexp_i(alpha_{t-1}[i] +
    trans[i, j]) + e_t[j], log Z = logsumexp(alpha_T + end). Viterbi replaces logsumexp by
    max and keeps back-pointers. Forbidden starts, transitions and ends (a constraint mask,
    e.g. from `transition_constraints`) score `IMPOSSIBLE`, so no path the model scores or
    decodes uses one while any legal path exists.

    Args:
        num_tags: K.
        allowed: optional ``(start (K,), transitions (K, K), end (K,))`` boolean masks, True
            where allowed; ``transitions[i, j]`` allows tag j right after tag i. Default None.

    Inputs (every method): emissions (B, T, K), lengths (B,) with 1 <= lengths <= T;
    positions past a sequence's length are ignored.

    >>> crf = LinearChainCRF(3)
    >>> emissions, lengths = torch.randn(2, 4, 3), torch.tensor([4, 2])
    >>> loss = crf.nll(emissions, torch.zeros(2, 4, dtype=torch.long), lengths)
    >>> tags, scores = crf.decode(emissions, lengths)
    >>> tags.shape, bool((tags[1, 2:] == 0).all())
    (torch.Size([2, 4]), True)
    """

    def __init__(self, num_tags: int, allowed: tuple[Tensor, Tensor, Tensor] | None = None):
        super().__init__()
        if not isinstance(num_tags, int) or num_tags < 1:
            raise ValueError(f"num_tags must be a positive integer, got {num_tags!r}")
        self.num_tags = num_tags
        # Small random scores, as a softmax layer starts: zero would make every path tie.
        self.start = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        start_ok, trans_ok, end_ok = allowed or (
            torch.ones(num_tags, dtype=torch.bool),
            torch.ones(num_tags, num_tags, dtype=torch.bool),
            torch.ones(num_tags, dtype=torch.bool),
        )
        shapes = ((num_tags,), (num_tags, num_tags), (num_tags,))
        for name, mask, shape in zip(("start", "transitions", "end"), allowed or (), shapes):
            if tuple(mask.shape) != shape or mask.dtype != torch.bool:
                raise ValueError(
                    f"allowed {name} must be a bool tensor of shape {shape}, got "
                    f"{mask.dtype} of shape {tuple(mask.shape)}"
                )
        self.register_buffer("start_mask", _penalty(start_ok))
        self.register_buffer("transition_mask", _penalty(trans_ok))
        self.register_buffer("end_mask", _penalty(end_ok))

    def scores(self) -> tuple[Tensor, Tensor, Tensor]:
        """The constrained (start, transitions, end) scores the model uses."""
        return (
            self.start + self.start_mask,
            self.transitions + self.transition_mask,
            self.end + self.end_mask,
        )

    def log_partition(self, emissions: Tensor, lengths: Tensor) -> Tensor:
        """log Z of each sequence (B,), by the forward algorithm in log space."""
        mask = self._check(emissions, lengths)
        start, trans, end = self.scores()
        alpha = start + emissions[:, 0]  # (B, K)
        for t in range(1, emissions.shape[1]):
            # (B, K, 1) + (K, K) -> logsumexp over the previous tag i
            step = torch.logsumexp(alpha[:, :, None] + trans, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)  # finished sequences keep theirs
        return torch.logsumexp(alpha + end, dim=1)

    def path_score(self, emissions: Tensor, tags: Tensor, lengths: Tensor) -> Tensor:
        """s(y) of the given tag paths (B,); tags (B, T), any value past the lengths."""
        mask = self._check(emissions, lengths)
        if tags.shape != emissions.shape[:2]:
            raise ValueError(
                f"tags have shape {tuple(tags.shape)}; expected {tuple(emissions.shape[:2])}"
            )
        tags = tags.masked_fill(~mask, 0)  # padding may hold anything, e.g. -100
        if bool(((tags < 0) | (tags >= self.num_tags)).any()):
            raise ValueError(f"tags must lie in [0, {self.num_tags}) at valid positions")
        start, trans, end = self.scores()
        emitted = emissions.gather(2, tags[:, :, None]).squeeze(2)  # (B, T)
        moved = trans[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
        last = tags.gather(1, (lengths - 1)[:, None]).squeeze(1)  # (B,)
        return (
            start[tags[:, 0]] + (emitted * mask).sum(1) + (moved * mask[:, 1:]).sum(1) + end[last]
        )

    def forward(self, emissions: Tensor, tags: Tensor, lengths: Tensor) -> Tensor:
        """The summed negative log-likelihood of ``tags``: ``nll(..., reduction="sum")``."""
        return self.nll(emissions, tags, lengths)

    def nll(
        self, emissions: Tensor, tags: Tensor, lengths: Tensor, reduction: str = "sum"
    ) -> Tensor:
        """Negative log-likelihood -log p(y | e) = log Z - s(y).

        Args:
            reduction: "none" (B,), "sum" or "mean" over the sequences. Default "sum".
        """
        if reduction not in ("none", "sum", "mean"):
            raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
        loss = self.log_partition(emissions, lengths) - self.path_score(emissions, tags, lengths)
        if reduction == "none":
            return loss
        return loss.sum() if reduction == "sum" else loss.mean()

    @torch.no_grad()
    def decode(
        self, emissions: Tensor, lengths: Tensor, padding_value: int = 0
    ) -> tuple[Tensor, Tensor]:
        """The most likely tag path of each sequence (Viterbi).

        Returns:
            ``(tags, scores)``: tags (B, T) with ``padding_value`` past each length, and
            the best path's score s(y) (B,).
        """
        mask = self._check(emissions, lengths)
        start, trans, end = self.scores()
        batch, steps, k = emissions.shape
        best = start + emissions[:, 0]  # (B, K)
        keep = torch.arange(k, device=emissions.device).expand(batch, k)
        pointers = []
        for t in range(1, steps):
            step, came_from = (best[:, :, None] + trans).max(dim=1)  # (B, K) each
            live = mask[:, t, None]
            best = torch.where(live, step + emissions[:, t], best)
            # Past a sequence's end the pointer keeps the tag, so backtracking from the last
            # column passes unchanged to the sequence's own last position.
            pointers.append(torch.where(live, came_from, keep))
        scores, tag = (best + end).max(dim=1)
        path = [tag]
        for came_from in reversed(pointers):
            tag = came_from.gather(1, tag[:, None]).squeeze(1)
            path.append(tag)
        tags = torch.stack(path[::-1], dim=1)  # (B, T)
        return tags.masked_fill(~mask, padding_value), scores

    def _check(self, emissions: Tensor, lengths: Tensor) -> Tensor:
        """The (B, T) mask of valid positions, after checking shapes and lengths."""
        if emissions.dim() != 3 or emissions.shape[2] != self.num_tags:
            raise ValueError(
                f"emissions must have shape (B, T, {self.num_tags}), got {tuple(emissions.shape)}"
            )
        batch, steps, _ = emissions.shape
        if steps == 0:
            raise ValueError("emissions have no time steps; every sequence needs at least one")
        if lengths.shape != (batch,):
            raise ValueError(f"lengths has {lengths.numel()} entries but the batch has {batch}")
        lengths = lengths.to(emissions.device)
        if bool(((lengths < 1) | (lengths > steps)).any()):
            raise ValueError(f"lengths must lie in [1, {steps}], got {lengths.tolist()}")
        return torch.arange(steps, device=emissions.device)[None, :] < lengths[:, None]


def _penalty(allowed: Tensor) -> Tensor:
    return torch.where(allowed, 0.0, IMPOSSIBLE).float()


def transition_constraints(tags: Sequence[str], scheme: str) -> tuple[Tensor, Tensor, Tensor]:
    """Which starts, transitions and ends a tag scheme allows, as `LinearChainCRF` takes them.

    - "bio" (IOB2): I-X only after B-X or I-X; a sequence never starts with I-X.
    - "iob1": B-X only right after B-X or I-X (it separates two adjacent X chunks); I-X
      may start a chunk anywhere.
    - "bioes": B-X and I-X are followed by I-X or E-X; O, E-X and S-X by O, B-Y or S-Y;
      a sequence starts with O, B or S and ends with O, E or S.

    Args:
        tags: the tag names, in the CRF's order: "O" or "<P>-<TYPE>" with P one of the
            scheme's prefixes.
        scheme: one of CONSTRAINED_SCHEMES.

    Returns:
        ``(start (K,), transitions (K, K), end (K,))`` bool masks, True where allowed.
    """
    if scheme not in CONSTRAINED_SCHEMES:
        raise ValueError(f"scheme must be one of {CONSTRAINED_SCHEMES}, got {scheme!r}")
    prefixes = {"iob1": "BI", "bio": "BI", "bioes": "BIES"}[scheme]
    parsed = [_split_tag(tag, prefixes, scheme) for tag in tags]
    k = len(parsed)
    start = torch.tensor([_may_start(p, scheme) for p in parsed], dtype=torch.bool)
    end = torch.tensor([_may_end(p, scheme) for p in parsed], dtype=torch.bool)
    trans = torch.tensor(
        [[_may_follow(parsed[i], parsed[j], scheme) for j in range(k)] for i in range(k)],
        dtype=torch.bool,
    )
    return start, trans, end


def _split_tag(tag: str, prefixes: str, scheme: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if not dash or not kind or len(prefix) != 1 or prefix not in prefixes:
        raise ValueError(
            f"tag {tag!r} is not 'O' or {'/'.join(prefixes)}-TYPE, as the {scheme!r} scheme "
            "needs; use no constraints for tags without a chunk scheme"
        )
    return prefix, kind


def _may_start(tag: tuple[str, str], scheme: str) -> bool:
    return tag[0] in ("OI" if scheme == "iob1" else "OBS")


def _may_end(tag: tuple[str, str], scheme: str) -> bool:
    return scheme != "bioes" or tag[0] in "OES"


def _may_follow(prev: tuple[str, str], tag: tuple[str, str], scheme: str) -> bool:
    (p, p_kind), (t, t_kind) = prev, tag
    if scheme == "bioes":
        if p in ("B", "I"):  # an open chunk must go on or close with the same type
            return t in "IE" and t_kind == p_kind
        return t in "OBS"
    if scheme == "bio":
        return t != "I" or (p in ("B", "I") and p_kind == t_kind)
    return t != "B" or (p in ("B", "I") and p_kind == t_kind)  # iob1

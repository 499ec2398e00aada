"""One canonical form for every input a recurrent layer accepts, checked, and the way back.

Layers accept what `torch.nn.LSTM` accepts (batched or unbatched, batch-first or not,
`PackedSequence`) plus a plain `lengths=`. Engines see only one thing: a padded
time-major tensor (T, B, I) with optional lengths (B,), so that no engine branches on the
input's form. All validation of user input lives here, with messages that say what was
received and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


@dataclass(frozen=True)
class Canonical:
    """A batch in engine form, and what is needed to give outputs back in the caller's form."""

    x: Tensor  # (T, B, I) time-major, padded
    lengths: Tensor | None  # (B,) int64 on the CPU; None when every sequence has T steps
    batch_first: bool
    unbatched: bool
    packed: PackedSequence | None  # the caller's packed input, to pack the output alike

    def output(self, out: Tensor) -> Tensor | PackedSequence:
        """Turn a (T, B, F) engine output back into the form of the caller's input."""
        if self.packed is not None:
            return _pack_like(out, self.lengths, self.packed)
        if self.unbatched:
            return out.squeeze(1)
        return out.transpose(0, 1) if self.batch_first else out

    def states(self, states: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """Final states come back (L*D, B, H), or (L*D, H) for an unbatched input."""
        return tuple(s.squeeze(1) for s in states) if self.unbatched else states

    def record(self, gates: dict[str, Tensor]) -> dict[str, Tensor]:
        """Recorded activations are (L*D, T, B, H); batch-first and unbatched follow the input."""
        if self.unbatched:
            return {k: v.squeeze(2) for k, v in gates.items()}
        if self.batch_first:
            return {k: v.transpose(1, 2) for k, v in gates.items()}
        return gates


def canonicalize(
    input: Tensor | PackedSequence,
    *,
    input_size: int,
    dtype: torch.dtype,
    batch_first: bool,
    lengths: Sequence[int] | Tensor | None,
    name: str,
) -> Canonical:
    """Check the input of a recurrent layer and bring it to (T, B, I) with lengths."""
    if isinstance(input, PackedSequence):
        if lengths is not None:
            raise ValueError(
                f"{name} got both a PackedSequence and lengths=; the packed sequence already "
                "carries its lengths, so pass only one of them"
            )
        _check_dtype(input.data, dtype, name)
        _check_features(input.data.shape[-1], input_size, name)
        x, lens = pad_packed_sequence(input)  # lengths in the caller's (unsorted) order
        return Canonical(x, lens, batch_first=False, unbatched=False, packed=input)
    if not isinstance(input, Tensor):
        raise TypeError(
            f"{name} expects a Tensor or a PackedSequence as input, got {type(input).__name__}"
        )
    _check_dtype(input, dtype, name)
    if input.dim() not in (2, 3):
        layout = "(batch, seq_len, input_size)" if batch_first else "(seq_len, batch, input_size)"
        raise ValueError(
            f"{name} expects a 3-D input {layout} or a 2-D unbatched input (seq_len, input_size),"
            f" got a {input.dim()}-D tensor of shape {tuple(input.shape)}"
        )
    _check_features(input.shape[-1], input_size, name)
    unbatched = input.dim() == 2
    if unbatched:
        x = input.unsqueeze(1)
    else:
        x = input.transpose(0, 1) if batch_first else input
    if x.shape[0] == 0:
        raise ValueError(f"{name} got an input with no time steps (shape {tuple(input.shape)})")
    lens = None if lengths is None else check_lengths(lengths, x.shape[1], x.shape[0], name)
    return Canonical(x, lens, batch_first, unbatched, packed=None)


def check_lengths(lengths: Sequence[int] | Tensor, batch: int, steps: int, name: str) -> Tensor:
    """Validate `lengths=` against the batch: one positive length <= seq_len per sequence."""
    if isinstance(lengths, Tensor):
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(
                f"{name}: lengths must hold integers, got a tensor of dtype {lengths.dtype}"
            )
        lens = lengths.detach().to("cpu", torch.int64).reshape(-1)
    else:
        values = list(lengths)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise TypeError(f"{name}: lengths must be integers, got {values!r}")
        lens = torch.tensor(values, dtype=torch.int64)
    if lens.numel() != batch:
        raise ValueError(
            f"{name}: lengths has {lens.numel()} entries but the batch has {batch} sequences"
        )
    if batch and int(lens.min()) < 1:
        raise ValueError(
            f"{name}: every length must be at least 1, got {lens.tolist()}; drop empty "
            "sequences from the batch"
        )
    if batch and int(lens.max()) > steps:
        raise ValueError(
            f"{name}: lengths go up to {int(lens.max())} but the input has only {steps} time "
            "steps; lengths count valid steps along the time dimension"
        )
    return lens


class ShapeError(RuntimeError, ValueError):
    """A tensor of the wrong shape: a ValueError, and the RuntimeError torch.nn raises there,
    so code catching torch's exception keeps working with lstmkit."""


class DtypeError(TypeError, ValueError, RuntimeError):
    """An input whose dtype is not the parameters': a TypeError, and the ValueError (layers)
    or RuntimeError (cells) torch.nn raises there."""


def _check_dtype(x: Tensor, dtype: torch.dtype, name: str) -> None:
    if not x.is_floating_point():
        raise TypeError(
            f"{name} expects a floating-point input, got dtype {x.dtype}; "
            "convert it with .float() (or embed integer tokens first)"
        )
    if x.dtype != dtype:
        raise DtypeError(
            f"{name}: input dtype {x.dtype} does not match the layer's parameters ({dtype}); "
            f"convert the input with .to({dtype}) or the layer with .to({x.dtype})"
        )


def _check_features(got: int, expected: int, name: str) -> None:
    if got != expected:
        raise ShapeError(
            f"{name} was built with input_size={expected} but the input has {got} features "
            "in its last dimension"
        )


def _pack_like(out: Tensor, lengths: Tensor, like: PackedSequence) -> PackedSequence:
    """Pack a (T, B, F) output with the same batch_sizes and sort order as `like`."""
    order = like.sorted_indices
    if order is not None:
        out, lengths = out.index_select(1, order), lengths.index_select(0, order.cpu())
    packed = pack_padded_sequence(out, lengths, enforce_sorted=True)
    return PackedSequence(packed.data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


def valid_mask(lengths: Tensor, steps: int, device: torch.device) -> Tensor:
    """(T, B, 1) boolean mask, true where step t is inside sequence b."""
    t = torch.arange(steps, device=device).unsqueeze(1)
    return (t < lengths.to(device).unsqueeze(0)).unsqueeze(-1)


def reverse_index(lengths: Tensor | None, steps: int, batch: int, device: torch.device) -> Tensor:
    """(T, B) time indices that reverse each sequence within its own valid part.

    Padding positions map to themselves, so gathering twice with it is the identity: the
    same index reverses the input and un-reverses the output.
    """
    t = torch.arange(steps, device=device).unsqueeze(1).expand(steps, batch)
    if lengths is None:
        return t.flip(0)
    lens = lengths.to(device).unsqueeze(0)
    return torch.where(t < lens, lens - 1 - t, t)

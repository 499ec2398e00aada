"""Where a run stands inside the epoch being trained, and how that epoch is replayed on resume."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..seed import RngState
from .batches import State
from .callbacks import StepInfo
from .resume import state_from_flat, state_to_flat

if TYPE_CHECKING:
    from tqdm import tqdm

# The plain fields a mid-epoch checkpoint keeps under "partial", with the type to read back.
_SAVED_FIELDS = (
    "batches",
    "chunks",
    "steps",
    "loss_sum",
    "penalty_sum",
    "norm_sum",
    "norm_max",
    "seconds",
    "train_done",
)


@dataclass
class EpochProgress:
    """The position and running sums of the epoch being trained: what a mid-epoch
    checkpoint holds, and what it takes to replay that epoch's data order exactly.

    A resume replays the interrupted epoch from the generators saved at its start
    (:meth:`rewind`), skips what was trained (:meth:`skip_done`), then puts the generators
    back as they were after the last finished step, so training goes on as if never stopped.
    """

    batches: int = 0  # batches finished
    chunks: int = 0  # chunks of the next batch finished (truncated BPTT)
    steps: int = 0  # optimizer steps this epoch
    loss_sum: float = 0.0
    penalty_sum: float = 0.0
    norm_sum: float = 0.0
    norm_max: float = 0.0
    seconds: float = 0.0
    train_done: bool = False  # training finished, validation had not
    state: State = None  # detached recurrent state after the last step
    rng: RngState | None = None  # generators after the last step
    epoch_rng: RngState | None = None  # generators when the epoch began
    loader_rng: torch.Tensor | None = None  # the DataLoader's own generator then
    resumed: bool = False  # restored from a mid-epoch checkpoint, not yet replayed

    @property
    def partial(self) -> bool:
        """True once the epoch has work a checkpoint must keep (a step, or its training)."""
        return self.steps > 0 or self.train_done

    def add_step(
        self, loss: float, penalty: float, norm: float, state: State, snapshot: bool
    ) -> None:
        """Count one applied optimizer step; ``snapshot`` keeps the generators after it."""
        self.steps += 1
        self.chunks += 1
        self.loss_sum += loss
        self.penalty_sum += penalty
        self.norm_sum += norm
        self.norm_max = max(self.norm_max, norm)
        self.state = state
        self.rng = RngState.capture() if snapshot else None

    def step_info(
        self, epoch: int, steps_before: int, loss: float, penalty: float, norm: float, lr: float
    ) -> StepInfo:
        """What the step hooks learn of the step just counted; ``steps_before``: the run's
        steps in the epochs before this one."""
        total = steps_before + self.steps
        return StepInfo(epoch, self.steps, total, self.batches, loss, penalty, norm, lr)

    def finish_batch(self) -> None:
        """Count a batch whose every chunk trained."""
        self.batches += 1
        self.chunks = 0

    def metrics(self, penalized: bool) -> dict[str, float]:
        """Mean loss and gradient norm over the epoch's steps."""
        out = {"train_loss": self.loss_sum / self.steps, "grad_norm": self.norm_sum / self.steps}
        out["grad_norm_max"] = self.norm_max
        if penalized:
            out["penalty"] = self.penalty_sum / self.steps
        return out

    # ------------------------------------------------------------------ the epoch's data order

    def begin(self, loader_generator: torch.Generator | None) -> bool:
        """Before the epoch's batches are drawn: remember the generators (a fresh epoch) or
        put them back to the interrupted epoch's start (a resume). Returns True on a resume."""
        if self.resumed:
            assert self.epoch_rng is not None  # set by from_flat with resumed
            self.epoch_rng.restore()
            if loader_generator is not None and self.loader_rng is not None:
                loader_generator.set_state(self.loader_rng)
            return True
        self.epoch_rng = RngState.capture()
        self.loader_rng = loader_generator.get_state() if loader_generator else None
        return False

    def skip_done(
        self,
        iterator: Iterator[Any],
        epoch: int,
        bar: tqdm,
        chunks_of: Callable[[Any], list[Any]],
    ) -> list[Any] | None:
        """Skip the batches (and chunks) the interrupted epoch had trained, then restore the
        generators as they were after its last step.

        Args:
            iterator: the replayed epoch's batches, from its first.
            epoch: the 1-based epoch, for error messages.
            bar: the progress bar, advanced past the skipped batches.
            chunks_of: turns a batch into its chunks, as the loop does.

        Returns:
            The untrained chunks of a batch cut midway, or None if it stopped between batches.
        """
        self.resumed = False
        for _ in range(self.batches):
            if next(iterator, _END) is _END:
                raise ValueError(
                    f"train_data has fewer batches than the interrupted epoch {epoch} had "
                    f"trained ({self.batches}); resume with the same data"
                )
            bar.update(1)
        pending = None
        if self.chunks:
            batch = next(iterator, _END)
            if batch is _END:
                raise ValueError(
                    f"train_data ended before the interrupted batch {self.batches + 1}"
                )
            pending = chunks_of(batch)[self.chunks :]
        assert self.rng is not None  # a mid-epoch checkpoint always holds it
        self.rng.restore()
        return pending

    # -------------------------------------------------------------------------- checkpoints

    def to_flat(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The "partial" part of a mid-epoch checkpoint: ``(tensors, meta)``.

        The generators after the last step are saved by the caller with the run's own.
        """
        carry_tensors, carry_spec = state_to_flat(self.state)
        assert self.epoch_rng is not None  # captured by begin() before any step
        epoch_tensors, epoch_meta = self.epoch_rng.to_flat("epoch_rng")
        meta: dict[str, Any] = {name: getattr(self, name) for name in _SAVED_FIELDS}
        meta.update(carry=carry_spec, epoch_rng=epoch_meta)
        return {**carry_tensors, **epoch_tensors}, meta

    @classmethod
    def from_flat(
        cls,
        tensors: dict[str, torch.Tensor],
        meta: dict[str, Any],
        rng: RngState,
        device: torch.device,
    ) -> EpochProgress:
        """Rebuild what :meth:`to_flat` wrote; ``rng`` holds the generators after the last step.

        Raises:
            KeyError, TypeError, ValueError: if a part is missing or malformed.
        """
        defaults = cls()
        values = {name: type(getattr(defaults, name))(meta[name]) for name in _SAVED_FIELDS}
        return cls(
            **values,
            state=state_from_flat(tensors, meta["carry"], device),
            rng=rng,
            epoch_rng=RngState.from_flat(tensors, meta["epoch_rng"], "epoch_rng"),
            loader_rng=tensors.get("loader_rng"),
            resumed=True,
        )


_END = object()

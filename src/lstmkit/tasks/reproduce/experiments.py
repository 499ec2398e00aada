"""The networks compared, and a driver that trains one until the paper's criterion holds."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lstmkit.nn import SequenceEncoder
from lstmkit.seed import seed_everything
from lstmkit.tasks.reproduce.generators import SequenceBatch
from lstmkit.tasks.reproduce.paper import lstm_sequences_to_beat
from lstmkit.tasks.reproduce.specs import Spec, spec_for, with_overrides
from lstmkit.train import TrainConfig, Trainer
from lstmkit.train.scope import active_callbacks

__all__ = [
    "INITS",
    "MODELS",
    "RunResult",
    "SequenceNet",
    "build_network",
    "check_run_args",
    "default_init",
    "evaluate_on",
    "run_experiment",
    "train_network",
]

MODELS = ("lstm", "gru", "rnn")
INITS = ("default", "chrono")


class SequenceNet(nn.Module):
    """A recurrent layer read out by a linear layer, at every step or at each sequence's end.

    Args:
        model: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh): the cell of an `lstmkit.nn`
            `SequenceEncoder` of one layer, lstmkit's torch-compatible layers.
        input_size: features per step.
        hidden_size: units of the recurrent layer.
        output_size: outputs of the read-out.
        per_step: read out every step (next-symbol prediction) rather than only the last.
        init: ``"default"`` (torch's initialisation) or ``"chrono"`` (LSTM only: forget-gate
            bias log(U(1, t_max - 1)), input-gate bias its negative; Tallec & Ollivier 2018).
        t_max: the longest lag chrono initialisation should make easy, in steps.

    Inputs: inputs (B, L, input_size), lengths (B,)
    Outputs: (B, L, output_size) when ``per_step``, else (B, output_size).

    >>> net = SequenceNet("lstm", 2, 16, 1, init="chrono", t_max=110)
    >>> net(torch.zeros(3, 12, 2), torch.tensor([12, 10, 11])).shape
    torch.Size([3, 1])
    """

    def __init__(
        self,
        model: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        per_step: bool = False,
        init: str = "default",
        t_max: float | None = None,
    ) -> None:
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        if init == "chrono" and model != "lstm":
            raise ValueError(f"init='chrono' sets LSTM gate biases; use init='default' for {model}")
        chrono = {"init": "chrono", "t_max": t_max} if init == "chrono" else {}
        self.encoder = SequenceEncoder(
            input_size=input_size, hidden_size=hidden_size, cell=model, **chrono
        )
        self.head = nn.Linear(hidden_size, output_size)
        self.per_step = per_step

    @property
    def rnn(self) -> nn.Module:
        """The recurrent layer itself (its gate biases are what chrono initialisation sets)."""
        return self.encoder.rnn

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        # The layer runs over the padding too: it is causal, so the outputs at valid steps
        # are unchanged, and the unpadded batch keeps the fast native kernel (measured 6x faster
        # than passing `lengths=` to the LSTM on the adding problem).
        output, _ = self.encoder(inputs)  # (B, L, H)
        if self.per_step:
            return self.head(output)  # (B, L, O)
        last = output[torch.arange(output.shape[0]), lengths - 1]  # (B, H)
        return self.head(last)  # (B, O)


# Test sequences scored before the whole test set: a cheap check that skips the full
# evaluation (10x the cost) while the network is clearly not there yet.
_PRECHECK = 256
_EVAL_CHUNK = 512


@dataclass
class RunResult:
    """One training run, scored on the experiment's fixed test set.

    Attributes:
        experiment, setting: what was run (``adding``, ``T=500``).
        model, init: the network (``lstm``, ``chrono``).
        solved: the paper's criterion holds on the test set (at most ``max_wrong`` wrong).
        wrong, total: test sequences failing the criterion, and the test set's size.
        error, error_name: the experiment's error measure on the test set (e.g. MSE).
        sequences: training sequences seen until solved (or until the budget ended).
        seconds: wall time of training and evaluation.
        paper_sequences: training sequences the paper's LSTM needed.
        config: the settings used (hidden size, batch size, lr, seed, budget).
        history: one record per evaluation: sequences, wrong fraction, error, train loss.
    """

    experiment: str
    setting: str
    model: str
    init: str
    solved: bool
    wrong: int
    total: int
    error: float
    error_name: str
    sequences: int
    seconds: float
    paper_sequences: int
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field."""
        return asdict(self)


def evaluate_on(spec: Spec, net: nn.Module, test: SequenceBatch) -> tuple[int, float]:
    """Score ``net`` on ``test``: (number of sequences failing the criterion, error measure).

    Args:
        spec: the experiment.
        net: the network, called as ``net(inputs, lengths)``.
        test: the sequences to score.

    Returns:
        ``(wrong, error)``; the error is averaged over chunks weighted by their size, except
        a maximum (``max abs error``), which is the maximum over chunks.
    """
    was_training = net.training
    net.eval()
    wrong, errors, sizes = 0, [], []
    with torch.no_grad():
        for start in range(0, len(test), _EVAL_CHUNK):
            chunk = test.subset(slice(start, start + _EVAL_CHUNK))
            out = net(chunk.inputs, chunk.lengths)
            wrong += int((~spec.correct(out, chunk)).sum())
            errors.append(float(spec.error(out, chunk)))
            sizes.append(len(chunk))
    net.train(was_training)
    if spec.error_name.startswith("max"):
        return wrong, max(errors)
    return wrong, float(np.average(errors, weights=sizes))


class _Tally:
    """Training sequences drawn and wall time since the start, for the history and result."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.sequences = 0

    def seconds(self) -> float:
        return time.perf_counter() - self.start


def check_run_args(model: str, init: str, budget_minutes: float, max_sequences: int | None) -> None:
    """Refuse a model, initialisation or budget that `run_experiment` cannot run, naming it."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    if isinstance(budget_minutes, bool) or not isinstance(budget_minutes, (int, float)):
        raise TypeError(f"budget_minutes must be a number, got {budget_minutes!r}")
    if not budget_minutes > 0:
        raise ValueError(f"budget_minutes must be > 0, got {budget_minutes}")
    if max_sequences is not None and (not isinstance(max_sequences, int) or max_sequences < 1):
        raise ValueError(f"max_sequences must be a positive int or None, got {max_sequences!r}")


def run_experiment(
    name: str,
    *,
    T: int | None = None,
    model: str = "lstm",
    init: str | None = None,
    budget_minutes: float = 20.0,
    max_sequences: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    **overrides: Any,
) -> RunResult:
    """Train a fresh network on one experiment until it is solved or the budget is spent.

    Training uses lstmkit's loop (``lstmkit.train.Trainer``) on freshly generated
    mini-batches with Adam (SGD for the long lag, see ``specs``) and gradient clipping at 1.0;
    every ``eval_every`` sequences the network is scored on the experiment's fixed test set
    with the paper's criterion, and the run stops when that holds or the budget is spent.

    Args:
        name: ``reber``, ``longlag``, ``adding`` or ``temporal-order``.
        T: the adding problem's minimal length, or the long-lag experiment's p.
        model: ``lstm``, ``gru`` or ``rnn`` (tanh).
        init: ``chrono`` or ``default``; None picks chrono for the LSTM, default otherwise.
        budget_minutes: wall-time limit of training.
        max_sequences: optional limit on training sequences.
        seed: seeds the network's initialisation and the training data.
        log: called with one line per evaluation (e.g. ``print``); None is silent.
        checkpoint_dir: where the loop's checkpoints go (None: none are written).
        resume: continue the interrupted run saved in ``checkpoint_dir``.
        **overrides: replace the experiment's defaults: ``hidden_size``, ``batch_size``,
            ``lr``, ``optimizer``, ``eval_every``, and ``max_wrong``, the fraction of test
            sequences allowed wrong for "solved" (0.01 for adding and temporal order).

    Returns:
        The ``RunResult``, scored on the whole test set after training.
    """
    init = default_init(model) if init is None else init
    check_run_args(model, init, budget_minutes, max_sequences)
    spec = with_overrides(spec_for(name, T), overrides)
    return train_network(
        spec, model, init, budget_minutes, max_sequences, seed, log,
        checkpoint_dir=checkpoint_dir, resume=resume,
    )[1]  # fmt: skip


def default_init(model: str) -> str:
    """Chrono initialisation for the LSTM, torch's default for the others."""
    return "chrono" if model == "lstm" else "default"


def build_network(spec: Spec, model: str, init: str) -> SequenceNet:
    """The network `spec` trains: its sizes, read-out and (for chrono) longest lag."""
    return SequenceNet(
        model, spec.input_size, spec.hidden_size, spec.output_size,
        per_step=spec.per_step, init=init, t_max=spec.t_max if init == "chrono" else None,
    )  # fmt: skip


def train_network(
    spec: Spec,
    model: str,
    init: str,
    budget_minutes: float,
    max_sequences: int | None,
    seed: int,
    log: Callable[[str], None] | None = None,
    *,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> tuple[SequenceNet, RunResult]:
    """`run_experiment` on a checked spec: the trained network and its result."""
    seed_everything(seed)
    net = build_network(spec, model, init)
    test = spec.test_set()
    tally = _Tally()
    label = f"{spec.name} {spec.setting} {model}/{init}"
    steps = None if max_sequences is None else -(-max_sequences // spec.batch_size)
    history = _train(
        spec, net, test, tally, seed, None if log is None else (label, log),
        max_seconds=60.0 * budget_minutes, max_steps=steps,
        checkpoint_dir=checkpoint_dir, resume=resume,
    )  # fmt: skip
    wrong, error = evaluate_on(spec, net, test)
    settings = {k: getattr(spec, k) for k in ("hidden_size", "batch_size", "lr", "optimizer")}
    return net, RunResult(
        experiment=spec.name, setting=spec.setting, model=model, init=init,
        solved=wrong <= spec.max_wrong * len(test), wrong=wrong, total=len(test), error=error,
        error_name=spec.error_name, sequences=tally.sequences, seconds=tally.seconds(),
        paper_sequences=lstm_sequences_to_beat(spec.name, spec.setting),
        config={**settings, "max_wrong": spec.max_wrong, "eval_every": spec.eval_every,
                "seed": seed, "budget_minutes": budget_minutes, "max_sequences": max_sequences},
        history=history,
    )  # fmt: skip


def _train(
    spec: Spec,
    net: nn.Module,
    test: SequenceBatch,
    tally: _Tally,
    seed: int,
    log: tuple[str, Callable[[str], None]] | None,
    *,
    max_seconds: float,
    max_steps: int | None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> list[dict[str, Any]]:
    """Train ``net`` on lstmkit's loop, one "epoch" per evaluation period, until solved or
    out of time or steps (the loop's own budgets); returns the history."""
    rng = np.random.default_rng(seed)
    batches_per_eval = max(1, spec.eval_every // spec.batch_size)
    drawn = [0]  # batches drawn from rng so far

    def draw() -> SequenceBatch:
        drawn[0] += 1
        tally.sequences += spec.batch_size
        return spec.train_data(rng, spec.batch_size)

    def train_data(epoch: int) -> Iterator[SequenceBatch]:
        # A resumed run starts at a later epoch: draw the earlier epochs' batches first, so
        # that this epoch's are the ones the uninterrupted run trained on.
        while drawn[0] < (epoch - 1) * batches_per_eval:
            draw()
        for _ in range(batches_per_eval):
            yield draw()

    def objective(net: nn.Module, batch: SequenceBatch, state: Any) -> Tensor:
        return spec.loss(net(batch.inputs, batch.lengths), batch)

    def evaluate(net: nn.Module, _: Any) -> dict[str, float]:
        metrics = _score(spec, net, test)
        metrics.update(sequences=tally.sequences, elapsed=tally.seconds())
        if log is not None:
            log[1](_progress_line(log[0], spec.error_name, metrics))
        if metrics["wrong_fraction"] <= spec.max_wrong:
            trainer.request_stop()
        return metrics

    config = TrainConfig(
        epochs=10**9, max_seconds=max_seconds, max_steps=max_steps,
        optimizer=spec.optimizer, lr=spec.lr, clip_norm=1.0, monitor="wrong_fraction",
        restore_best=False, seed=seed, progress=False,
        checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
    )  # fmt: skip
    # An enclosing extra_callbacks block's callbacks too, as `fit` runs them (the CLI's
    # resume record, a search's reporting).
    trainer = Trainer(net, objective, config, evaluate=evaluate, callbacks=active_callbacks())
    return trainer.fit(train_data, resume=resume).history


def _score(spec: Spec, net: nn.Module, test: SequenceBatch) -> dict[str, float]:
    """Wrong fraction and error, on a slice of the test set first and on all of it if promising."""
    if len(test) > _PRECHECK:
        wrong, error = evaluate_on(spec, net, test.subset(slice(0, _PRECHECK)))
        if wrong > 2 * spec.max_wrong * _PRECHECK:
            return {"wrong_fraction": wrong / _PRECHECK, "error": error, "scored": _PRECHECK}
    wrong, error = evaluate_on(spec, net, test)
    return {"wrong_fraction": wrong / len(test), "error": error, "scored": float(len(test))}


def _progress_line(label: str, error_name: str, metrics: dict[str, float]) -> str:
    return (
        f"{label}: {int(metrics['sequences']):>9,} sequences {metrics['elapsed']:7.1f}s  "
        f"wrong {metrics['wrong_fraction']:6.1%} of {int(metrics['scored'])}  "
        f"{error_name} {metrics['error']:.4g}"
    )

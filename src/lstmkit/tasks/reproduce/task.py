"""One 1997 experiment as a Task: train the network, score it, save it, load it back."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from lstmkit.io import INDEX, ArtifactError, load_artifact, save_artifact
from lstmkit.tasks.reproduce.experiments import (
    RunResult,
    SequenceNet,
    build_network,
    check_run_args,
    default_init,
    evaluate_on,
    train_network,
)
from lstmkit.tasks.reproduce.generators import SequenceBatch
from lstmkit.tasks.reproduce.specs import Spec, spec_for, with_overrides
from lstmkit.train.checkpoint import CheckpointError, check_state_dict

__all__ = ["ReproduceConfig", "Reproduction"]


@dataclass
class ReproduceConfig:
    """One run of `lstmkit reproduce`: which experiment, which network, its budget and seed.

    Args:
        experiment: ``reber``, ``longlag``, ``adding`` or ``temporal-order``. Default adding.
        T: the adding problem's minimal length or the long lag's p; None: the paper's 100.
        model: ``lstm``, ``gru`` or ``rnn`` (tanh). Default lstm.
        init: ``chrono`` or ``default``; None picks chrono for the LSTM, default otherwise.
        budget_minutes: wall-time limit of training. Default 20.
        max_sequences: optional limit on training sequences. Default None.
        seed: seeds the network's initialisation and the training data. Default 0.
        settings: replacements for the experiment's defaults (``hidden_size``, ``batch_size``,
            ``lr``, ``optimizer``, ``eval_every``, ``max_wrong``). Default none.
    """

    experiment: str = "adding"
    T: int | None = None
    model: str = "lstm"
    init: str | None = None
    budget_minutes: float = 20.0
    max_sequences: int | None = None
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.init is None:
            self.init = default_init(self.model)
        check_run_args(self.model, self.init, self.budget_minutes, self.max_sequences)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        self.spec()  # refuses an unknown experiment, a bad size or an unknown setting

    def spec(self) -> Spec:
        """The experiment's spec with ``settings`` applied."""
        return with_overrides(spec_for(self.experiment, self.T), dict(self.settings))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict, saved with the network."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReproduceConfig:
        """Rebuild from :meth:`to_dict` output, rejecting unknown fields."""
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown ReproduceConfig fields {unknown}")
        return cls(**data)


class Reproduction:
    """An experiment of Hochreiter & Schmidhuber (1997) with one network, on the Task shape.

    ``fit`` trains until the paper's criterion holds on the fixed test set or the budget is
    spent (`run_experiment`); the experiment makes its own training sequences, so ``fit``
    takes no data. ``evaluate`` and ``predict`` take a `SequenceBatch` (default: the test set).

    Args:
        config: the run; defaults to ``ReproduceConfig()`` (adding, T=100, LSTM, chrono).

    >>> r = Reproduction(ReproduceConfig("adding", T=10, max_sequences=64))
    >>> r.fit().evaluate()["total"]
    2560
    """

    kind: ClassVar[str] = "reproduce"

    def __init__(self, config: ReproduceConfig | None = None) -> None:
        if config is not None and not isinstance(config, ReproduceConfig):
            raise TypeError(f"config must be a ReproduceConfig, got {type(config).__name__}")
        self.config = config or ReproduceConfig()
        self.net: SequenceNet | None = None
        self.result: RunResult | None = None

    def fit(self, data: None = None, *, log: Callable[[str], None] | None = None) -> Reproduction:
        """Train a fresh network; ``self.result`` holds the run's `RunResult`.

        Args:
            data: must be None: the experiment generates its training sequences.
            log: called with one line per evaluation (e.g. ``print``).

        Returns:
            self, trained.
        """
        if data is not None:
            raise TypeError(
                f"{self.config.experiment} generates its own training sequences; call fit() "
                f"without data, got a {type(data).__name__}"
            )
        cfg = self.config
        self.net, self.result = train_network(
            cfg.spec(), cfg.model, str(cfg.init), cfg.budget_minutes, cfg.max_sequences,
            cfg.seed, log,
        )  # fmt: skip
        return self

    def evaluate(self, data: SequenceBatch | None = None) -> dict[str, Any]:
        """The paper's criterion and error on ``data`` (default: the experiment's test set).

        Returns:
            ``{"solved", "wrong", "total", "error", "error_name"}``: solved when at most
            ``max_wrong`` of the sequences fail the criterion.
        """
        spec, net = self.config.spec(), self._trained()
        test = spec.test_set() if data is None else data
        wrong, error = evaluate_on(spec, net, test)
        return {
            "solved": wrong <= spec.max_wrong * len(test),
            "wrong": wrong,
            "total": len(test),
            "error": error,
            "error_name": spec.error_name,
        }

    def predict(self, data: SequenceBatch) -> Tensor:
        """The network's outputs on ``data``: (B, L, O) per step, or (B, O) at each end."""
        net = self._trained()
        was_training = net.training
        net.eval()
        with torch.no_grad():
            out = net(data.inputs, data.lengths)
        net.train(was_training)
        return out

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the network, config and result as one artifact; returns its ``artifact.json``."""
        net = self._trained()
        result = None if self.result is None else self.result.to_dict()
        config = {"reproduce": self.config.to_dict(), "result": result}
        return save_artifact(directory, self.kind, config, net.state_dict())

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Reproduction:
        """Read a saved run; ArtifactError, naming the file, if it is corrupt or foreign."""
        artifact = load_artifact(directory, cls.kind)
        index = artifact.path / INDEX
        try:
            config = ReproduceConfig.from_dict(artifact.config["reproduce"])
            saved = artifact.config["result"]
            result = None if saved is None else RunResult(**saved)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{index} does not describe a reproduce run: {exc!r}") from None
        net = build_network(config.spec(), config.model, str(config.init))
        try:
            check_state_dict(artifact.tensors, net, f"the weights of {index}")
        except CheckpointError as exc:
            raise ArtifactError(str(exc)) from None
        net.load_state_dict(artifact.tensors)
        run = cls(config)
        run.net, run.result = net.eval(), result
        return run

    def _trained(self) -> SequenceNet:
        if self.net is None:
            raise ValueError("this Reproduction is not trained; call fit() or Reproduction.load")
        return self.net

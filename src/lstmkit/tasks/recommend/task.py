"""Recommender: train a session-based next-item RNN, rank, evaluate, save and load it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from lstmkit.data.sessions import SessionChunk, SessionParallelBatches, SessionShare
from lstmkit.io import ArtifactError, load_artifact, save_artifact
from lstmkit.metrics.ranking import RankingAccumulator
from lstmkit.nn.item_losses import (
    bpr_max_loss,
    full_softmax_loss,
    popularity_sampler,
    sampled_softmax_loss,
)
from lstmkit.seed import seed_everything
from lstmkit.train import TrainConfig, fit
from lstmkit.train.distributed import from_main_process

from .config import RecommendConfig
from .data import ItemVocabulary, Sessions
from .evaluate import rank_model
from .model import SessionRNN

__all__ = ["Recommender"]

KIND = "recommend"
ITEMS_FILE = "items.json"
HISTORY_FILE = "history.json"
DESCRIPTIONS_FILE = "descriptions.json"


class Recommender:
    """Next-item recommendation from sessions with an lstmkit GRU/LSTM (GRU4Rec's design).

    ``fit(train, val)`` builds the item vocabulary from the training sessions and trains on
    session-parallel mini-batches; with validation sessions it keeps the epoch with the best
    validation MRR@k and, with ``config.refit``, trains a fresh model on training plus
    validation sessions for that many epochs. ``evaluate(test)`` ranks all items at every
    position of every test session (test items unseen in training removed).

    Args:
        config: a RecommendConfig (defaults if None).

    >>> from lstmkit.tasks.recommend import Recommender, RecommendConfig, Sessions
    >>> import numpy as np
    >>> log = Sessions([["a", "b", "c"]] * 40, np.arange(40.0), [str(i) for i in range(40)])
    >>> config = RecommendConfig(epochs=20, lr=0.05, batch_size=8, embedding_dim=8, hidden_size=8)
    >>> rec = Recommender(config).fit(log)
    >>> rec.predict(["a", "b"], k=1)[0][0]
    'c'
    """

    kind: ClassVar[str] = KIND

    def __init__(self, config: RecommendConfig | None = None) -> None:
        self.config = config or RecommendConfig()
        self.vocab: ItemVocabulary | None = None
        self.model: SessionRNN | None = None
        self.history: list[dict[str, Any]] = []
        self.selection: list[dict[str, Any]] = []  # the validation phase's history (refit)
        self.best_epoch: int | None = None
        self.train_seconds = 0.0
        self.trained_on: Sessions | None = None
        self.descriptions: dict[str, str] = {}  # item -> description, shown by predict

    # -- training --------------------------------------------------------------------------
    def fit(
        self,
        train: Sessions,
        val: Sessions | None = None,
        *,
        checkpoints: Callable[[int], Path] | None = None,
        resume: bool = False,
    ) -> Recommender:
        """Train on ``train``; ``val`` picks the epoch (and joins training with ``refit``).

        Args:
            train: the training sessions.
            val: validation sessions, or None.
            checkpoints: ``phase -> folder`` for training checkpoints (phase 0: the first
                training, 1: the refit); None writes none.
            resume: continue an interrupted run from those folders: a phase whose folder
                holds a checkpoint resumes (a finished one returns at once), the rest start.

        Returns:
            self.
        """
        cfg = self.config
        start = time.perf_counter()
        budget = None if cfg.max_minutes is None else cfg.max_minutes * 60.0
        refit = cfg.refit and val is not None and len(val) > 0
        if val is not None and len(val) == 0:
            val = None
        if refit and budget is not None:
            budget /= 2  # the selection run and the refit share the budget

        def folder(phase: int) -> tuple[Path | None, bool]:
            path = None if checkpoints is None else Path(checkpoints(phase))
            return path, resume and path is not None and (path / "checkpoint.json").is_file()

        result = self._train(train, val, cfg.epochs, budget, 0, *folder(0))
        if refit:
            self.selection, self.best_epoch = self.history, result.best_epoch or cfg.epochs
            result = self._train(train + val, None, self.best_epoch, budget, 1, *folder(1))
        self.trained_on = train + val if refit else train
        self.train_seconds = time.perf_counter() - start
        return self

    def _train(
        self,
        train: Sessions,
        val: Sessions | None,
        epochs: int,
        budget: float | None,
        phase: int = 0,
        checkpoint_dir: Path | None = None,
        resume: bool = False,
    ):
        cfg = self.config
        self.vocab = ItemVocabulary.build(train.items, cfg.min_item_support)
        sessions = self.vocab.encode_all(train, cfg.min_session_length)
        if not sessions:
            raise ValueError(f"no training session keeps {cfg.min_session_length} known items")
        # The initial weights come from the seed (not from whatever ran before), so that the
        # same seed gives the same recommender, and a resumed run the uninterrupted one's.
        seed_everything(cfg.seed + phase)
        self.model = SessionRNN(
            len(self.vocab) + 1,
            embedding_dim=cfg.embedding_dim,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            cell=cfg.cell,
            dropout=cfg.dropout,
            tie_embeddings=cfg.tie_embeddings,
        )
        batches = SessionParallelBatches(sessions, cfg.batch_size, cfg.steps, shuffle=cfg.shuffle)
        val_sessions = None if val is None else self.vocab.encode_all(val)
        train_cfg = TrainConfig(
            epochs=epochs,
            optimizer="adam",
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            schedule="cosine",
            schedule_per="step",
            min_lr=cfg.lr / 20,
            clip_norm=5.0,
            stateful=True,
            seed=cfg.seed,
            max_seconds=budget,
            progress=cfg.progress,
            monitor=f"mrr@{cfg.k}" if val_sessions else "train_loss",
            mode="max" if val_sessions else "min",
            patience=cfg.patience if val_sessions else None,
            checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
        )
        result = fit(
            self.model,
            self._objective(),
            batches,
            train_cfg,
            val_data=val_sessions or None,
            evaluate=self._validate if val_sessions else None,
            resume=resume,
        )
        self.history = result.history
        return result

    def _objective(self):
        cfg = self.config
        counts = torch.from_numpy(self.vocab.counts[1:])
        positions = cfg.batch_size * cfg.steps
        probs, log_q = popularity_sampler(counts, cfg.sample_alpha, cfg.negatives, positions)

        def objective(model: SessionRNN, chunk: SessionChunk | SessionShare, state: Any):
            hidden, state = model(chunk.inputs, chunk.starts, state)
            net = getattr(model, "module", model)  # under DDP: the SessionRNN it wraps
            h = hidden[chunk.mask]  # (N, H) the real steps only
            y = chunk.targets[chunk.mask] - 1  # rows of item_weight()
            weight, bias = net.item_weight(), net.item_bias[1:]
            negatives = None
            if cfg.loss != "ce":  # DDP: every rank keeps rank 0's draw, one candidate set
                negatives = from_main_process(
                    torch.multinomial(probs, cfg.negatives, replacement=True)
                )
            if len(h) == 0:  # DDP: this rank's slots idle all chunk; zero, reaching every weight
                return (hidden.sum() + weight.sum() + bias.sum()) * 0.0, state
            if cfg.loss == "ce":
                return full_softmax_loss(h, y, weight, bias), state
            # A rank's share meets the whole chunk's targets as candidates, as one process does.
            whole = getattr(chunk, "batch_targets", None)  # a SessionShare's (DDP)
            share = {"batch_targets": None if whole is None else whole - 1,
                     "offset": getattr(chunk, "offset", 0)}  # fmt: skip
            if cfg.loss == "sampled":
                loss = sampled_softmax_loss(h, y, weight, bias, negatives, log_q, **share)
                return loss, state
            return bpr_max_loss(h, y, weight, bias, negatives, cfg.bpr_reg, **share), state

        return objective

    def _validate(self, model: SessionRNN, sessions: list[np.ndarray]) -> dict[str, float]:
        acc = self._accumulator()
        rank_model(model, sessions, acc)
        summary = acc.summary()
        return {
            f"recall@{self.config.k}": summary[f"recall@{self.config.k}"],
            f"mrr@{self.config.k}": summary[f"mrr@{self.config.k}"],
        }

    def _accumulator(self, depth: int | None = None) -> RankingAccumulator:
        return RankingAccumulator(self.config.ks, self.vocab.counts, exclude=[0], depth=depth)

    # -- using -----------------------------------------------------------------------------
    def _fitted(self) -> tuple[ItemVocabulary, SessionRNN]:
        if self.model is None or self.vocab is None:
            raise ValueError("the recommender is not trained: call fit() or load() first")
        return self.vocab, self.model

    def encode(self, sessions: Sessions) -> list[np.ndarray]:
        """Sessions as item ids of this model; items it never saw are removed, and sessions
        left with fewer than 2 items dropped (the protocol for test data)."""
        vocab, _ = self._fitted()
        return vocab.encode_all(sessions, 2)

    def evaluate(self, data: Sessions, depth: int | None = None) -> dict[str, float]:
        """Recall@k, MRR@k (each k of config.ks), coverage and popularity bias at the largest
        k, over every position of ``data`` (see `ranking`); ``positions`` counts them."""
        return self.ranking(data, depth).summary()

    def ranking(self, data: Sessions, depth: int | None = None) -> RankingAccumulator:
        """The accumulated ranks and top-k lists of every position of ``data``."""
        _, model = self._fitted()
        encoded = self.encode(data)
        if not encoded:
            raise ValueError("no session of the data keeps 2 items the model knows")
        return rank_model(model, encoded, self._accumulator(depth))

    @torch.no_grad()
    def predict(
        self, data: Sequence[str] | Sequence[Sequence[str]], k: int | None = None
    ) -> list[list[str]]:
        """The top-k next items after each session: ``data`` is one session (item ids) or a
        list of them. Items the model never saw are skipped; a session with none known raises.

        Returns:
            One list of k item ids per session, best first.
        """
        vocab, model = self._fitted()
        many = len(data) > 0 and not isinstance(data[0], str)
        sessions = [list(map(str, s)) for s in data] if many else [list(map(str, data))]
        model.eval()
        out = []
        for session in sessions:
            ids = vocab.encode(session)
            if len(ids) == 0:
                raise ValueError(
                    f"no item of the session {session[:5]} is known to the model; "
                    f"it knows {len(vocab)} items such as {vocab.items[:3]}"
                )
            hidden = model.encode(torch.from_numpy(ids)[None], torch.tensor([len(ids)]))
            scores = model.scores(hidden[0, -1:])[0]  # (V + 1,), the padding id at -inf
            out.append(
                vocab.decode(scores.topk(min(k or self.config.k, len(vocab))).indices.tolist())
            )
        return out if many else out[:1]

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the model, its vocabulary (with supports) and histories as one artifact."""
        vocab, model = self._fitted()
        items = {"items": vocab.items, "counts": vocab.counts[1:].tolist()}
        config = {
            "recommend": self.config.to_dict(),
            "best_epoch": self.best_epoch,
            "train_seconds": self.train_seconds,
        }
        history = {"history": self.history, "selection": self.selection}
        files = {
            DESCRIPTIONS_FILE: json.dumps(self.descriptions).encode(),
            ITEMS_FILE: json.dumps(items).encode(),
            HISTORY_FILE: json.dumps(history, default=float).encode(),
        }
        return save_artifact(directory, KIND, config, model.state_dict(), files)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Recommender:
        """Read and verify an artifact `save` wrote."""
        artifact = load_artifact(directory, KIND)
        try:
            rec = cls(RecommendConfig.from_dict(artifact.config["recommend"]))
            items = json.loads(artifact.text(ITEMS_FILE))
            rec.vocab = ItemVocabulary(items["items"], items["counts"])
        except (KeyError, TypeError, ValueError) as err:
            raise ArtifactError(f"{artifact.path} holds a broken recommend config: {err}") from None
        cfg = rec.config
        rec.model = SessionRNN(
            len(rec.vocab) + 1,
            embedding_dim=cfg.embedding_dim,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            cell=cfg.cell,
            dropout=cfg.dropout,
            tie_embeddings=cfg.tie_embeddings,
        )
        try:
            rec.model.load_state_dict(artifact.tensors)
        except RuntimeError as err:
            raise ArtifactError(
                f"{artifact.path}: the weights do not fit the model: {err}"
            ) from None
        rec.model.eval()
        history = json.loads(artifact.text(HISTORY_FILE))
        rec.history, rec.selection = history["history"], history["selection"]
        rec.descriptions = json.loads(artifact.text(DESCRIPTIONS_FILE))
        rec.best_epoch = artifact.config.get("best_epoch")
        rec.train_seconds = float(artifact.config.get("train_seconds", 0.0))
        return rec

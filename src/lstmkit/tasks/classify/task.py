"""Classifier: fit, predict, evaluate, save and load a (Bi)LSTM sequence classifier ensemble."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lstmkit.data.batching import SequenceBatches
from lstmkit.data.text import Tokenizer
from lstmkit.data.validate import check_values
from lstmkit.io import INDEX, Artifact, ArtifactError, load_artifact, save_artifact
from lstmkit.metrics.classification import classification_report
from lstmkit.train import TrainConfig, fit
from lstmkit.train.checkpoint import CheckpointError, check_state_dict

from .config import ClassifyConfig
from .data import (
    LabelledTexts,
    read_csv_frame,
    read_sequence_csv,
    read_text_csv,
)
from .inputs import (
    KINDS,
    Data,
    RawData,
    fill_labels,
    split_inputs,
    texts_by_group,
    validation_split,
)
from .model import SequenceClassifier

__all__ = ["Classifier", "ClassifyConfig"]

AUTO_EPOCHS = 40  # epochs=None trains this many epochs, or more to reach min_steps
TOKENIZER = "tokenizer.json"  # the text vocabulary, an extra file of the artifact


class Classifier:
    """Train and use a sequence classifier on numeric sequences or texts.

    Numeric inputs are standardised with the training set's per-feature mean and std;
    texts are tokenized with a vocabulary built from the training texts. Training uses
    lstmkit's loop (`lstmkit.train.fit`) with length-bucketed batches. `read_csv` reads a
    CSV with the columns named in the config, so new data is read as the training data was.

    Args:
        config: a ClassifyConfig (default settings if None).

    Example:
        >>> from lstmkit.tasks.classify import Classifier, ClassifyConfig, load_japanese_vowels
        >>> clf = Classifier(ClassifyConfig(epochs=2)).fit(load_japanese_vowels("train"))
        >>> report = clf.evaluate(load_japanese_vowels("test"))
        >>> labels = clf.predict([torch.randn(20, 12)])  # raw (T, F) sequences or texts
    """

    kind: ClassVar[str] = "classify"

    def __init__(self, config: ClassifyConfig | None = None):
        self.config = config or ClassifyConfig()
        self.classes: list[str] = []
        self.input_kind = ""  # "numeric" or "text", fixed by fit
        self.tokenizer: Tokenizer | None = None
        self.mean = self.std = torch.empty(0)
        self.features: list[str] = []  # numeric: the feature columns it was trained on
        self.members: list[SequenceClassifier] = []
        self.histories: list[list[dict]] = []

    # -- inputs ----------------------------------------------------------------------------
    def read_csv(self, source: str | Path | pd.DataFrame, *, labelled: bool = True) -> Data:
        """Read a CSV with the columns of `config` (text_col, label_col, id_col, ...).

        Args:
            source: CSV path or DataFrame: texts (one a row) or numeric long form.
            labelled: require the label column; with False a CSV without it reads as
                unlabelled data (empty `labels`), one with it keeps its labels (a missing
                one reads as "", a label no model knows).

        Returns:
            LabelledTexts or LabelledSequences (numeric: the trained feature columns, in order).
        """
        cfg = self.config
        df = read_csv_frame(source)
        label = cfg.label_col if labelled or cfg.label_col in df.columns else None
        if label is not None and not labelled:
            df = df.assign(**{label: fill_labels(df[label])})
        text_col = cfg.text_col or ("text" if self.input_kind == "text" else None)
        if text_col is not None:
            return read_text_csv(df, text_col=text_col, label_col=label)
        return read_sequence_csv(
            df, label_col=label, id_col=cfg.id_col, step_col=cfg.step_col,
            feature_cols=cfg.features or self.features or None,
        )  # fmt: skip

    def _encode(self, data: Data | RawData) -> list[torch.Tensor]:
        kind, items = split_inputs(data)
        if kind != self.input_kind:
            raise TypeError(
                f"this classifier was trained on {KINDS[self.input_kind]}, not {KINDS[kind]}"
            )
        if kind == "text":
            return [torch.tensor(self.tokenizer.encode(t) or [1]) for t in items]
        width = len(self.mean) // (2 if self.config.deltas else 1)
        for i, s in enumerate(items):
            if s.dim() != 2 or s.shape[1] != width:
                raise ValueError(f"sequence {i} has shape {tuple(s.shape)}; expected (T, {width})")
            if len(s) == 0:
                raise ValueError(f"sequence {i} has no steps; every sequence needs at least one")
            names = self.features or [f"feature {j}" for j in range(width)]
            check_values(s.double().numpy(), names, what=f"sequence {i} (rows are its steps)")
        return [(self._features(s) - self.mean) / self.std for s in items]

    def _features(self, seq: torch.Tensor) -> torch.Tensor:
        """The model's input features of one raw sequence (T, F): with deltas (T, 2F)."""
        seq = seq.float()
        if not self.config.deltas:
            return seq
        return torch.cat([seq, torch.diff(seq, dim=0, prepend=seq[:1])], dim=1)

    def _label_ids(self, labels: list[str]) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise ValueError(f"labels {unknown[:5]} were not seen in training ({self.classes})")
        return torch.tensor([index[y] for y in labels])

    # -- training --------------------------------------------------------------------------
    def fit(
        self, train: Data, *, checkpoints: Callable[[int], Path] | None = None, resume: bool = False
    ) -> Classifier:
        """Train the ensemble on labelled sequences or texts.

        Args:
            train: LabelledSequences (numeric) or LabelledTexts.
            checkpoints: ``member -> folder`` for each member's training checkpoints.
            resume: continue an interrupted training from those folders (a member whose
                folder holds no checkpoint yet starts fresh).

        Returns:
            self.
        """
        cfg = self.config
        self._prepare(train)
        seqs, y = self._encode(train), self._label_ids(train.labels)
        fit_idx, val_idx = validation_split(y, cfg.val_fraction, cfg.seed)
        val = None
        if val_idx:
            val = SequenceBatches([seqs[i] for i in val_idx], y[val_idx], 256, shuffle=False)
            seqs, y = [seqs[i] for i in fit_idx], y[fit_idx]
        weight = None
        if cfg.class_weight == "balanced":
            counts = torch.bincount(y, minlength=len(self.classes)).float()
            weight = len(y) / (len(self.classes) * counts)
        self.members, self.histories = [], []
        for m in range(cfg.ensemble):
            # The member's seed fixes its initial weights too: the loop seeds only once the
            # model exists, so building it from whatever the global generator held made two
            # runs with the same seed differ (issue #17).
            torch.manual_seed(cfg.seed + m)
            model = self._new_model()
            batches = SequenceBatches(seqs, y, cfg.batch_size)  # shuffled by the seeded loop
            folder = None if checkpoints is None else checkpoints(m)
            train_config = self._train_config(m, len(batches), folder)
            again = resume and folder is not None and (folder / "checkpoint.json").is_file()
            result = fit(
                model, self._objective(weight), batches, train_config, val_data=val, resume=again
            )
            self.members.append(result.model.eval())
            self.histories.append(result.history)
        return self

    def _prepare(self, train: Data) -> None:
        """Classes, and the vocabulary (texts) or the standardisation (numbers), from `train`."""
        cfg = self.config
        self.classes = sorted(set(train.labels))
        if len(self.classes) < 2:
            raise ValueError(f"training data has one class only ({self.classes}); need two or more")
        if isinstance(train, LabelledTexts):
            self.input_kind = "text"
            self.tokenizer = Tokenizer.build(
                texts_by_group(train), cfg.tokens, min_freq=cfg.min_freq, lowercase=cfg.lowercase,
                min_docs=cfg.min_groups,
            )  # fmt: skip
            if len(self.tokenizer) <= 2:  # only <pad> and <unk>: every text would read the same
                raise ValueError(
                    f"--min-freq {cfg.min_freq} (with --min-groups {cfg.min_groups}) leaves no "
                    "token but <unk> in the vocabulary; lower them"
                )
            return
        self.input_kind = "numeric"
        if not train.seqs or any(len(s) == 0 for s in train.seqs):
            bad = next((i for i, s in enumerate(train.seqs) if len(s) == 0), 0)
            raise ValueError(f"sequence {bad} has no steps; every sequence needs at least one")
        frames = torch.cat([self._features(s) for s in train.seqs])
        self.mean, self.std = frames.mean(0), frames.std(0).clamp_min(1e-8)
        self.features = list(train.features)

    def _new_model(self) -> SequenceClassifier:
        cfg = self.config
        size = {"vocab_size": len(self.tokenizer)} if self.input_kind == "text" else {}
        return SequenceClassifier(
            len(self.classes),
            input_size=None if size else len(self.mean),
            **size,
            embedding_dim=cfg.embedding_dim,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            bidirectional=cfg.bidirectional,
            pooling=cfg.pooling,
            dropout=cfg.dropout,
        )

    def _objective(self, weight: torch.Tensor | None):
        noise = self.config.noise if self.input_kind == "numeric" else 0.0
        drop = self.config.token_dropout if self.input_kind == "text" else 0.0

        def objective(model, batch, state):
            x, lengths, y = batch
            if noise and model.training:
                x = x + noise * torch.randn_like(x)
            if drop and model.training:
                x = x.masked_fill((torch.rand(x.shape) < drop) & (x > 1), 1)  # 1 is <unk>
            return F.cross_entropy(model(x, lengths), y, weight=weight)

        return objective

    def _train_config(self, member: int, batches: int, folder: Path | None = None) -> TrainConfig:
        """The loop's settings: `epochs`, or with None at least `min_steps` optimizer
        steps (small data gets more epochs). The best epoch's weights are kept: by validation
        loss where there is validation data, else (the loop's fallback) by training loss."""
        cfg = self.config
        return TrainConfig(
            epochs=cfg.epochs or max(AUTO_EPOCHS, -(-cfg.min_steps // batches)),
            optimizer="adamw",
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            schedule="cosine",
            clip_norm=1.0,
            seed=cfg.seed + member,
            progress=cfg.progress,
            checkpoint_dir=None if folder is None else str(folder),
        )

    # -- using -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict_proba(self, data: Data | RawData, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, K), averaged over the ensemble, in the input's order.

        Args:
            data: LabelledSequences / LabelledTexts (their labels are not needed), or raw
                inputs: a list of texts, or of numeric sequences of shape (T, F).
            batch_size: sequences per forward pass.

        Returns:
            Array (N, K); column k is the probability of `classes[k]`.
        """
        if not self.members:
            raise ValueError("the classifier is not trained: call fit() or load() first")
        seqs = self._encode(data)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # little padding
        probs = torch.zeros(len(seqs), len(self.classes))
        batches = SequenceBatches([seqs[i] for i in order], order, batch_size, shuffle=False)
        for x, lengths, idx in batches:
            for model in self.members:
                probs[idx] += model(x, lengths).softmax(-1) / len(self.members)
        return probs.numpy()

    def predict(self, data: Data | RawData) -> list[str]:
        """The most likely class name of each sequence (inputs as for `predict_proba`)."""
        return [self.classes[i] for i in self.predict_proba(data).argmax(1)]

    def evaluate(self, data: Data) -> dict:
        """Accuracy, macro F1, per-class precision/recall and the confusion matrix on `data`."""
        y_true = self._label_ids(data.labels).numpy()
        y_pred = self.predict_proba(data).argmax(1)
        return classification_report(y_true, y_pred, self.classes)

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the classifier as one artifact (`lstmkit.io`): settings, classes,
        preprocessing and every member's weights; returns the ``artifact.json`` path."""
        if not self.members:
            raise ValueError("the classifier is not trained: call fit() or load() first")
        tensors = {
            f"member{m}.{name}": value
            for m, model in enumerate(self.members)
            for name, value in model.state_dict().items()
        }
        files = {}
        if self.input_kind == "numeric":
            tensors |= {"input.mean": self.mean, "input.std": self.std}
        else:
            files[TOKENIZER] = json.dumps(self.tokenizer.to_dict(), ensure_ascii=False).encode()
        config = {
            "settings": self.config.to_dict(),
            "classes": self.classes,
            "input_kind": self.input_kind,
            "features": self.features,
            "members": len(self.members),
        }
        return save_artifact(directory, self.kind, config, tensors, files)

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        """Rebuild a classifier written by `save`, verifying every file (nothing is unpickled).

        Raises:
            ArtifactError: (a ValueError) naming the file that is missing, corrupt or foreign.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise ArtifactError(
                f"run directory {str(directory)!r} does not exist; train a classifier into it "
                f"with `lstmkit classify --out {directory}` or pass the one `train` wrote"
            )
        if not (directory / INDEX).is_file():
            raise ArtifactError(
                f"{str(directory)!r} holds no trained classifier (no {INDEX}); pass "
                "the run directory `lstmkit classify --out DIR` wrote"
            )
        artifact = load_artifact(directory, cls.kind)
        try:
            return cls._rebuild(artifact)
        except ArtifactError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise ArtifactError(
                f"{artifact.path / INDEX} does not describe a classifier this lstmkit can "
                f"rebuild ({type(err).__name__}: {err})"
            ) from None

    @classmethod
    def _rebuild(cls, artifact: Artifact) -> Classifier:
        meta = artifact.config
        clf = cls(ClassifyConfig.from_dict(meta["settings"]))
        clf.classes, clf.input_kind = list(meta["classes"]), str(meta["input_kind"])
        clf.features = list(meta["features"])
        if clf.input_kind == "text":
            clf.tokenizer = Tokenizer.from_dict(json.loads(artifact.text(TOKENIZER)))
        elif clf.input_kind == "numeric":
            clf.mean, clf.std = artifact.tensors["input.mean"], artifact.tensors["input.std"]
        else:
            raise ValueError(f"input_kind must be 'text' or 'numeric', got {clf.input_kind!r}")
        for m in range(int(meta["members"])):
            model = clf._new_model()
            _load_weights(model, artifact, f"member{m}.")
            clf.members.append(model.eval())
        return clf


def _load_weights(model: torch.nn.Module, artifact: Artifact, prefix: str) -> None:
    """Load the artifact's tensors named ``prefix...`` into ``model``, checked first."""
    own = {k[len(prefix) :]: v for k, v in artifact.tensors.items() if k.startswith(prefix)}
    try:
        check_state_dict(own, model, f"the weights {prefix}*")
    except CheckpointError as err:
        raise ArtifactError(f"{artifact.path / INDEX}: {err}") from None
    model.load_state_dict(own)

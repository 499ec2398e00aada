"""Tagger: fit, evaluate, predict, save and load a BiLSTM(-CRF) sequence tagger."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from lstmkit.io import load_artifact, save_artifact
from lstmkit.metrics.tagging import entity_report, token_accuracy
from lstmkit.nn.crf import transition_constraints
from lstmkit.plots import LearningCurves
from lstmkit.train import TrainConfig, fit

from .config import TagConfig
from .data import EncodedSentences, TagBatch, Vocab, make_batches
from .model import BiLSTMTagger
from .readers import TaggedSentences
from .schemes import INTERNAL, convert, detect_scheme
from .strings import StringEmbedder
from .vectors import read_vectors

__all__ = ["Tagger"]

Sentences = TaggedSentences | Sequence[Sequence[str]]
_EVAL_TOKENS = 4096  # words per inference batch


class Tagger:
    """Train and use a BiLSTM tagger (softmax or CRF output) on tagged sentences.

    Chunk tags (IOB1, BIO, BIOES) are learnt in BIOES and predicted in the training
    data's scheme; other tags (parts of speech) are learnt as they are. Training uses
    lstmkit's loop with early stopping on the dev score (token accuracy, or entity F1 for
    chunk tags) and restores the best epoch's weights.

    Args:
        config: a TagConfig (default settings if None).
        strings: an optional trained `StringEmbedder` (contextual string embeddings from
            character LMs) whose per-word features join the word and character features.
        vectors: optional word -> vector initial embeddings (such as `text_vectors` of raw
            text), instead of reading ``config.pretrained``; their words join the vocabulary.

    Example:
        >>> from lstmkit.tasks.tag import Tagger, TagConfig, load_dataset
        >>> tagger = Tagger(TagConfig(epochs=1)).fit(load_dataset("ud_english_ewt", "dev"))
        >>> tagger.predict([["I", "like", "tea", "."]])  # doctest: +SKIP
        [['PRON', 'VERB', 'NOUN', 'PUNCT']]
    """

    kind: ClassVar[str] = "tag"

    def __init__(self, config: TagConfig | None = None, strings: StringEmbedder | None = None,
                 vectors: dict[str, torch.Tensor] | None = None) -> None:  # fmt: skip
        self.config = config or TagConfig()
        self.strings = strings
        self.vectors = vectors
        self.vocab: Vocab | None = None
        self.model: BiLSTMTagger | None = None
        self.scheme = "none"  # of the training data; predictions are written in it
        self.history: list[dict[str, Any]] = []

    @property
    def internal(self) -> str:
        """The scheme the model learns: BIOES for chunk tags, else the tags as they are."""
        return "none" if self.scheme == "none" else INTERNAL

    # -- data ------------------------------------------------------------------------------
    def _words(self, data: Sentences) -> list[list[str]]:
        words = data.words if isinstance(data, TaggedSentences) else data
        if isinstance(words, (str, bytes)) or not isinstance(words, Sequence):
            raise TypeError(f"expected TaggedSentences or a list of token lists, got {words!r}")
        out = []
        for i, sentence in enumerate(words):
            if isinstance(sentence, str) or not all(isinstance(w, str) for w in sentence):
                raise TypeError(f"sentence {i} must be a list of token strings, got {sentence!r}")
            if not sentence:
                raise ValueError(f"sentence {i} has no tokens; every sentence needs at least one")
            if len(sentence) > self.config.max_length:
                raise ValueError(
                    f"sentence {i} has {len(sentence)} tokens, more than max_length "
                    f"{self.config.max_length}; split it or raise --max-length"
                )
            out.append(list(sentence))
        if not out:
            raise ValueError("no sentences to tag")
        return out

    def _encode(self, data: Sentences, labelled: bool) -> EncodedSentences:
        words = self._words(data)
        tags = None
        if labelled:
            if not isinstance(data, TaggedSentences) or not data.labelled:
                raise ValueError("these sentences have no tags; give labelled data")
            tags = [convert(t, self.internal) for t in data.tags]
        features = self.strings.embed(words) if self.strings is not None else None
        return EncodedSentences(self.vocab, words, tags, features, self.config.max_chars)

    # -- training --------------------------------------------------------------------------
    def fit(self, train: TaggedSentences, dev: TaggedSentences | None = None, *,
            log_dir: str | os.PathLike[str] | None = None,
            checkpoint_dir: str | os.PathLike[str] | None = None,
            resume: bool = False) -> Tagger:  # fmt: skip
        """Train on ``train``; stop early on ``dev`` (when given) and keep its best epoch.

        Args:
            train: labelled sentences.
            dev: labelled sentences for early stopping and model selection, or None.
            log_dir: where to write the learning curve (PNG) and per-epoch history (CSV).
            checkpoint_dir: where training checkpoints go (None: none are written).
            resume: continue the interrupted training saved in ``checkpoint_dir``.

        Returns:
            self.
        """
        cfg = self.config
        self.prepare(train)
        train_data = self._encode(train, labelled=True)
        dev_batches = None
        if dev is not None:  # scored on tag strings, so a tag unseen in training is an error
            if not dev.labelled:
                raise ValueError("the dev sentences have no tags; give labelled data")
            gold = [convert(t, self.internal) for t in dev.tags]
            batches = make_batches(self._encode(dev, False), cfg.batch_size, shuffle=False,
                                   tokens=_EVAL_TOKENS)  # fmt: skip
            dev_batches = [(batch, [gold[i] for i in batch.index.tolist()]) for batch in batches]
        curves = [] if log_dir is None else [LearningCurves(Path(log_dir) / "learning_curve.png")]
        result = fit(
            self.model,
            self._objective(),
            lambda epoch: make_batches(train_data, cfg.batch_size, shuffle=True),
            dataclasses.replace(
                self._train_config(dev is not None, log_dir),
                checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
            ),
            val_data=dev_batches,
            evaluate=self._dev_score if dev is not None else None,
            callbacks=curves,
            resume=resume,
        )
        self.model = result.model.eval()
        self.history = result.history
        return self

    def prepare(self, train: TaggedSentences) -> None:
        """What `fit` sets up before training: the scheme, the vocabularies and a fresh model
        (seeded, word vectors loaded)."""
        cfg = self.config
        if not isinstance(train, TaggedSentences) or not train.labelled:
            raise ValueError("fit needs labelled TaggedSentences (read with read_conllu/conll)")
        self.scheme = detect_scheme(train.tags) if cfg.scheme == "auto" else cfg.scheme
        if self.vectors and cfg.pretrained:
            raise ValueError("give word vectors as a file (pretrained) or directly, not both")
        vectors = self.vectors or (read_vectors(cfg.pretrained) if cfg.pretrained else {})
        internal_tags = [convert(t, self.internal) for t in train.tags]
        self.vocab = Vocab.build(train.words, internal_tags, min_freq=cfg.min_freq,
                                 lowercase=cfg.lowercase, extra_words=list(vectors))  # fmt: skip
        if len(self.vocab.tags) < 2:
            raise ValueError(f"the training data has one tag only ({self.vocab.tags})")
        torch.manual_seed(cfg.seed)  # the initial weights too come from the run's seed
        self.model = self._new_model(next(iter(vectors.values())).numel() if vectors else None)
        self._load_vectors(vectors)

    @property
    def dev_metric(self) -> str:
        """The dev score training monitors: entity F1 for chunk tags, else token accuracy."""
        return "dev_accuracy" if self.internal == "none" else "dev_f1"

    def best_epoch(self) -> int:
        """The epoch of the best dev score in the training history (the first of ties)."""
        key = self.dev_metric
        rows = [row for row in self.history if row.get(key) is not None]
        if not rows:
            raise ValueError("the training history has no dev scores: fit with a dev set first")
        return int(max(rows, key=lambda row: (row[key], -row["epoch"]))["epoch"])

    def refit(self, train: TaggedSentences, dev: TaggedSentences, **fit_options: Any) -> Tagger:
        """A fresh tagger trained on train + dev for `best_epoch` epochs, with no dev set.

        The second half of a common protocol (Akbik et al. 2018 train their final models so):
        the dev set picks the number of epochs, then joins the training data. The rate
        follows its cosine over those epochs; ``fit_options`` go to `fit`.
        """
        epochs = self.best_epoch()
        config = dataclasses.replace(self.config, epochs=epochs, minutes=None, patience=None)
        both = TaggedSentences(train.words + dev.words, train.tags + dev.tags,
                               source=f"{train.source} + {dev.source}")  # fmt: skip
        return Tagger(config, self.strings, self.vectors).fit(both, None, **fit_options)

    def _new_model(self, vector_dim: int | None = None) -> BiLSTMTagger:
        cfg, vocab = self.config, self.vocab
        allowed = None
        if cfg.output == "crf" and cfg.constraints and self.internal != "none":
            allowed = transition_constraints(vocab.tags, self.internal)
        return BiLSTMTagger(
            num_words=len(vocab.words), num_chars=len(vocab.chars), num_tags=len(vocab.tags),
            word_dim=vector_dim or cfg.word_dim, char_dim=cfg.char_dim,
            char_hidden=cfg.char_hidden, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers,
            dropout=cfg.dropout, output=cfg.output, allowed=allowed,
            feature_size=self.strings.output_size if self.strings is not None else 0,
        )  # fmt: skip

    def _load_vectors(self, vectors: dict[str, torch.Tensor]) -> None:
        if not vectors:
            return
        fold = str.lower if self.vocab.lowercase else str
        folded: dict[str, torch.Tensor] = {}
        for word, vector in vectors.items():
            folded.setdefault(fold(word), vector)
        with torch.no_grad():
            table = self.model.words.weight
            for i, word in enumerate(self.vocab.words[2:], start=2):
                if word in folded:
                    table[i] = folded[word]

    def _objective(self):
        alpha = self.config.word_dropout
        counts = torch.tensor(self.vocab.counts, dtype=torch.float32)

        def objective(model: BiLSTMTagger, batch: TagBatch, state: Any) -> torch.Tensor:
            words = batch.words
            if alpha and model.training:
                rare = torch.rand(words.shape) < alpha / (alpha + counts[words])
                words = words.masked_fill(rare & (words > 1), 1)  # 1 is the unknown word
            return model(batch, words)  # forward is the loss: DDP's wrapper sees it

        return objective

    def _train_config(self, has_dev: bool, log_dir: Any) -> TrainConfig:
        cfg = self.config
        folder = None if log_dir is None else Path(log_dir)
        return TrainConfig(
            epochs=cfg.epochs, optimizer="adam", lr=cfg.lr, schedule="cosine",
            # With a time budget the rate falls per step to 0 at its end, however many epochs
            # that holds; otherwise per epoch over `epochs` (early stopping may cut it).
            schedule_per="step" if cfg.minutes else "epoch", clip_norm=cfg.clip_norm,
            patience=cfg.patience if has_dev else None,
            monitor=self.dev_metric if has_dev else "val_loss",
            mode="max" if has_dev else "min", seed=cfg.seed, progress=cfg.progress,
            max_seconds=None if cfg.minutes is None else 60 * cfg.minutes,
            log_path=None if folder is None else str(folder / "history.csv"),
        )  # fmt: skip

    def _dev_score(self, model: BiLSTMTagger, batches: list[tuple[TagBatch, list[list[str]]]]
                   ) -> dict[str, float]:  # fmt: skip
        gold, pred = [], []
        for batch, tags in batches:
            predicted = model.decode(batch)
            gold += tags
            for b, n in enumerate(batch.lengths.tolist()):
                pred.append([self.vocab.tags[i] for i in predicted[b, :n].tolist()])
        scores = {"dev_accuracy": token_accuracy(gold, pred)}
        if self.internal != "none":
            scores["dev_f1"] = entity_report(gold, pred)["f1"]
        return scores

    # -- using -----------------------------------------------------------------------------
    def _check_trained(self) -> None:
        if self.model is None or self.vocab is None:
            raise ValueError("the tagger is not trained: call fit() or load() first")

    @torch.no_grad()
    def predict(self, data: Sentences) -> list[list[str]]:
        """The predicted tags of each sentence, in the training data's scheme.

        Args:
            data: TaggedSentences (tags, if any, are ignored) or lists of tokens.
        """
        self._check_trained()
        self.model.eval()
        encoded = self._encode(data, labelled=False)
        out: list[list[str]] = [[] for _ in range(len(encoded))]
        for batch in make_batches(encoded, 64, shuffle=False, tokens=_EVAL_TOKENS):
            predicted = self.model.decode(batch)
            for b, (i, n) in enumerate(zip(batch.index.tolist(), batch.lengths.tolist())):
                tags = [self.vocab.tags[t] for t in predicted[b, :n].tolist()]
                out[i] = convert(tags, self.scheme)
        return out

    def evaluate(self, data: TaggedSentences) -> dict[str, Any]:
        """Token accuracy, the per-tag confusion matrix, and for chunk tags entity P/R/F1."""
        if not isinstance(data, TaggedSentences) or not data.labelled:
            raise ValueError("evaluate needs labelled sentences")
        predicted = self.predict(data)
        gold = [convert(t, self.scheme) for t in data.tags]
        report: dict[str, Any] = {
            "accuracy": token_accuracy(gold, predicted),
            "sentences": len(gold),
            "tokens": sum(len(g) for g in gold),
        }
        if self.scheme != "none":
            report["entities"] = entity_report(gold, predicted)
        tags = sorted({t for s in gold for t in s} | {t for s in predicted for t in s})
        index = {t: i for i, t in enumerate(tags)}
        pairs = np.array([(index[g], index[p]) for gs, ps in zip(gold, predicted)
                          for g, p in zip(gs, ps)])  # fmt: skip
        matrix = np.zeros((len(tags), len(tags)), dtype=np.int64)
        np.add.at(matrix, (pairs[:, 0], pairs[:, 1]), 1)
        report["confusion"] = {"tags": tags, "matrix": matrix.tolist()}
        return report

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the tagger as one artifact (weights, vocabularies, config, scheme)."""
        self._check_trained()
        tensors = {f"tagger.{k}": v for k, v in self.model.state_dict().items()}
        files = {"vocab.json": json.dumps(self.vocab.to_dict()).encode()}
        meta = {"scheme": self.scheme, "word_dim": self.model.words.embedding_dim}
        if self.strings is not None:
            tensors.update(self.strings.tensors())
            meta["strings"] = self.strings.settings()
            files["strings.json"] = json.dumps(self.strings.vocab_dict()).encode()
        config = {"tagger": dataclasses.asdict(self.config), **meta, "history": self.history}
        return save_artifact(directory, self.kind, config, tensors, files)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Tagger:
        """Read and verify a tagger that `save` wrote (nothing is unpickled)."""
        artifact = load_artifact(directory, cls.kind)
        meta = artifact.config
        strings = None
        if meta.get("strings") is not None:
            strings = StringEmbedder.restore(
                meta["strings"], json.loads(artifact.text("strings.json")), artifact.tensors
            )
        tagger = cls(TagConfig(**meta["tagger"]), strings)
        tagger.scheme, tagger.history = meta["scheme"], meta.get("history", [])
        tagger.vocab = Vocab.from_dict(json.loads(artifact.text("vocab.json")))
        tagger.model = tagger._new_model(meta["word_dim"])
        prefix = "tagger."
        state = {k[len(prefix) :]: v for k, v in artifact.tensors.items() if k.startswith(prefix)}
        try:
            tagger.model.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"the weights in {directory} do not fit the tagger: {err}") from None
        tagger.model.eval()
        return tagger

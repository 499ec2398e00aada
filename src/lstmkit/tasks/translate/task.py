"""Translator: fit, decode (greedy or beam), evaluate, save and load an attention seq2seq model."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from lstmkit.data.batching import pad_sequences
from lstmkit.io import ArtifactError, load_artifact, save_artifact
from lstmkit.metrics.translation import bleu, chrf, g2p_scores
from lstmkit.nn.beam import Hypothesis, beam_search, greedy_decode
from lstmkit.nn.seq2seq import Seq2Seq, sequence_loss
from lstmkit.plots import plot_learning_curves
from lstmkit.seed import seed_everything
from lstmkit.train import TrainConfig, fit

from .config import TranslateConfig
from .data import BOS, EOS, PAD, PairBatches, ParallelData, Vocabulary, detokenize, split_items
from .data import tokenize as split_tokens

__all__ = ["Translation", "Translator"]

_DECODE_ROWS = 1024  # decoder rows per decoding batch (sentences x beam)


@dataclass(frozen=True)
class Translation:
    """One output: its text and tokens, normalised score, summed log-probability, and the
    attention weights (len(tokens) + 1 output steps, the last for </s>; source tokens)."""

    text: str
    tokens: list[str]
    score: float
    log_prob: float
    attention: torch.Tensor


class Translator:
    """An encoder-decoder LSTM with attention for any parallel data (default: G2P).

    Args:
        config: a TranslateConfig (defaults if None).

    Example:
        >>> from lstmkit.tasks.translate import ParallelData, TranslateConfig, Translator
        >>> data = ParallelData(["abc", "cab", "bca"], [["c b a"], ["b a c"], ["a c b"]])
        >>> model = Translator(TranslateConfig(epochs=1, minutes=None)).fit(data, data)
        >>> [t.text for t in model.translate(["abc"], n_best=2)[0]]  # doctest: +SKIP
        ['c b a', 'c a b']
    """

    kind: ClassVar[str] = "translate"

    def __init__(self, config: TranslateConfig | None = None) -> None:
        self.config = config or TranslateConfig()
        self.source_vocab: Vocabulary | None = None
        self.target_vocab: Vocabulary | None = None
        self.model: Seq2Seq | None = None
        self.history: list[dict[str, Any]] = []
        self.best_epoch: int | None = None
        self.train_seconds = 0.0
        self.data_name = ""  # what it was trained on ("cmudict-train", a TSV's name)

    # -- training ----------------------------------------------------------------------------
    def fit(
        self,
        train: ParallelData,
        val: ParallelData | None = None,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
    ) -> Translator:
        """Train on every (source, reference) pair of ``train``; early-stop on ``val``'s WER.

        Args:
            train: the training items.
            val: items for early stopping (greedy WER; at most ``config.max_val_items`` of
                them, a seeded sample); default: a seeded tenth of ``train`` by item, taken
                out of training.
            run_dir: if given, the history (history.csv), the learning curve
                (learning_curve.png) and checkpoints (checkpoint/) go there.
            resume: continue the interrupted training saved in ``run_dir``/checkpoint.

        Returns:
            self.
        """
        cfg = self.config
        if val is None:
            train, val = split_items(train, 0.1, cfg.seed)
        if cfg.max_val_items is not None and len(val) > cfg.max_val_items:
            pick = np.random.default_rng(cfg.seed).choice(
                len(val), cfg.max_val_items, replace=False
            )
            val = val.subset(np.sort(pick).tolist())
        self.data_name = train.name
        pairs = train.pairs()
        sources = [split_tokens(s, cfg.source_tokens) for s, _ in pairs]
        targets = [split_tokens(t, cfg.target_tokens) for _, t in pairs]
        self.source_vocab = Vocabulary.build(sources, cfg.min_freq)
        self.target_vocab = Vocabulary.build(targets, cfg.min_freq)
        seed_everything(cfg.seed)  # the initial weights too come from the run's seed
        model = self._new_model()
        batches = PairBatches(
            [self.source_vocab.encode(s) for s in sources],
            [self.target_vocab.encode(t) for t in targets],
            cfg.batch_size,
        )
        start = time.monotonic()
        result = fit(
            model,
            self._objective,
            batches,
            self._train_config(run_dir),
            val_data=val,
            evaluate=self._validate,
            resume=resume,
        )
        self.train_seconds = time.monotonic() - start
        self.model = result.model.eval()
        self.history, self.best_epoch = result.history, result.best_epoch
        if run_dir is not None:
            plot_learning_curves(
                self.history,
                Path(run_dir) / "learning_curve.png",
                monitor="val_wer",
                best_epoch=self.best_epoch,
                title=f"{train.name}: learning curves",
            )
        return self

    def _new_model(self) -> Seq2Seq:
        cfg = self.config
        assert self.source_vocab is not None and self.target_vocab is not None
        return Seq2Seq(
            len(self.source_vocab),
            len(self.target_vocab),
            embedding_dim=cfg.embedding_dim,
            hidden_size=cfg.hidden_size,
            encoder_layers=cfg.encoder_layers,
            decoder_layers=cfg.decoder_layers,
            bidirectional=cfg.bidirectional,
            attention=cfg.attention,
            input_feeding=cfg.input_feeding,
            dropout=cfg.dropout,
            tie_embeddings=cfg.tie_embeddings,
            sampling_prob=cfg.sampling_prob,
            pad_id=PAD,
            bos_id=BOS,
            eos_id=EOS,
        )

    def _objective(
        self, model: Seq2Seq, batch: tuple[torch.Tensor, ...], state: Any
    ) -> torch.Tensor:
        src, src_lengths, tgt_in, tgt_out = batch
        logits = model(src, src_lengths, tgt_in)
        return sequence_loss(logits, tgt_out, PAD, self.config.label_smoothing)

    def _validate(self, model: Seq2Seq, val: ParallelData) -> dict[str, float]:
        self.model = model
        outputs = self.predict(val, beam_size=1)
        scores = self.score_outputs(outputs, val, text_metrics=False)
        return {"val_wer": scores["wer"], "val_per": scores["per"]}

    def _train_config(self, run_dir: str | os.PathLike[str] | None) -> TrainConfig:
        cfg = self.config
        run = Path(run_dir) if run_dir is not None else None
        return TrainConfig(
            epochs=cfg.epochs,
            optimizer="adam",
            lr=cfg.lr,
            schedule="cosine",
            schedule_per="step",
            clip_norm=cfg.clip_norm,
            patience=cfg.patience,
            monitor="val_wer",
            mode="min",
            max_seconds=cfg.minutes * 60 if cfg.minutes else None,
            seed=cfg.seed,
            progress=cfg.progress,
            checkpoint_dir=str(run / "checkpoint") if run else None,
            log_path=str(run / "history.csv") if run else None,
        )

    # -- decoding ----------------------------------------------------------------------------
    def _trained(self) -> tuple[Seq2Seq, Vocabulary, Vocabulary]:
        if self.model is None or self.source_vocab is None or self.target_vocab is None:
            raise ValueError("the translator is not trained: call fit() or load() first")
        return self.model, self.source_vocab, self.target_vocab

    def translate(
        self, sources: Sequence[str], *, beam_size: int | None = None, n_best: int = 1
    ) -> list[list[Translation]]:
        """The n best outputs of each source text, best first.

        Args:
            sources: texts, tokenized as the training sources were.
            beam_size: 1 decodes greedily; default ``config.beam_size``.
            n_best: outputs per source (<= beam_size).

        Returns:
            Per source, its `Translation`s.
        """
        model, src_vocab, tgt_vocab = self._trained()
        cfg = self.config
        beam = cfg.beam_size if beam_size is None else beam_size
        if isinstance(sources, str):
            raise TypeError("translate takes a list of texts, not one string: wrap it in [...]")
        ids = []
        for i, text in enumerate(sources):
            pieces = split_tokens(str(text).strip(), cfg.source_tokens)
            if not pieces:
                raise ValueError(f"source {i} is empty; every input needs at least one token")
            ids.append(torch.tensor(src_vocab.encode(pieces)))
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # little padding per batch
        results: list[list[Translation]] = [[] for _ in ids]
        step = max(1, _DECODE_ROWS // beam)
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            src, lengths = pad_sequences([ids[i] for i in chunk])
            for i, hyps in zip(chunk, self._decode(model, src, lengths, beam, n_best)):
                results[i] = [self._translation(h, tgt_vocab) for h in hyps]
        return results

    def _decode(
        self, model: Seq2Seq, src: torch.Tensor, lengths: torch.Tensor, beam: int, n_best: int
    ) -> list[list[Hypothesis]]:
        cfg = self.config
        limits = {
            "length_penalty": cfg.length_penalty,
            "max_length_ratio": cfg.max_length_ratio,
            "max_length_extra": cfg.max_length_extra,
        }
        if beam == 1 and n_best == 1:
            return [[h] for h in greedy_decode(model, src, lengths, **limits)]
        return beam_search(model, src, lengths, beam_size=beam, n_best=n_best, **limits)

    def _translation(self, hyp: Hypothesis, vocab: Vocabulary) -> Translation:
        pieces = vocab.decode(hyp.tokens)
        return Translation(
            detokenize(pieces, self.config.target_tokens),
            pieces,
            hyp.score,
            hyp.log_prob,
            hyp.attention,
        )

    def predict(
        self, data: ParallelData | Sequence[str], *, beam_size: int | None = None
    ) -> list[str]:
        """The best output text for each source (of ParallelData, or a list of texts)."""
        sources = data.sources if isinstance(data, ParallelData) else data
        return [best[0].text for best in self.translate(sources, beam_size=beam_size)]

    # -- metrics -----------------------------------------------------------------------------
    def score_outputs(
        self, outputs: Sequence[str], data: ParallelData, *, text_metrics: bool | None = None
    ) -> dict[str, Any]:
        """WER and PER of given outputs against ``data``'s references; BLEU and chrF too for
        word-level targets when ``text_metrics`` (default: ``config.text_metrics``)."""
        cfg = self.config
        hyps = [split_tokens(o, cfg.target_tokens) for o in outputs]
        refs = [[split_tokens(r, cfg.target_tokens) for r in rs] for rs in data.references]
        scores: dict[str, Any] = {"items": len(data), **g2p_scores(hyps, refs)}
        wanted = cfg.text_metrics if text_metrics is None else text_metrics
        if wanted and cfg.target_tokens == "word":
            scores["bleu"], scores["bleu_signature"] = bleu(outputs, data.references)
            scores["chrf"], scores["chrf_signature"] = chrf(outputs, data.references)
        return scores

    def evaluate(self, data: ParallelData, *, beam_size: int | None = None) -> dict[str, Any]:
        """WER/PER (and BLEU/chrF, see `score_outputs`) of decoding ``data``'s sources."""
        scores = self.score_outputs(self.predict(data, beam_size=beam_size), data)
        scores["beam_size"] = self.config.beam_size if beam_size is None else beam_size
        return scores

    # -- artifacts ---------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the model as one artifact (kind "translate"); returns its artifact.json."""
        model, src_vocab, tgt_vocab = self._trained()
        meta = {
            "config": self.config.to_dict(),
            "source_vocab": src_vocab.tokens,
            "target_vocab": tgt_vocab.tokens,
            "best_epoch": self.best_epoch,
            "train_seconds": round(self.train_seconds, 1),
            "history": self.history,
            "data": self.data_name,
        }
        return save_artifact(directory, self.kind, meta, model.state_dict())

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Translator:
        """Read and verify an artifact `save` wrote; ArtifactError if it is not one."""
        art = load_artifact(directory, cls.kind)
        try:
            self = cls(TranslateConfig.from_dict(art.config["config"]))
            self.source_vocab = Vocabulary(art.config["source_vocab"])
            self.target_vocab = Vocabulary(art.config["target_vocab"])
            self.best_epoch = art.config.get("best_epoch")
            self.train_seconds = float(art.config.get("train_seconds", 0.0))
            self.history = list(art.config.get("history", []))
            self.data_name = str(art.config.get("data", ""))
            model = self._new_model()
            model.load_state_dict(art.tensors)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ArtifactError(
                f"{art.path} is not a translate model this lstmkit can read: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        self.model = model.eval()
        return self

"""TextGenerator: train a stateful LSTM language model with truncated BPTT, evaluate, sample."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from lstmkit.data.batching import StreamBatches
from lstmkit.data.text import Tokenizer, load_shakespeare, read_text
from lstmkit.data.validate import check_number_flag
from lstmkit.io import INDEX, Artifact, ArtifactError, load_artifact, save_artifact
from lstmkit.metrics.language import bits_per_char, perplexity
from lstmkit.nn import LanguageModel, generate_ids, stream_nats, stream_objective
from lstmkit.train import TrainConfig, fit
from lstmkit.train.checkpoint import CheckpointError, check_state_dict

__all__ = ["HELD_OUT_PLAYS", "Corpus", "GenerateConfig", "TextGenerator"]

TOKENIZER = "tokenizer.json"  # the vocabulary, an extra file of the artifact

# The plays held out by the reference measurement: one of each Folio genre.
HELD_OUT_PLAYS = ("hamlet", "twelfth_night", "henry_v")


@dataclass
class Corpus:
    """Training and validation text; validation is whole documents never seen in training."""

    train: str
    val: str
    description: str = ""

    @classmethod
    def shakespeare(cls, held_out: Sequence[str] = HELD_OUT_PLAYS) -> Corpus:
        """The embedded First Folio: every play but `held_out` for training, those to validate."""
        plays = load_shakespeare()
        unknown = set(held_out) - set(plays.play)
        if unknown:
            raise ValueError(f"unknown plays {sorted(unknown)}; choose from {list(plays.play)}")
        is_val = plays.play.isin(held_out)
        return cls(
            "\n\n".join(plays.text[~is_val]),
            "\n\n".join(plays.text[is_val]),
            f"Shakespeare, {int((~is_val).sum())} plays; held out: {', '.join(held_out)}",
        )

    @classmethod
    def from_files(cls, paths: Sequence[str | Path], val_fraction: float = 0.1) -> Corpus:
        """User text files: with several files the last one validates; with one, its last lines.

        Args:
            paths: text files (each must exist and hold text).
            val_fraction: with a single file, the share of its lines (from the end) held out.
        """
        texts = [read_text(p) for p in paths]
        if len(texts) > 1:
            return cls("\n\n".join(texts[:-1]), texts[-1], f"{len(texts) - 1} files; held out: "
                       f"{Path(paths[-1]).name}")  # fmt: skip
        lines = texts[0].splitlines(keepends=True)
        cut = len(lines) - max(1, round(len(lines) * val_fraction))
        if cut < 1:
            raise ValueError(
                f"{str(paths[0])!r} has {len(lines)} line(s); a validation part needs at least "
                "two lines, or pass a second file to validate on"
            )
        return cls("".join(lines[:cut]), "".join(lines[cut:]), f"{Path(paths[0]).name}, last "
                   f"{len(lines) - cut} lines held out")  # fmt: skip


@dataclass
class GenerateConfig:
    """Settings of a language model run; saved with the model.

    Args:
        level: "char" or "word" tokens. Default "char".
        min_freq: tokens seen fewer times in training become `<unk>`. Default 1.
        lowercase: fold case before tokenizing. Default False.
        embedding_dim, hidden_size, num_layers, tie_weights: see LanguageModel.
        dropout: see LanguageModel. Default 0.0: a 5-minute run sees the text less than
            once, where dropout only slows learning; use 0.1-0.3 for runs of several epochs.
        batch_size: batch columns the stream is cut into. Default 16.
        bptt: truncated-BPTT chunk length in tokens. Default 64.
        lr: Adam learning rate, decayed along a half cosine to 0 over the run. Default 5e-3.
            These three were picked for short CPU budgets: in 2-minute runs on a busy
            machine, 16 x 64 at 5e-3 reached 1.89 nats/char where the common 64 x 128 at
            2e-3 reached 2.85, because early on the number of updates matters most.
        clip_norm: gradient clipping by global norm. Default 1.0.
        epochs: passes over the training text; None: one pass, or as many as `minutes`
            allows when it is set (then epochs, if given, is an upper bound).
        minutes: training-time budget; training stops cleanly after it, then validates.
        eval_every: chunks between validations (each costs a pass over the held-out text,
            inside the time budget). Default 1000.
        seed: seed of the run. Default 0.
        progress: show progress bars. Default False.
    """

    level: str = "char"
    min_freq: int = 1
    lowercase: bool = False
    embedding_dim: int = 128
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = False
    batch_size: int = 16
    bptt: int = 64
    lr: float = 5e-3
    clip_norm: float = 1.0
    epochs: float | None = None
    minutes: float | None = 5.0
    eval_every: int = 1000
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        if self.level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {self.level!r}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        for name in ("embedding_dim", "hidden_size", "num_layers", "batch_size", "bptt"):
            check_number_flag(f"--{name.replace('_', '-')}", getattr(self, name), low=1)
        check_number_flag("--eval-every", self.eval_every, low=1, why="chunks between validations")
        check_number_flag("--min-freq", self.min_freq, low=1)
        check_number_flag("--lr", self.lr, low=0, low_open=True)
        check_number_flag("--dropout", self.dropout, low=0, high=1)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON data (what a saved generator holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerateConfig:
        """Rebuild from `to_dict`'s output; unknown names are refused by name."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown generate settings {unknown}; known: {sorted(names)}")
        return cls(**data)


LEGACY_PROMPT = "HAMLET.\n"  # the prompt of runs saved before they kept their own


def default_prompt(text: str, longest: int = 40) -> str:
    """A prompt drawn from the training text itself, so it holds no unknown tokens.

    The most frequent short line if one repeats (a play's speaker names: "HAMLET."), else
    the start of the first non-blank line.

    >>> default_prompt("ROMEO.\nHi.\nJULIET.\nHo.\nROMEO.\nYes.\n")
    'ROMEO.\n'
    """
    lines = [line.strip() for line in text.splitlines()]
    short = Counter(line for line in lines if line and len(line) <= longest)
    if short:
        line, count = short.most_common(1)[0]
        if count >= 2:
            return line + "\n"
    first = next((line for line in lines if line), text.strip())
    if len(first) <= longest:
        return first + "\n"
    cut = first[:longest]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


class TextGenerator:
    """Train, evaluate and sample an LSTM language model.

    Training reads the text as one stream cut into `batch_size` columns and `bptt`-step
    chunks (`StreamBatches`); lstmkit's loop carries the detached LSTM state from chunk to
    chunk (truncated BPTT). The learning rate follows a half cosine from `lr` to 0 over the
    run, measured in time when `minutes` is set, so a budgeted run ends converged.

    Args:
        config: a GenerateConfig (default settings if None).

    Example:
        >>> gen = TextGenerator(GenerateConfig(minutes=0.1)).fit(Corpus.shakespeare())
        >>> text = gen.sample("ROMEO.", max_length=50, seed=1)
    """

    kind: ClassVar[str] = "generate"

    def __init__(self, config: GenerateConfig | None = None):
        self.config = config or GenerateConfig()
        self.tokenizer: Tokenizer | None = None
        self.model: LanguageModel | None = None
        self.history: list[dict] = []
        self.train_seconds = 0.0
        self.prompt = LEGACY_PROMPT  # what `sample` continues by default: from fit's text

    def _new_model(self) -> LanguageModel:
        cfg = self.config
        return LanguageModel(
            len(self.tokenizer), cfg.embedding_dim, cfg.hidden_size, cfg.num_layers,
            cfg.dropout, cfg.tie_weights,
        )  # fmt: skip

    def fit(
        self,
        corpus: Corpus,
        *,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
    ) -> TextGenerator:
        """Build the vocabulary from the training text and train the model on it.

        Args:
            corpus: training and validation text.
            checkpoint_dir: where training checkpoints go (None: none are written).
            resume: continue the interrupted training saved in ``checkpoint_dir``.

        Returns:
            self.
        """
        cfg = self.config
        if not corpus.train.strip() or not corpus.val.strip():
            raise ValueError("the corpus needs non-empty training and validation text")
        self.tokenizer = Tokenizer.build(
            [corpus.train], cfg.level, min_freq=cfg.min_freq, lowercase=cfg.lowercase
        )
        if len(self.tokenizer) <= 2:  # only <pad> and <unk>
            raise ValueError(f"--min-freq {cfg.min_freq} leaves no token but <unk>; lower it")
        self.prompt = default_prompt(corpus.train)
        stream = StreamBatches(self.tokenizer.encode(corpus.train), cfg.batch_size, cfg.bptt)
        torch.manual_seed(cfg.seed)
        self.model = self._new_model()
        passes = cfg.epochs or (1000.0 if cfg.minutes else 1.0)  # minutes bind first if set
        total = max(1, round(passes * len(stream)))  # chunks to train at most
        per_epoch = min(cfg.eval_every, total)  # the loop's "epoch": chunks between validations
        # The rate falls along a half cosine from lr to 0 over the run, per chunk, measured
        # by whichever of chunks and time ends it first; the loop stops at either budget
        # after the chunk that spends it, then validates.
        train_config = TrainConfig(
            epochs=math.ceil(total / per_epoch), max_steps=total,
            max_seconds=cfg.minutes * 60 if cfg.minutes else None, optimizer="adam", lr=cfg.lr,
            schedule="cosine", schedule_per="step",
            clip_norm=cfg.clip_norm, stateful=True, restore_best=False, seed=cfg.seed,
            progress=cfg.progress,
            checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
        )  # fmt: skip

        def chunks(epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            return stream.chunks((epoch - 1) * per_epoch, epoch * per_epoch)

        start = time.monotonic()
        val = self._val_stream(corpus.val)
        result = fit(
            self.model,
            stream_objective,
            chunks,
            train_config,
            val_data=val,
            evaluate=self._evaluate_stream,
            resume=resume,
        )
        self.history = result.history
        self.train_seconds = time.monotonic() - start
        return self

    def _val_stream(self, text: str) -> tuple[StreamBatches, float]:
        """The text as a stream (fewer columns if it is short) and its characters per token."""
        ids = self.tokenizer.encode(text)
        columns = max(1, min(self.config.batch_size, (len(ids) - 1) // self.config.bptt))
        return StreamBatches(ids, columns, self.config.bptt), len(text) / max(1, len(ids))

    @staticmethod
    def _evaluate_stream(
        model: LanguageModel, val: tuple[StreamBatches, float]
    ) -> dict[str, float]:
        stream, chars_per_token = val
        nats, _ = stream_nats(model, stream)
        loss = nats / stream.num_tokens
        chars = round(stream.num_tokens * chars_per_token)
        return {
            "val_loss": loss,
            "val_ppl": perplexity(loss),
            "val_bpc": bits_per_char(loss, stream.num_tokens, max(1, chars)),
        }

    def evaluate(self, text: str) -> dict[str, float]:
        """Cross-entropy (nats per token), perplexity and bits per character on `text`."""
        self._check_trained()
        if not text.strip():
            raise ValueError("cannot evaluate on empty text")
        metrics = self._evaluate_stream(self.model, self._val_stream(text))
        return {k.removeprefix("val_"): v for k, v in metrics.items()}

    def sample(
        self,
        prompt: str,
        max_length: int = 300,
        *,
        temperature: float = 0.8,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = 0,
    ) -> str:
        """Continue `prompt` with sampled text (see `generate_ids` for the options).

        Returns:
            The prompt followed by `max_length` new tokens, as text.
        """
        self._check_trained()
        ids = self.tokenizer.encode(prompt)
        new = generate_ids(
            self.model, ids, max_length, temperature=temperature, top_k=top_k, top_p=top_p,
            seed=seed,
        )  # fmt: skip
        return self.tokenizer.decode(ids + new)

    def predict(self, prompt: str, max_length: int = 300, **sampling: Any) -> str:
        """The `Task` protocol's predict: `sample` (same arguments and result)."""
        return self.sample(prompt, max_length, **sampling)

    def _check_trained(self) -> None:
        if self.model is None or self.tokenizer is None:
            raise ValueError("the language model is not trained: call fit() or load() first")

    def save(self, directory: str | Path) -> Path:
        """Write the model as one artifact (`lstmkit.io`): settings, vocabulary and weights.

        Returns:
            The path of its ``artifact.json``.
        """
        self._check_trained()
        config = {
            "settings": self.config.to_dict(),
            "model": self.model.config,
            "prompt": self.prompt,
        }
        tokenizer = json.dumps(self.tokenizer.to_dict(), ensure_ascii=False).encode()
        return save_artifact(
            directory, self.kind, config, self.model.state_dict(), {TOKENIZER: tokenizer}
        )

    @classmethod
    def load(cls, directory: str | Path) -> TextGenerator:
        """Rebuild a generator written by `save`, verifying every file (nothing is unpickled).

        Raises:
            ArtifactError: (a ValueError) naming the file that is missing, corrupt or foreign.
        """
        directory = Path(directory)
        if not (directory / INDEX).is_file():
            raise ArtifactError(
                f"{str(directory)!r} holds no trained language model (no {INDEX}); train one "
                "with `lstmkit generate train --run DIR` first"
            )
        artifact = load_artifact(directory, cls.kind)
        try:
            return cls._rebuild(artifact)
        except ArtifactError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise ArtifactError(
                f"{artifact.path / INDEX} does not describe a language model this lstmkit can "
                f"rebuild ({type(err).__name__}: {err})"
            ) from None

    @classmethod
    def _rebuild(cls, artifact: Artifact) -> TextGenerator:
        gen = cls(GenerateConfig.from_dict(artifact.config["settings"]))
        gen.tokenizer = Tokenizer.from_dict(json.loads(artifact.text(TOKENIZER)))
        gen.prompt = str(artifact.config.get("prompt", LEGACY_PROMPT))  # older runs: none saved
        gen.model = gen._new_model()
        try:
            check_state_dict(artifact.tensors, gen.model, "the weights")
        except CheckpointError as err:
            raise ArtifactError(f"{artifact.path / INDEX}: {err}") from None
        gen.model.load_state_dict(artifact.tensors)
        gen.model.eval()
        return gen

"""Contextual string embeddings (Akbik, Blythe & Vollgraf 2018, COLING) from lstmkit's own LMs.

A forward and a backward character language model (`lstmkit.nn.LanguageModel`, trained with
`stream_objective` on raw text, the backward one on the text reversed) read each sentence
as one string; a word's features are the forward LM's hidden state after the word's last
character and the backward LM's state after reading, right to left, its first character.
The LMs stay frozen while the tagger trains, so each sentence's features are computed once.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from lstmkit.data.batching import StreamBatches
from lstmkit.io import load_artifact, save_artifact
from lstmkit.nn import LanguageModel, stream_objective
from lstmkit.nn.bilstm import reverse_padded
from lstmkit.train import TrainConfig, fit

__all__ = ["LMSettings", "StringEmbedder"]

START = "\n"  # the sentence string is START + words joined by spaces + END
END = " "
_PREFIXES = ("lm_forward.", "lm_backward.")


@dataclass
class LMSettings:
    """Settings of the two character LMs.

    Args:
        hidden_size: LSTM units (the features are 2 * hidden_size per word). Default 256.
        num_layers: stacked LSTM layers. Default 1.
        embedding_dim: character embedding width. Default 32.
        max_chars: characters kept in the LM vocabulary, the most frequent (others read as
            unknown). Default 300.
        batch_size, bptt: stream columns and truncated-BPTT chunk length. Defaults 16, 64.
        lr: Adam learning rate (half cosine to 0 over the run). Default 5e-3. These three
            are `lstmkit generate`'s, measured best for LMs trained minutes on this CPU.
        minutes: training time for each LM. Default 5.0.
        seed: seed of the LM runs. Default 0.
    """

    hidden_size: int = 256
    num_layers: int = 1
    embedding_dim: int = 32
    max_chars: int = 300
    batch_size: int = 16
    bptt: int = 64
    lr: float = 5e-3
    minutes: float = 5.0
    seed: int = 0


class StringEmbedder:
    """Per-word features from a forward and a backward character LM.

    Args:
        chars: the LM character vocabulary (id 0 is the unknown character).
        forward_lm, backward_lm: LanguageModels over ``chars``, the backward one trained
            on reversed text.
        settings: how they were trained (saved with them).

    >>> emb = StringEmbedder.pretrain("the cat sat on the mat\\n" * 50, LMSettings(
    ...     hidden_size=8, embedding_dim=4, batch_size=4, bptt=10, minutes=0.01))
    >>> [f.shape for f in emb.embed([["the", "cat"]])]
    [torch.Size([2, 16])]
    """

    def __init__(self, chars: list[str], forward_lm: LanguageModel, backward_lm: LanguageModel,
                 settings: LMSettings) -> None:  # fmt: skip
        self.chars, self.settings_ = chars, settings
        self.ids = {c: i for i, c in enumerate(chars)}
        self.forward_lm, self.backward_lm = forward_lm.eval(), backward_lm.eval()
        self.output_size = 2 * settings.hidden_size
        self.history: dict[str, list[dict[str, Any]]] = {}

    # -- training --------------------------------------------------------------------------
    @classmethod
    def pretrain(cls, text: str, settings: LMSettings | None = None, *,
                 progress: bool = False) -> StringEmbedder:  # fmt: skip
        """Train both LMs on ``text``, each for ``settings.minutes``.

        Raises:
            ValueError: if the text is too short to fill one batch of chunks.
        """
        settings = settings or LMSettings()
        if len(text) < 2 * settings.batch_size:
            raise ValueError(
                f"the LM text has {len(text)} characters; pretraining needs at least "
                f"{2 * settings.batch_size} (give a larger --lm-text file)"
            )
        counts = Counter(text)
        chars = ["<unk>", *sorted(counts, key=lambda c: (-counts[c], c))[: settings.max_chars]]
        ids = {c: i for i, c in enumerate(chars)}
        encoded = torch.tensor([ids.get(c, 0) for c in text])
        lms, history = [], {}
        for name, stream in (("forward", encoded), ("backward", encoded.flip(0))):
            lm, rows = _train_lm(len(chars), stream, settings, progress)
            lms.append(lm)
            history[name] = rows
        embedder = cls(chars, *lms, settings)
        embedder.history = history
        return embedder

    # -- features --------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, sentences: list[list[str]], batch_chars: int = 20000) -> list[Tensor]:
        """Features (T_i, 2H) of every word of every sentence, float16 to save memory."""
        order = sorted(range(len(sentences)), key=lambda i: _string_length(sentences[i]))
        out: list[Tensor] = [torch.empty(0)] * len(sentences)
        group: list[int] = []
        for i in [*order, None]:
            if i is not None and (not group or (len(group) + 1) * _string_length(
                    sentences[i]) <= batch_chars):  # fmt: skip
                group.append(i)
                continue
            for j, features in zip(group, self._embed_group([sentences[j] for j in group])):
                out[j] = features
            group = [] if i is None else [i]
        return out

    def _embed_group(self, sentences: list[list[str]]) -> list[Tensor]:
        strings = [START + " ".join(s) + END for s in sentences]
        lengths = torch.tensor([len(s) for s in strings])
        ids = torch.zeros(len(strings), int(lengths.max()), dtype=torch.long)
        for b, s in enumerate(strings):
            ids[b, : len(s)] = torch.tensor([self.ids.get(c, 0) for c in s])
        ahead, _ = self.forward_lm.hidden(ids)  # (B, N, H); padding only follows the text
        behind, _ = self.backward_lm.hidden(reverse_padded(ids, lengths))
        behind = reverse_padded(behind, lengths)  # position p: having read the text from p on
        features = []
        for b, sentence in enumerate(sentences):
            first, last, position = [], [], len(START)
            for word in sentence:
                first.append(position)
                last.append(position + len(word) - 1)
                position += len(word) + 1
            both = torch.cat([ahead[b, last], behind[b, first]], dim=-1)  # (T, 2H)
            features.append(both.half())
        return features

    # -- persistence -----------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return asdict(self.settings_)

    def vocab_dict(self) -> dict[str, Any]:
        return {"chars": self.chars}

    def tensors(self) -> dict[str, Tensor]:
        out = {}
        for prefix, lm in zip(_PREFIXES, (self.forward_lm, self.backward_lm)):
            out.update({prefix + k: v for k, v in lm.state_dict().items()})
        return out

    @classmethod
    def restore(cls, settings: dict[str, Any], vocab: dict[str, Any],
                tensors: dict[str, Tensor]) -> StringEmbedder:  # fmt: skip
        """Rebuild from `settings`, `vocab_dict` and `tensors` output."""
        lm_settings = LMSettings(**settings)
        lms = []
        for prefix in _PREFIXES:
            lm = _new_lm(len(vocab["chars"]), lm_settings)
            state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                lm.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(f"the saved character LMs do not fit: {err}") from None
            lms.append(lm)
        return cls(list(vocab["chars"]), *lms, lm_settings)

    def save(self, directory: str | os.PathLike[str]) -> Any:
        """Write both LMs as one artifact (kind "tag-lm") for reuse by later taggers."""
        config = {"settings": self.settings(), "vocab": self.vocab_dict(),
                  "history": self.history}  # fmt: skip
        return save_artifact(directory, "tag-lm", config, self.tensors())

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> StringEmbedder:
        artifact = load_artifact(directory, "tag-lm")
        embedder = cls.restore(
            artifact.config["settings"], artifact.config["vocab"], artifact.tensors
        )
        embedder.history = artifact.config.get("history", {})
        return embedder


def _string_length(sentence: list[str]) -> int:
    return len(START) + sum(len(w) + 1 for w in sentence)


def _new_lm(vocab_size: int, settings: LMSettings) -> LanguageModel:
    return LanguageModel(
        vocab_size, settings.embedding_dim, settings.hidden_size, settings.num_layers,
        dropout=0.0,  # the LMs see their text about once in a short run: no need
    )  # fmt: skip


def _train_lm(vocab_size: int, stream: Tensor, settings: LMSettings,
              progress: bool) -> tuple[LanguageModel, list[dict[str, Any]]]:  # fmt: skip
    torch.manual_seed(settings.seed)
    lm = _new_lm(vocab_size, settings)
    batches = StreamBatches(stream, settings.batch_size, settings.bptt)
    per_epoch = min(500, len(batches))  # chunks between the loop's epochs (log lines)
    config = TrainConfig(
        epochs=10_000, optimizer="adam", lr=settings.lr, schedule="cosine",
        schedule_per="step", max_seconds=60 * settings.minutes, clip_norm=1.0,
        stateful=True, restore_best=False, seed=settings.seed, progress=progress,
    )  # fmt: skip

    def chunks(epoch: int):
        return batches.chunks((epoch - 1) * per_epoch, epoch * per_epoch)

    result = fit(lm, stream_objective, chunks, config)
    return result.model.eval(), result.history

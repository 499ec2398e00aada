"""What each task exports: its network as tensors in, tensors out, and how to feed it.

A saved run is loaded through its task's `load` (the Task protocol); `exportable(task)`
says which network is traced (ensembles averaged inside the graph, as the task averages
them), its inputs and outputs with their dynamic axes, and random inputs with mixed
lengths for the check. Preprocessing that is not a tensor operation (tokenising text,
scaling a series, building tag batches) stays in Python, outside the graph, as in torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.export.check import mixed_lengths
from lstmkit.nn.seq2seq import DecoderState, EncoderMemory

TASKS = {
    "forecast": ("lstmkit.tasks.forecast.task", "Forecaster"),
    "classify": ("lstmkit.tasks.classify.task", "Classifier"),
    "generate": ("lstmkit.tasks.generate.task", "TextGenerator"),
    "recommend": ("lstmkit.tasks.recommend.task", "Recommender"),
    "reproduce": ("lstmkit.tasks.reproduce.task", "Reproduction"),
    "tag": ("lstmkit.tasks.tag.task", "Tagger"),
    "translate": ("lstmkit.tasks.translate.task", "Translator"),
}
BATCH, TIME = "batch", "time"
Sample = Callable[[int, int, torch.Generator], tuple[Tensor, ...]]


@dataclass
class Exportable:
    """A task's network ready for `model.export_network` and `check.verify`."""

    net: nn.Module
    inputs: dict[str, dict[int, str]]  # name -> dynamic axes, in the order net takes them
    outputs: dict[str, dict[int, str]]
    sample: Sample


def task_class(kind: str) -> Any:
    """The task class that saves artifacts of `kind`."""
    if kind not in TASKS:
        raise ValueError(f"no task writes {kind!r} runs; export knows {', '.join(TASKS)}")
    module, name = TASKS[kind]
    return getattr(importlib.import_module(module), name)


class Mean(nn.Module):
    """The average of the members' outputs, optionally through a softmax first."""

    def __init__(self, members: list[nn.Module], softmax: bool = False) -> None:
        super().__init__()
        self.members, self.softmax = nn.ModuleList(members), softmax

    def forward(self, *args: Tensor) -> Tensor:
        outs = [m(*args) for m in self.members]
        if self.softmax:
            outs = [o.softmax(-1) for o in outs]
        return torch.stack(outs).mean(0)


def _floats(size: int) -> Sample:
    return lambda b, t, gen: (torch.randn(b, t, size, generator=gen),)


def _floats_lengths(size: int) -> Sample:
    return lambda b, t, gen: (torch.randn(b, t, size, generator=gen), mixed_lengths(b, t, gen))


def _ids_lengths(vocab: int) -> Sample:
    def sample(b: int, t: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        lengths = mixed_lengths(b, t, gen)
        ids = torch.randint(1, vocab, (b, t), generator=gen)
        return ids.masked_fill(torch.arange(t)[None, :] >= lengths[:, None], 0), lengths

    return sample


def forecast(task: Any) -> Exportable:
    """(B, T, F) scaled windows -> (B, horizon, targets), the ensemble's mean."""
    net = Mean(task.models)
    size = task.models[0].encoder.rnn.input_size
    outputs = {"forecast": {0: BATCH}}
    return Exportable(net, {"window": {0: BATCH, 1: TIME}}, outputs, _floats(size))


def classify(task: Any) -> Exportable:
    """Padded inputs and lengths -> (B, K) class probabilities, as `predict_proba`."""
    net = Mean(task.members, softmax=True)
    encoder = task.members[0].encoder
    if encoder.embedding is not None:
        sample = _ids_lengths(encoder.embedding.num_embeddings)
        x_axes = {0: BATCH, 1: TIME}
    else:
        sample, x_axes = _floats_lengths(encoder.rnn.input_size), {0: BATCH, 1: TIME}
    inputs = {"inputs": x_axes, "lengths": {0: BATCH}}
    return Exportable(net, inputs, {"probabilities": {0: BATCH}}, sample)


class _Stateful(nn.Module):
    """A language model with its state as explicit tensors: (x, h0[, c0]) -> logits, states."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, *state: Tensor):
        logits, new = self.model(x, tuple(state) if len(state) > 1 else state[0])
        return (logits, *(new if isinstance(new, tuple) else (new,)))


def generate(task: Any) -> Exportable:
    """(B, T) token ids and the carried state -> (B, T, V) logits and the next state."""
    model = task.model
    rnn = model.encoder.rnn
    vocab = model.encoder.embedding.num_embeddings
    depth = rnn.num_layers * rnn.num_directions
    names = [f"{n}0" for n in rnn.state_names]

    def sample(b: int, t: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        ids = torch.randint(0, vocab, (b, t), generator=gen)
        return ids, *(torch.randn(depth, b, s, generator=gen) * 0.5 for s in rnn.state_sizes())

    inputs = {"tokens": {0: BATCH, 1: TIME}} | {n: {1: BATCH} for n in names}
    outputs = {"logits": {0: BATCH, 1: TIME}} | {f"{n}_n": {1: BATCH} for n in rnn.state_names}
    return Exportable(_Stateful(model), inputs, outputs, sample)


class _SessionScores(nn.Module):
    """Whole sessions (B, T) with lengths -> (B, T, V) scores of items 1..V at every step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, sessions: Tensor, lengths: Tensor) -> Tensor:
        hidden = self.model.encode(sessions, lengths)  # (B, T, H)
        return hidden @ self.model.item_weight().T + self.model.item_bias[1:]


def recommend(task: Any) -> Exportable:
    """Padded sessions of item ids and lengths -> next-item scores at every step."""
    model = task.model
    sample = _ids_lengths(model.encoder.embedding.num_embeddings)
    inputs = {"sessions": {0: BATCH, 1: TIME}, "lengths": {0: BATCH}}
    return Exportable(_SessionScores(model), inputs, {"scores": {0: BATCH, 1: TIME}}, sample)


def reproduce(task: Any) -> Exportable:
    """(B, T, F) inputs and lengths -> the read-out (per step or at each end)."""
    net = task.net
    axes = {0: BATCH, 1: TIME} if net.per_step else {0: BATCH}
    sample = _floats_lengths(net.encoder.rnn.input_size)
    inputs = {"inputs": {0: BATCH, 1: TIME}, "lengths": {0: BATCH}}
    return Exportable(net, inputs, {"outputs": axes}, sample)


class _Emissions(nn.Module):
    """A tagger's per-word tag scores from the tensors of a `TagBatch` (no extra features)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, words, lengths, chars, char_lengths, word_chars) -> Tensor:
        parts = [self.model.words(words)]  # (B, T, E)
        if self.model.chars is not None:
            parts.append(self.model.chars(chars, char_lengths)[word_chars])  # (B, T, 2C)
        return self.model.scores(self.model.encoder(torch.cat(parts, dim=-1), lengths))


def tag(task: Any) -> Exportable:
    """The tensors of a TagBatch -> (B, T, K) emission scores; a CRF's Viterbi decoding (its
    transitions are in the run) stays outside the graph, as a search over tag sequences."""
    model = task.model
    width = model.words.embedding_dim + (model.chars.output_size if model.chars else 0)
    if model.encoder.forward_layers[0].input_size != width:
        raise ValueError("exporting a tagger with extra word features is not supported yet")
    words, chars = model.words.num_embeddings, max(2, _chars(model))

    def sample(b: int, t: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        ids, lengths = _ids_lengths(words)(b, t, gen)
        spelled, spelled_lengths = _ids_lengths(chars)(b * t, 6, gen)
        return ids, lengths, spelled, spelled_lengths, torch.arange(b * t).view(b, t)

    inputs = {"words": {0: BATCH, 1: TIME}, "lengths": {0: BATCH},
              "chars": {0: "forms", 1: "letters"}, "char_lengths": {0: "forms"},
              "word_chars": {0: BATCH, 1: TIME}}  # fmt: skip
    return Exportable(_Emissions(model), inputs, {"emissions": {0: BATCH, 1: TIME}}, sample)


def _chars(model: nn.Module) -> int:
    return model.chars.embedding.num_embeddings if model.chars is not None else 2


ADAPTERS: dict[str, Callable[[Any], Exportable]] = {
    "tag": tag,
    "forecast": forecast,
    "classify": classify,
    "generate": generate,
    "recommend": recommend,
    "reproduce": reproduce,
}


class _Encode(nn.Module):
    """Seq2Seq.encode as tensors: the memory to attend to and the decoder's first state."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, src_lengths: Tensor):
        memory, state = self.model.encode(src, src_lengths)
        return (*memory, *state)


class _Step(nn.Module):
    """Seq2Seq.step as tensors: one token per row -> log-probabilities, state, attention."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens, h, c, feed, outputs, prepared, mask):
        memory = EncoderMemory(outputs, prepared, mask)
        log_probs, state, weights = self.model.step(tokens, DecoderState(h, c, feed), memory)
        return (log_probs, *state, weights)


def translate(task: Any) -> dict[str, Exportable]:
    """Two graphs, as a decoder runs them: `encoder` (source ids and lengths -> memory and
    first state) and `decoder_step` (one step); beam search over the steps stays outside."""
    model = task.model
    vocab_in = model.encoder.embedding.num_embeddings
    vocab_out = model.target_embedding.num_embeddings
    encoder = _Encode(model)
    memory_axes = {"outputs": {0: BATCH, 1: TIME}, "prepared": {0: BATCH, 1: TIME},
                   "mask": {0: BATCH, 1: TIME}}  # fmt: skip
    state_axes = {"h": {1: BATCH}, "c": {1: BATCH}, "feed": {0: BATCH}}
    enc = Exportable(encoder, {"src": {0: BATCH, 1: TIME}, "src_lengths": {0: BATCH}},
                     memory_axes | state_axes, _ids_lengths(vocab_in))  # fmt: skip

    def sample(b: int, t: int, gen: torch.Generator) -> tuple[Tensor, ...]:
        with torch.no_grad():
            memory_state = encoder(*_ids_lengths(vocab_in)(b, t, gen))
        tokens = torch.randint(0, vocab_out, (b,), generator=gen)
        outputs, prepared, mask, h, c, feed = memory_state
        return tokens, h, c, feed, outputs, prepared, mask

    step_inputs = {"tokens": {0: BATCH}} | state_axes | memory_axes
    step_outputs = {"log_probs": {0: BATCH}} | {f"{k}_next": v for k, v in state_axes.items()}
    step = Exportable(_Step(model), step_inputs, step_outputs | {"weights": {0: BATCH, 1: TIME}},
                      sample)  # fmt: skip
    return {"encoder": enc, "decoder_step": step}


def exportable_parts(task: Any) -> dict[str, Exportable]:
    """The graphs a task's run exports, by file stem: {"model": ...} but for translate."""
    if task.kind == "translate":
        return translate(task)
    return {"model": exportable(task)}


def exportable(task: Any) -> Exportable:
    """The exportable network of a loaded task; ValueError for a kind without one."""
    if task.kind not in ADAPTERS:
        raise ValueError(
            f"exporting {task.kind!r} runs is not supported yet (export knows "
            f"{', '.join(ADAPTERS)})"
        )
    return ADAPTERS[task.kind](task)

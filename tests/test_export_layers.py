"""ONNX export of every layer variant, checked with onnxruntime against lstmkit itself."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.export.check import ExportError, mixed_lengths, verify
from lstmkit.export.layer import check_opset, layer_model

pytest.importorskip("onnxruntime")

VARIANTS = {
    "plain": {},
    "peephole": {"peephole": True},
    "layer_norm": {"layer_norm": True},
    "cifg": {"cifg": True},
    "projection": {"proj_size": 3},
    "forget_bias": {"forget_bias": 1.0},
    "recurrent_dropout": {"recurrent_dropout": 0.3},
    "zoneout": {"zoneout": (0.2, 0.4)},
    "weight_drop": {"weight_drop": 0.3},
    "all": {"peephole": True, "cifg": True, "layer_norm": True, "proj_size": 2, "zoneout": 0.1},
}


def randomized(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Weights of order one (gates away from 1/2, layer-norm gains away from 1), eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.6)
    return module.eval()


def sampler(module, lengths: bool, states: bool):
    """Random inputs in the module's layout (and its reference call) for `verify`."""

    def sample(batch: int, steps: int, gen: torch.Generator):
        shape = (batch, steps) if module.batch_first else (steps, batch)
        args = [torch.randn(*shape, module.input_size, generator=gen)]
        if lengths:
            args.append(mixed_lengths(batch, steps, gen))
        if states:
            depth = module.num_layers * module.num_directions
            args += [torch.randn(depth, batch, s, generator=gen) for s in module.state_sizes()]
        return tuple(args)

    return sample


class Call(torch.nn.Module):
    """The layer called as the exported model is: (input[, lengths][, h0[, c0]])."""

    def __init__(self, layer, lengths: bool, states: bool) -> None:
        super().__init__()
        self.layer, self.lengths, self.states = layer, lengths, states

    def forward(self, x, *rest):
        rest = list(rest)
        lengths = rest.pop(0) if self.lengths else None
        hx = None if not rest else (tuple(rest) if len(rest) > 1 else rest[0])
        out, states = self.layer(x, hx, lengths=lengths)
        return out, states


def check(layer, lengths: bool, states: bool = False, use_native: bool = True) -> float:
    """The max abs error of the exported layer on random inputs; ExportError past 1e-5."""
    model = layer_model(layer, lengths=lengths, states=states, use_native=use_native)
    names = [i.name for i in model.graph.input]
    return verify(model, Call(layer, lengths, states), sampler(layer, lengths, states), names)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("lengths", [True, False])
def test_lstm_variants_match_lstmkit(variant, bidirectional, num_layers, lengths):
    layer = lstmkit.LSTM(
        3, 5, num_layers=num_layers, bidirectional=bidirectional, batch_first=num_layers == 2,
        **VARIANTS[variant],
    )  # fmt: skip
    assert check(randomized(layer, num_layers), lengths) < 1e-5


@pytest.mark.parametrize("kind", ["GRU", "RNN_TANH", "RNN_RELU", "LSTM"])
@pytest.mark.parametrize(
    ("bidirectional", "num_layers", "lengths", "native"),
    list(itertools.product([False, True], [1, 2], [True, False], [True, False])),
)
def test_plain_cells_both_ways(kind, bidirectional, num_layers, lengths, native):
    """ONNX's own LSTM/GRU/RNN operators and the Scan give lstmkit's results."""
    options = dict(num_layers=num_layers, bidirectional=bidirectional)
    if kind == "GRU":
        layer = lstmkit.GRU(4, 6, **options)
    elif kind == "LSTM":
        layer = lstmkit.LSTM(4, 6, **options)
    else:
        layer = lstmkit.RNN(4, 6, nonlinearity=kind[4:].lower(), **options)
    check(randomized(layer, 3), lengths, use_native=native)  # raises past 1e-5 of the scale


@pytest.mark.parametrize("cls", [lstmkit.LSTM, lstmkit.GRU])
def test_initial_states_as_inputs(cls):
    extra = {"peephole": True} if cls is lstmkit.LSTM else {"zoneout": 0.2}
    layer = randomized(cls(3, 4, num_layers=2, bidirectional=True, **extra), 5)
    assert check(layer, lengths=True, states=True) < 1e-5


def test_native_operators_used_only_where_exact():
    ops = lambda m: {n.op_type for n in m.graph.node}  # noqa: E731
    assert "LSTM" in ops(layer_model(lstmkit.LSTM(3, 4).eval()))
    assert "GRU" in ops(layer_model(lstmkit.GRU(3, 4).eval()))
    assert "Scan" in ops(layer_model(lstmkit.LSTM(3, 4, peephole=True).eval()))
    assert "Scan" in ops(layer_model(lstmkit.LSTM(3, 4, proj_size=2).eval()))
    assert "Scan" in ops(layer_model(lstmkit.GRU(3, 4, zoneout=0.1).eval()))


def test_a_wrong_model_is_refused():
    layer = randomized(lstmkit.LSTM(3, 4, layer_norm=True), 1)
    model = layer_model(layer)
    w = next(i for i in model.graph.initializer if i.name.startswith("w_ih_t"))
    array = np.frombuffer(w.raw_data, dtype=np.float32).copy()
    array[0] += 1e-3
    w.raw_data = array.tobytes()
    with pytest.raises(ExportError, match="differs from lstmkit by"):
        verify(model, Call(layer, True, False), sampler(layer, True, False), ["input", "lengths"])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="eval mode"):
        layer_model(lstmkit.LSTM(3, 4).train())
    with pytest.raises(ValueError, match="float32"):
        layer_model(lstmkit.LSTM(3, 4).double().eval())
    with pytest.raises(ValueError, match="opset must be an integer from 17"):
        check_opset(13)


class Pooled(torch.nn.Module):
    """A network around a layer: the output at each sequence's last step and the mean."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = lstmkit.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True,
                                layer_norm=True, peephole=True)  # fmt: skip
        self.head = torch.nn.Linear(10, 2)

    def forward(self, x, lengths):
        out, (h, _) = self.rnn(x, lengths=lengths)
        last = out[torch.arange(x.shape[0]), lengths - 1]
        return self.head(last + out.mean(1)), h


def test_traced_at_one_length_set_right_at_others():
    from lstmkit.export.model import export_network

    net = randomized(Pooled(), 4)
    example = (torch.randn(2, 7, 3), torch.tensor([7, 3]))
    axes = {"x": {0: "b", 1: "t"}, "lengths": {0: "b"}, "y": {0: "b"}, "h": {1: "b"}}
    model = export_network(net, example, ["x", "lengths"], ["y", "h"], axes, 17)

    def sample(b, t, gen):
        return torch.randn(b, t, 3, generator=gen), mixed_lengths(b, t, gen)

    assert verify(model, net, sample, ["x", "lengths"], seed=11) < 1e-5

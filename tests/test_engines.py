"""Engines run from a plain LayerSpec, never the module; the export mode of engines/select.py."""

import ast
import dataclasses
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import lstmkit
from lstmkit.cells import LSTMVariant, StepParams
from lstmkit.engines import DirectionWeights, LayerSpec, select
from lstmkit.engines.autograd import AUTOGRAD
from lstmkit.engines.fused import FUSED
from lstmkit.engines.native import NATIVE
from lstmkit.params import Noise

ENGINES_DIR = Path(lstmkit.__file__).parent / "engines"
MODULE_FLOORS = ("lstmkit.layers", "lstmkit.recurrent", "lstmkit.cell_layers")


def _spec_of_torch(lstm: nn.LSTM, engine: str) -> LayerSpec:
    """A LayerSpec written out by hand from torch.nn.LSTM's own parameters."""
    weights = []
    for layer in range(lstm.num_layers):
        for sfx in ("", "_reverse")[: 2 if lstm.bidirectional else 1]:
            p = {name: getattr(lstm, f"{name}_l{layer}{sfx}") for name in
                 ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}  # fmt: skip
            weights.append(DirectionWeights(**p, params=StepParams()))
    return LayerSpec(
        mode="LSTM", input_size=lstm.input_size, hidden_size=lstm.hidden_size, proj_size=0,
        num_layers=lstm.num_layers, num_directions=2 if lstm.bidirectional else 1,
        num_gates=4, bias=True, dropout=0.0, variant=LSTMVariant(), noise=Noise(zoneout=(0.0, 0.0)),
        engine=engine, training=lstm.training, weights=tuple(weights),
    )  # fmt: skip


@pytest.mark.parametrize("engine", [AUTOGRAD, NATIVE, FUSED], ids=lambda e: e.name)
def test_every_engine_runs_from_a_hand_written_spec(engine):
    """No lstmkit module at all: torch's parameters in a LayerSpec give torch's results."""
    torch.manual_seed(0)
    torch_lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True).double()
    spec = _spec_of_torch(torch_lstm, engine.name)
    x = torch.randn(6, 4, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 4, 5, dtype=torch.float64)
    c0 = torch.randn(4, 4, 5, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 5, 1])
    assert select.engine_for(spec, x, False) is engine
    out, states, _ = engine.run(spec, x, lengths, (h0, c0), False)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    ref_packed, (h_ref, c_ref) = torch_lstm(packed, (h0, c0))
    ref, _ = nn.utils.rnn.pad_packed_sequence(ref_packed, total_length=6)
    for got, expected in zip((out, *states), (ref, h_ref, c_ref), strict=True):
        torch.testing.assert_close(got, expected, atol=1e-10, rtol=1e-10)
    grads = torch.autograd.grad(out.sum(), [x, *torch_lstm.parameters()])
    grads_ref = torch.autograd.grad(ref.sum(), [x, *torch_lstm.parameters()])
    for got, expected in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-10, rtol=1e-10)


def test_a_layers_spec_is_plain_data_with_its_current_weights():
    lstm = lstmkit.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, peephole=True)
    spec = lstm.spec()
    fields = [getattr(spec, f.name) for f in dataclasses.fields(spec)]
    assert not any(isinstance(v, nn.Module) for v in fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.training = False
    assert len(spec.weights) == 4 and spec.state_sizes == (2, 4) and spec.training
    assert spec.direction(1, 1).params.weight_ch is lstm.weight_ch_l1_reverse
    flat = spec.flat_weights()  # torch's order, for torch's kernels
    assert len(flat) == len(lstm.flat_weights())
    assert all(a is b for a, b in zip(flat, lstm.flat_weights()))
    replaced = nn.Parameter(torch.zeros_like(lstm.weight_hh_l0))
    lstm.weight_hh_l0 = replaced
    assert lstm.eval().spec().weights[0].weight_hh is replaced and not lstm.spec().training
    cell = lstmkit.GRUCell(3, 4, bias=False).spec()
    assert (cell.mode, cell.num_layers, cell.num_directions, cell.weights[0].bias_ih) == (
        "GRU", 1, 1, None,
    )  # fmt: skip


def test_engines_never_import_the_modules():
    """The floor rule (also an import-linter contract): engines see a LayerSpec only."""
    for path in sorted(ENGINES_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any(n.startswith(MODULE_FLOORS) for n in names), f"{path.name}: {names}"


def _trace(module, x):
    with warnings.catch_warnings():
        # the tracer notes that shape checks become constants of the trace: they are, since
        # the trace is of this shape; and that torch.jit.trace is deprecated
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.trace(module, (x,), check_trace=False)


def test_tracing_runs_the_autograd_engine_and_the_trace_equals_the_layer(monkeypatch):
    """auto under a tracer: plain torch ops (no aten::lstm, no C call), the same numbers."""
    ran = []
    monkeypatch.setattr(AUTOGRAD, "run", lambda *a, run=AUTOGRAD.run: ran.append(1) or run(*a))
    lstm = lstmkit.LSTM(2, 3, bidirectional=True).eval()
    x = torch.randn(4, 2, 2)
    assert select.engine_for(lstm.spec(), x, False) is NATIVE  # outside the tracer
    traced = _trace(lstm, x)
    assert ran and not any("lstm" in node.kind() for node in traced.graph.nodes())
    fresh = torch.randn(4, 2, 2)
    torch.testing.assert_close(traced(fresh)[0], lstm(fresh)[0], atol=1e-6, rtol=1e-5)


def test_the_fused_engine_cannot_be_traced_and_says_so():
    with pytest.raises(ValueError, match='engine="fused" cannot run.*a tracer .* cannot record'):
        _trace(lstmkit.LSTM(2, 3, engine="fused"), torch.randn(3, 1, 2))


def test_compiling_counts_as_export(monkeypatch):
    x = torch.randn(5, 2, 3)
    layer = lstmkit.GRU(3, 4)
    assert select.engine_for(layer.spec(), x, False) is not AUTOGRAD
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert select.exporting()
    assert select.engine_for(layer.spec(), x, False) is AUTOGRAD
    native = lstmkit.GRU(3, 4, engine="native")  # torch's own op: an exporter maps it
    assert select.engine_for(native.spec(), x, False) is NATIVE


@pytest.mark.slow
def test_torch_export_of_a_layer_equals_the_layer():
    torch.manual_seed(1)
    gru = lstmkit.GRU(2, 3, num_layers=2, zoneout=0.2).eval()
    x = torch.randn(4, 2, 2)
    program = torch.export.export(gru, (x,))
    fresh = torch.randn(4, 2, 2)
    torch.testing.assert_close(program.module()(fresh)[0], gru(fresh)[0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", ["GRU", "RNN"])
def test_cells_and_layers_share_the_step_with_zoneout(kind):
    """Eval-mode zoneout (z * h_prev + (1 - z) * h_new) in the layer and the cell, both
    against torch.nn's cell stepped by hand."""
    torch.manual_seed(4)
    z = 0.3
    layer = getattr(lstmkit, kind)(3, 5, zoneout=z).double().eval()
    cell = getattr(lstmkit, kind + "Cell")(3, 5, zoneout=z).double().eval()
    oracle = getattr(nn, kind + "Cell")(3, 5).double()
    state = {k[: -len("_l0")]: v for k, v in layer.state_dict().items()}
    cell.load_state_dict(state)
    oracle.load_state_dict(state)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    out, h_n = layer(x)
    h = h_cell = torch.zeros(2, 5, dtype=torch.float64)
    for t in range(6):
        h = z * h + (1 - z) * oracle(x[t], h)
        h_cell = cell(x[t], h_cell)
        torch.testing.assert_close(out[t], h, atol=1e-12, rtol=0)
        torch.testing.assert_close(h_cell, h, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n[0], h, atol=1e-12, rtol=0)

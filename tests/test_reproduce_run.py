"""End-to-end: the LSTM solves small experiments; the CLI prints and saves the table."""

import json

import pytest
import torch

from lstmkit.cli import main
from lstmkit.tasks.reproduce import format_table, load_results, run_experiment
from lstmkit.tasks.reproduce.cli import plan_runs
from lstmkit.tasks.reproduce.experiments import SequenceNet
from lstmkit.tasks.reproduce.paper import lstm_sequences_to_beat

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lstm_solves_a_small_adding_problem() -> None:
    # ~8 s on one core: chrono initialisation escapes the mean-predictor plateau quickly.
    r = run_experiment("adding", T=20, budget_minutes=1.0, seed=0)
    assert r.solved, r.history[-1]
    assert r.wrong <= 0.01 * 2560 and r.total == 2560
    assert r.error < 2e-3  # MSE; predicting the mean gives ~0.042
    assert r.sequences < 60_000


def test_lstm_solves_the_embedded_reber_grammar_with_fewer_strings_than_the_paper() -> None:
    r = run_experiment("reber", budget_minutes=1.0, seed=0)
    assert r.solved and r.wrong == 0 and r.total == 256
    assert r.sequences < lstm_sequences_to_beat("reber", "embedded") == 8_440


@pytest.mark.slow
def test_lstm_solves_temporal_order_with_fewer_sequences_than_the_paper() -> None:
    r = run_experiment("temporal-order", budget_minutes=3.0, seed=0)
    assert r.solved and r.wrong <= 25
    assert r.sequences < 31_390


@pytest.mark.slow
def test_lstm_solves_adding_t100_and_the_tanh_rnn_does_not() -> None:
    lstm = run_experiment("adding", T=100, budget_minutes=4.0, seed=0)
    assert lstm.solved and lstm.sequences < 74_000
    rnn = run_experiment("adding", T=100, model="rnn", max_sequences=lstm.sequences, seed=0)
    assert not rnn.solved and rnn.wrong > 0.5 * 2560


def test_budget_stops_a_run_and_reports_it_unsolved() -> None:
    r = run_experiment("adding", T=100, model="rnn", max_sequences=64, eval_every=32, seed=0)
    assert not r.solved
    assert r.sequences == 64
    assert len(r.history) == 2


def test_chrono_sets_the_lstm_gate_biases() -> None:
    torch.manual_seed(0)
    net = SequenceNet("lstm", 2, 8, 1, init="chrono", t_max=100)
    b = net.rnn.bias_ih_l0 + net.rnn.bias_hh_l0
    forget, inputs = b[8:16], b[:8]
    assert torch.all(forget >= 0) and torch.all(forget <= torch.log(torch.tensor(99.0)))
    assert torch.allclose(inputs, -forget)


@pytest.mark.parametrize(("model", "oracle"), [("rnn", torch.nn.RNN), ("gru", torch.nn.GRU)])
def test_sequence_net_is_torch_layer_and_linear_read_out(model, oracle) -> None:
    net = SequenceNet(model, 3, 5, 2)
    reference = oracle(3, 5, batch_first=True)
    reference.load_state_dict(net.rnn.state_dict())
    x = torch.randn(4, 7, 3)
    lengths = torch.randint(1, 8, (4,))
    out, _ = reference(x)
    expected = net.head(out[torch.arange(4), lengths - 1])
    torch.testing.assert_close(net(x, lengths), expected)
    assert set(net.state_dict()) == {f"encoder.rnn.{k}" for k in reference.state_dict()} | {
        "head.weight",
        "head.bias",
    }


def test_plan_runs() -> None:
    quick = plan_runs("all", quick=True)
    assert len(quick) == 12  # 4 experiments x (LSTM, GRU, RNN)
    assert {(r.experiment, r.T) for r in quick} >= {("adding", 50), ("longlag", 100)}
    both = plan_runs("adding", T=500, models="lstm,rnn", inits="default,chrono")
    assert [(r.model, r.init) for r in both] == [
        ("lstm", "default"),
        ("lstm", "chrono"),
        ("rnn", "default"),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reproduce", "adding", "--model", "lstm,cnn"], "--model got 'lstm,cnn'"),
        (["reproduce", "adding", "--T", "5"], "T must be an int >= 10"),
        (["reproduce", "reber", "--T", "50"], "--T sets the size of adding"),
        (["reproduce", "adding", "--model", "gru", "--init", "chrono"], "applies to the LSTM"),
        (["reproduce", "adding", "--budget-minutes", "0"], "budget_minutes must be > 0"),
        (["reproduce", "adding", "--max-wrong", "2"], "max_wrong must be in [0, 1)"),
        (["reproduce", "copy"], "invalid choice: 'copy'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_prints_the_table_and_saves_json(tmp_path, capsys) -> None:
    out = tmp_path / "reber.json"
    code = main(["reproduce", "reber", "--quiet", "--budget-minutes", "1", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "97-100% of trials succeed" in printed and "Elman: 0% of trials succeed" in printed
    assert "0/256 (solved)" in printed
    doc = json.loads(out.read_text())
    assert doc["command"] == "lstmkit reproduce reber --budget-minutes 1.0"
    [result] = load_results(out)
    assert result.solved and result.paper_sequences == 8_440
    assert "| reber | embedded | lstm | chrono |" in format_table([result], markdown=True)

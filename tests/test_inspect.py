"""inspect's parts against oracles: saturation on hand-set gates, integrated gradients'
completeness, gradient x input against autograd's Jacobian, the recorder, the cell search
and the report page."""

from __future__ import annotations

import base64
import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from inspect_checks import _Links

from lstmkit.inspect import (
    gradient_x_input,
    integrated_gradients,
    record_gates,
    saturation,
    summary,
)
from lstmkit.inspect.html import Section, write_page
from lstmkit.inspect.report import _reverse
from lstmkit.inspect.text_cells import FEATURES, best_cell
from lstmkit.layers import GRU, LSTM
from lstmkit.nn.bilstm import reverse_padded


def hand_set_lstm(hidden: int = 3) -> LSTM:
    """Gates fixed by their biases, except o of unit 2, which follows the input's sign."""
    lstm = LSTM(1, hidden, batch_first=True)
    with torch.no_grad():
        for p in lstm.parameters():
            p.zero_()
        # torch's gate order i, f, g, o; each block has `hidden` rows.
        i, f, o = lstm.bias_ih_l0[:hidden], lstm.bias_ih_l0[hidden : 2 * hidden], None
        i[:] = torch.tensor([10.0, -10.0, 0.0])  # right-saturated, left-saturated, 0.5
        f[:] = torch.tensor([3.0, 0.0, -3.0])
        o = lstm.bias_ih_l0[3 * hidden :]
        o[:] = torch.tensor([10.0, 10.0, 0.0])
        lstm.weight_ih_l0[3 * hidden + 2, 0] = 20.0  # o of unit 2 = sigmoid(20 x)
    return lstm


def test_saturation_of_hand_set_gates_counts_only_valid_steps():
    lstm = hand_set_lstm()
    x = torch.tensor([[1.0, 1, 1, -1, -1, -1, -1, -1, -1, -1], [1.0, 1, -1, -1, 5, 5, 5, 5, 5, 5]])
    lengths = torch.tensor([10, 4])  # the second sequence's last 6 steps are padding
    with record_gates(lstm) as rec:
        lstm(x[..., None], lengths=lengths)
    table = saturation(rec.layers[0]).set_index(["gate", "unit"])
    sig = 1 / (1 + math.exp(-3.0))
    expected = {  # (left, right, mean) over the 14 valid steps
        ("i", 0): (0, 1, 1 / (1 + math.exp(-10))), ("i", 1): (1, 0, 1 / (1 + math.exp(10))),
        ("i", 2): (0, 0, 0.5), ("f", 0): (0, 1, sig), ("f", 1): (0, 0, 0.5),
        ("f", 2): (1, 0, 1 - sig), ("o", 0): (0, 1, None), ("o", 1): (0, 1, None),
        ("o", 2): (9 / 14, 5 / 14, None),  # x > 0 on 3 + 2 valid steps, x < 0 on 7 + 2
    }  # fmt: skip
    for key, (left, right, mean) in expected.items():
        row = table.loc[key]
        assert row["left"] == pytest.approx(left) and row["right"] == pytest.approx(right), key
        if mean is not None:
            assert row["mean"] == pytest.approx(mean, abs=1e-6), key
    stats = summary(table.reset_index()).set_index("gate")
    assert stats.loc["f", "mean"] == pytest.approx((sig + 0.5 + 1 - sig) / 3, abs=1e-6)
    assert stats.loc["i", "saturated"] == pytest.approx(2 / 3)
    assert stats.loc["i", "left_saturated"] == pytest.approx(1 / 3)
    assert stats.loc["o", "right_saturated"] == pytest.approx(2 / 3)
    assert stats.loc["o", "saturated"] == pytest.approx(1.0)  # unit 2: 9/14 of steps left
    assert (stats["units"] == 3).all()


def test_saturation_thresholds_are_checked():
    lstm = hand_set_lstm()
    with record_gates(lstm) as rec:
        lstm(torch.ones(1, 4, 1))
    with pytest.raises(ValueError, match="need 0 <= left < right <= 1"):
        saturation(rec.layers[0], left=0.9, right=0.1)


@pytest.mark.parametrize("batch_first", [True, False])
def test_recording_matches_return_gates_and_leaves_the_layer_as_it_was(batch_first):
    torch.manual_seed(0)
    lstm = LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = torch.randn(4, 6, 3) if batch_first else torch.randn(6, 4, 3)
    lengths = torch.tensor([6, 2, 5, 1])
    out_ref, _, gates = lstm(x, lengths=lengths, return_gates=True)
    with record_gates(torch.nn.Sequential(lstm)) as rec:
        out, _ = lstm(x, lengths=lengths)
        lstm(x[:2] if batch_first else x[:, :2])  # a second call is not recorded
    assert "forward" not in vars(lstm)  # the class's forward is back
    torch.testing.assert_close(out, out_ref)
    (record,) = rec.layers
    assert record.name == "0" and (record.num_layers, record.num_directions) == (2, 2)
    np.testing.assert_array_equal(record.lengths, lengths.numpy())
    for name, value in gates.items():
        expected = value if batch_first else value.transpose(1, 2)
        np.testing.assert_allclose(record.gates[name], expected.detach().numpy(), atol=1e-6)
    assert record.gate("f", 1, 1).shape == (4, 6, 5)
    assert record.mask().sum() == 14


def test_a_gru_records_its_reset_and_update_gates():
    gru = GRU(2, 4, batch_first=True)
    with record_gates(gru) as rec:
        gru(torch.randn(3, 5, 2))
    assert rec.first("GRU").sigmoid_gates == ("r", "z")
    assert set(saturation(rec.layers[0])["gate"]) == {"r", "z"}


def small_model(dtype=torch.float64):
    torch.manual_seed(1)
    lstm = LSTM(3, 6, batch_first=True, dtype=dtype)
    head = torch.nn.Linear(6, 1, dtype=dtype)
    return lambda v: head(lstm(v)[0][:, -1])[:, 0]


def test_integrated_gradients_complete_within_a_gap_that_shrinks_with_steps():
    f = small_model()
    x = 2 * torch.randn(5, 7, 3, dtype=torch.float64)
    base = torch.randn(5, 7, 3, dtype=torch.float64)
    gaps = []
    for steps in (2, 8, 32):
        att = integrated_gradients(f, x, base, steps)
        torch.testing.assert_close(att.output, f(x).detach())
        torch.testing.assert_close(att.baseline_output, f(base).detach())
        gaps.append(float(att.completeness_gap.max()))
    with torch.no_grad():
        span = float((f(x) - f(base)).abs().max())
    assert gaps[-1] < 1e-3 * span + 1e-9, gaps
    for coarse, fine in itertools.pairwise(gaps):
        assert fine < coarse / 4 or fine < 1e-10, gaps  # the trapezoid rule: O(1 / steps^2)


def test_integrated_gradients_of_a_linear_function_are_exact():
    w = torch.randn(7, 3, dtype=torch.float64)
    x, base = torch.randn(2, 7, 3, dtype=torch.float64), torch.randn(2, 7, 3, dtype=torch.float64)
    att = integrated_gradients(lambda v: (v * w).sum((1, 2)) + 3.0, x, base, steps=1)
    torch.testing.assert_close(att.values, (x - base) * w)
    with pytest.raises(ValueError, match="steps >= 1"):
        integrated_gradients(lambda v: v.sum((1, 2)), x, steps=0)


def test_gradient_x_input_against_autograds_jacobian():
    f = small_model()
    x = torch.randn(4, 5, 3, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(f, x)  # (B, B, T, F)
    own = jac[torch.arange(4), torch.arange(4)]  # d f_b / d x_b
    torch.testing.assert_close(gradient_x_input(f, x).values, x * own)
    assert jac.abs().sum() == pytest.approx(own.abs().sum())  # sequences do not mix


def test_reversal_is_reverse_padded_in_numpy():
    values = torch.randn(2, 3, 6, 4)  # (L*D, B, T, H)
    lengths = torch.tensor([6, 3, 1])
    expected = torch.stack([reverse_padded(v, lengths) for v in values]).numpy()
    np.testing.assert_array_equal(_reverse(values.numpy(), lengths.numpy()), expected)


def test_text_features_and_the_cell_found_for_them():
    text = 'ab "cd" e\n(fg) "h\n'
    np.testing.assert_array_equal(
        FEATURES["inside quotes"](text), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    )
    np.testing.assert_array_equal(FEATURES["position in line"](text)[8:12], [8, 9, 0, 1])
    np.testing.assert_array_equal(FEATURES["inside brackets"](text)[10:15], [1, 1, 1, 0, 0])
    rng = np.random.default_rng(0)
    passage = "the quick brown fox\njumps over\nthe lazy dog and runs away\n" * 4
    acts = rng.normal(size=(len(passage), 8)) * 0.3
    acts[:, 5] += 0.1 * FEATURES["position in line"](passage)
    match = best_cell(acts, list(passage))
    assert (match.unit, match.feature) == (5, "position in line") and match.correlation > 0.9
    acts[:, 2] -= 3 * FEATURES["upper case"](passage + "A")[:-1]  # constant 0: never chosen
    assert best_cell(acts, list(passage), "upper case").correlation == 0.0
    with pytest.raises(ValueError, match="--feature must be one of"):
        best_cell(acts, list(passage), "rhymes")


def test_the_page_parses_embeds_its_images_and_links_existing_files(tmp_path):
    from lstmkit.plots.gates import plot_saturation

    per_unit = pd.DataFrame({"layer": [0, 0], "direction": [0, 1], "gate": ["f", "f"],
                             "left": [0.1, 0.8], "right": [0.7, 0.0]})  # fmt: skip
    png = plot_saturation(per_unit, tmp_path / "s.png", title="t")
    csv = tmp_path / "t.csv"
    per_unit.to_csv(csv, index=False)
    sections = [Section("Gate saturation <1>", ["a & b"], [png], [per_unit], [csv])]
    page = write_page(tmp_path / "index.html", "report", ["intro"], sections)
    parser = _Links()
    parser.feed(page.read_text())
    images = [r for r in parser.refs if r.startswith("data:")]
    assert len(images) == 1
    assert base64.b64decode(images[0].split(",", 1)[1]) == png.read_bytes()
    assert "t.csv" in parser.refs and "#gate-saturation--1" in parser.refs
    assert "&lt;1&gt;" in page.read_text() and "a &amp; b" in page.read_text()


def test_bad_runs_and_flags_are_one_line_and_leave_no_file(tmp_path, capsys):
    from lstmkit.cli import main

    assert main(["inspect", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith("lstmkit: error: ")
    assert main(["inspect", str(tmp_path), "--ig-steps", "0"]) == 2
    assert "--ig-steps must be a positive integer" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path), "--units", "a,b"]) == 2
    assert "expected unit numbers" in capsys.readouterr().err
    (tmp_path / "artifact.json").write_text('{"kind": "poetry"}')
    assert main(["inspect", str(tmp_path)]) == 2
    assert "is a 'poetry' run; inspect knows" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact.json"]


def test_nothing_is_recorded_unless_asked(monkeypatch):
    from lstmkit.recurrent import RecurrentLayer
    from lstmkit.tasks.classify import Classifier, ClassifyConfig, LabelledSequences

    seen: list[bool] = []
    run = RecurrentLayer._run

    def spy(self, input, hx, lengths, record):
        seen.append(record)
        return run(self, input, hx, lengths, record)

    monkeypatch.setattr(RecurrentLayer, "_run", spy)
    seqs = [torch.randn(int(n), 2) + (i % 2) for i, n in enumerate(torch.randint(2, 6, (12,)))]
    data = LabelledSequences(seqs, [f"c{i % 2}" for i in range(12)], ["a", "b"])
    clf = Classifier(ClassifyConfig(epochs=1, hidden_size=4, batch_size=4)).fit(data)
    clf.predict(data)
    assert seen and not any(seen)  # training and prediction: no gate recorded
    with record_gates(clf.members[0]):
        clf.predict(data)
    assert seen[-1] is True

"""The paper's success criteria, checked on hand-made predictions at and around their thresholds."""

import pytest
import torch

from lstmkit.tasks.reproduce.criteria import (
    adding_correct,
    long_lag_correct,
    reber_correct,
    temporal_order_correct,
)


def _legal(*sets: str) -> torch.Tensor:
    """(1, L, 7) legal-next masks over BTPSXVE from strings of allowed symbols per step."""
    out = torch.zeros(1, len(sets), 7, dtype=torch.bool)
    for t, allowed in enumerate(sets):
        for symbol in allowed:
            out[0, t, "BTPSXVE".index(symbol)] = True
    return out


def test_reber_needs_the_legal_symbols_to_be_the_most_active() -> None:
    legal = _legal("TP", "B")
    good = torch.tensor([[[0.0, 0.4, 0.5, 0.1, 0.0, 0.0, 0.0], [0.9, 0, 0, 0, 0, 0, 0.1]]])
    assert reber_correct(good, legal, torch.tensor([2])).tolist() == [True]
    # T and P are legal but S beats P: not the two most active.
    bad = good.clone()
    bad[0, 0, 3] = 0.45
    assert reber_correct(bad, legal, torch.tensor([2])).tolist() == [False]
    # A tie between the weakest legal and the strongest illegal symbol is a failure.
    tie = good.clone()
    tie[0, 0, 3] = 0.4
    assert reber_correct(tie, legal, torch.tensor([2])).tolist() == [False]


def test_reber_ignores_steps_past_the_length() -> None:
    legal = _legal("TP", "B")
    scores = torch.tensor([[[0.0, 0.4, 0.5, 0.1, 0.0, 0.0, 0.0], [0, 0, 0, 0, 0, 0, 1.0]]])
    assert reber_correct(scores, legal, torch.tensor([1])).tolist() == [True]
    assert reber_correct(scores, legal, torch.tensor([2])).tolist() == [False]


def test_long_lag_threshold_is_a_quarter_on_every_unit_and_step() -> None:
    targets = torch.tensor([[0, 2]])
    probs = torch.tensor([[[0.76, 0.24, 0.0], [0.0, 0.1, 0.9]]])
    assert long_lag_correct(probs, targets, torch.tensor([2])).tolist() == [True]
    worse = torch.tensor([[[0.74, 0.26, 0.0], [0.0, 0.1, 0.9]]])
    assert long_lag_correct(worse, targets, torch.tensor([2])).tolist() == [False]
    # A non-target unit at 0.26 fails even when the target unit is right.
    off = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.26, 0.9]]])
    assert long_lag_correct(off, targets, torch.tensor([2])).tolist() == [False]
    assert long_lag_correct(off, targets, torch.tensor([1])).tolist() == [True]


def test_adding_threshold_is_0_04() -> None:
    targets = torch.tensor([0.5, 0.5, 0.75, 0.2])
    predictions = torch.tensor([0.539, 0.461, 0.791, 0.25])
    assert adding_correct(predictions, targets).tolist() == [True, True, False, False]


def test_temporal_order_threshold_is_0_3_on_every_output() -> None:
    classes = torch.tensor([1, 1, 3])
    probs = torch.tensor(
        [
            [0.1, 0.71, 0.1, 0.09],  # every error below 0.3
            [0.0, 0.69, 0.31, 0.0],  # target error 0.31
            [0.35, 0.0, 0.0, 0.75],  # right class, but a wrong unit at 0.35
        ]
    )
    assert temporal_order_correct(probs, classes).tolist() == [True, False, False]


def test_shape_mismatches_name_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"predictions has shape \(3,\) but the targets"):
        adding_correct(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"probs has shape \(2, 3\) but targets \(2, 3\)"):
        long_lag_correct(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), torch.ones(2))
    with pytest.raises(ValueError, match=r"expected \(B, C\) and \(B,\)"):
        temporal_order_correct(torch.zeros(2, 4), torch.zeros(3, dtype=torch.long))

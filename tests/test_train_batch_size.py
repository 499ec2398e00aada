"""Tests for TrainConfig.batch_size: the loop batches examples (tensors, a tuple (x, y), a
Dataset), reshuffles them each epoch from a seeded generator, resumes exactly, and refuses
data that is already batched."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lstmkit.train import CheckpointError, TrainConfig, TrainingInterrupted, fit

torch.set_num_threads(1)


def quiet(**kw) -> TrainConfig:
    return TrainConfig(progress=False, **kw)


def linear_objective(model, batch, state):
    return F.mse_loss(model(batch[0]), batch[1])


def linear(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def batches():
    x = torch.randn(8, 3)
    return [(x, x.sum(1, keepdim=True))] * 3


def same_weights(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def examples(n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]), torch.arange(n)


def test_batch_size_batches_tensors_covering_each_example_once_per_epoch():
    x, y, ids = examples()
    seen = []

    def recording(model, batch, state):
        xb, yb, idb = batch
        assert torch.equal(xb, x[idb]) and torch.equal(yb, y[idb])  # rows stay together
        seen.append(idb.tolist())
        return F.mse_loss(model(xb), yb)

    fit(nn.Linear(3, 1), recording, (x, y, ids), quiet(epochs=2, batch_size=8, seed=5))
    first, second = seen[:4], seen[4:]
    assert [len(b) for b in first] == [len(b) for b in second] == [8, 8, 8, 6]
    order = [[i for batch in epoch for i in batch] for epoch in (first, second)]
    assert sorted(order[0]) == sorted(order[1]) == list(range(30))
    assert order[0] != order[1]  # reshuffled
    again = []
    fit(nn.Linear(3, 1), lambda m, b, s: again.append(b[2].tolist()) or recording(m, b, s),
        (x, y, ids), quiet(epochs=2, batch_size=8, seed=5))  # fmt: skip
    assert again == first + second  # the seed fixes the order


def test_batch_size_on_a_dataset_matches_tensors_and_validates_in_order():
    x, y, _ = examples()
    vx, vy, _ = examples(10, seed=1)
    cfg = quiet(epochs=3, batch_size=8, optimizer="sgd", lr=0.05)
    torch.manual_seed(0)
    on_tensors = fit(nn.Linear(3, 1), linear_objective, (x, y), cfg, val_data=(vx, vy))
    torch.manual_seed(0)
    dataset = torch.utils.data.TensorDataset(x, y)
    on_dataset = fit(nn.Linear(3, 1), linear_objective, dataset, cfg,
                     val_data=torch.utils.data.TensorDataset(vx, vy))  # fmt: skip
    assert same_weights(on_tensors.model, on_dataset.model)
    model = on_tensors.model
    with torch.no_grad():  # the last epoch's validation: batches of 8 and 2, in order
        expected = (linear_objective(model, (vx[:8], vy[:8]), None)
                    + linear_objective(model, (vx[8:], vy[8:]), None)) / 2  # fmt: skip
    assert on_tensors.history[-1]["val_loss"] == pytest.approx(expected.item(), rel=1e-6)


def test_batch_size_resumes_exactly_after_ctrl_c(tmp_path):
    x, y, _ = examples()
    cfg = quiet(epochs=3, batch_size=8, checkpoint_dir=str(tmp_path))
    once = fit(linear(), linear_objective, (x, y), quiet(epochs=3, batch_size=8))
    calls = []

    def interrupting(model, batch, state):
        calls.append(1)
        if len(calls) == 6:  # epoch 2 (4 batches an epoch), after its first step
            raise KeyboardInterrupt
        return linear_objective(model, batch, state)

    with pytest.raises(TrainingInterrupted, match="epoch 2, step 1"):
        fit(linear(), interrupting, (x, y), cfg)
    torch.manual_seed(999)
    resumed = fit(linear(seed=1), linear_objective, (x, y), cfg, resume=True)
    assert same_weights(once.model, resumed.model)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (batches(), TypeError, r"batch_size=8 makes the loop batch train_data .* a list"),
        (lambda epoch: batches(), TypeError, "got a function epoch -> batches"),
        (torch.utils.data.DataLoader(list(range(4))), TypeError, "a DataLoader, which batches"),
        ((torch.zeros(4, 3), torch.zeros(5, 1)), ValueError, "must share their first dimension"),
        (torch.zeros(0, 3), ValueError, "the examples are empty"),
    ],
)
def test_batch_size_with_batched_or_bad_data_says_how_to_fix_it(data, error, message):
    with pytest.raises(error, match=message):
        fit(nn.Linear(3, 1), linear_objective, data, quiet(batch_size=8))


def test_batch_size_is_part_of_the_trajectory(tmp_path):
    x, y, _ = examples()
    fit(nn.Linear(3, 1), linear_objective, (x, y), quiet(epochs=1, batch_size=8,
        checkpoint_dir=str(tmp_path)))  # fmt: skip
    with pytest.raises(CheckpointError, match=r"batch_size: saved 8 vs now 10"):
        fit(nn.Linear(3, 1), linear_objective, (x, y), quiet(epochs=2, batch_size=10,
            checkpoint_dir=str(tmp_path)), resume=True)  # fmt: skip

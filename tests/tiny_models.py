"""A tiny sequence model and its objective, shared by the training-loop tests."""

import torch.nn.functional as F
from torch import nn


class TinyLSTM(nn.Module):
    """1-layer torch.nn.LSTM + Linear head: predicts the next value of a series."""

    def __init__(self, hidden: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x, state=None):
        out, state = self.lstm(x, state)
        return self.head(self.drop(out)), state


def objective(model, batch, state):
    x, y = batch
    pred, state = model(x, state)
    return F.mse_loss(pred, y), state

"""lstmkit: exact and fast LSTM layers for PyTorch, and the tasks people use them for."""

from lstmkit._version import __version__
from lstmkit.cell_layers import GRUCell, LSTMCell, RNNCell
from lstmkit.layers import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell", "__version__"]

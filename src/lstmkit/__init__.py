"""lstmkit: exact and fast LSTM layers for PyTorch, and the tasks people use them for."""

from lstmkit.cell_layers import GRUCell, LSTMCell, RNNCell
from lstmkit.layers import GRU, LSTM, RNN

__version__ = "0.1.0"

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell", "__version__"]

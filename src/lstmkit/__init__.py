"""lstmkit: exact and fast LSTM layers for PyTorch, and the tasks people use them for."""

__version__ = "0.1.0"

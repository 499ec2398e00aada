"""Data shared by the tasks: the embedded-dataset registry, batching, series and text helpers."""

from lstmkit.data.registry import DATASETS_DIR, dataset_file

__all__ = ["DATASETS_DIR", "dataset_file"]

"""The one place that knows where lstmkit's embedded datasets lie inside the package.

Every task asks here for its default data, by name; the files and their sources and
licences are listed in ``datasets/SOURCES.md`` beside them. A dataset is a file or a
folder under ``lstmkit/data/datasets/``; nothing is ever fetched from the network.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DATASETS_DIR", "dataset_file"]

DATASETS_DIR = Path(str(resources.files("lstmkit.data") / "datasets"))


def dataset_file(name: str) -> Path:
    """Path of the embedded dataset ``name``: a file or folder, e.g. "airline_passengers.csv".

    Raises:
        ValueError: naming the embedded files when ``name`` is not one of them.
    """
    path = (DATASETS_DIR / name).resolve()
    if not path.is_relative_to(DATASETS_DIR.resolve()):
        raise ValueError(f"a dataset name is a path inside the package's datasets, got {name!r}")
    if not path.exists():
        shipped = sorted(p.name for p in DATASETS_DIR.iterdir() if not p.name.endswith(".md"))
        raise ValueError(f"no embedded dataset {name!r}; the package ships {shipped}")
    return path

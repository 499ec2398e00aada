"""What a tune run leaves behind: best.json, the trials table and Optuna's two plots."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from lstmkit.io import atomic_write

from .space import Param

__all__ = ["best_config", "write_report"]


def best_config(study: Any, space: dict[str, Param]) -> dict[str, Any]:
    """The best trial's parameters with the space's fixed values: option destinations."""
    fixed = {k: p.fixed for k, p in space.items() if p.kind == "fixed"}
    return {**fixed, **study.best_trial.params}


def write_report(study: Any, space: dict[str, Param], out: Path, task: str, metric: str) -> dict:
    """Write ``best.json``, ``trials.csv`` and the plots into ``out``; returns best.json's dict.

    ``best.json``'s ``config`` table is what ``lstmkit TASK train --config best.json`` reads
    (its option defaults); ``tune`` beside it says where it came from.
    """
    best = study.best_trial
    summary = {
        "config": best_config(study, space),
        "tune": {
            "task": task,
            "study": study.study_name,
            "trial": best.number,
            "metric": metric,
            "value": best.value,
            "direction": study.direction.name.lower(),
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "best.json", (json.dumps(summary, indent=1) + "\n").encode())
    table = study.trials_dataframe()
    atomic_write(out / "trials.csv", table.to_csv(index=False).encode())
    summary["plots"] = _plots(study, out)
    return summary


def _plots(study: Any, out: Path) -> list[str]:
    """Optimisation history and parameter importances (Optuna's matplotlib versions)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as vis

    written = []
    for name, draw in (("history", vis.plot_optimization_history), ("importance", None)):
        path = out / f"{name}.png"
        with warnings.catch_warnings():
            # Optuna warns that a plot is experimental, or that equal trial values make the
            # importances equal: notes for a reader, not errors (pytest turns them into those).
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                ax = draw(study) if draw else vis.plot_param_importances(study)
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue  # importances need two or more finished trials that vary
        figure = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        figure.tight_layout()
        tmp = path.with_suffix(".tmp.png")
        figure.savefig(tmp, dpi=100)
        tmp.replace(path)
        plt.close(figure)
        written.append(str(path))
    return written

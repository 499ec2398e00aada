"""The tourism competition benchmark: the global LSTM and the statistical baselines, one run.

Reads the competition's data from a folder (GPL-3 packaging: it is never embedded in
lstmkit), trains one global model per frequency on the official training parts with the
default settings (the last horizon of each training part held out for early stopping), and
scores it beside naive, seasonal naive, AutoETS and AutoTheta on the official test parts.

    python benchmarks/tourism.py --data ../shared/data/tourism --threads 2 --max-minutes 8

It is the same as ``lstmkit forecast train --csv DATA/tourism_values.csv.xz --id-col series
--time-col time --target value --horizons DATA/tourism_series.csv --combine``, plus a
summary JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from lstmkit.tasks.forecast.global_model import GroupModel
from lstmkit.tasks.forecast.panel import Panel, read_panel
from lstmkit.tasks.forecast.panel_cli import format_pooled
from lstmkit.tasks.forecast.panel_config import PanelConfig
from lstmkit.tasks.forecast.panel_eval import evaluate_panel, predictions_table
from lstmkit.tasks.forecast.scoring import FREQUENCY_NAMES, frequency_name, pooled_table


def main() -> int:
    """Run the benchmark; print the pooled table; write the per-series metrics and a JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/tourism", help="the tourism folder")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-minutes", type=float, default=8.0, help="training budget per group")
    p.add_argument("--out", default="runs/tourism", help="folder for the tables")
    p.add_argument("--json", help="summary JSON path (default OUT/summary.json)")
    p.add_argument("--model", choices=("quantile", "deepar"), default="quantile")
    p.add_argument("--limit", type=int, help="smoke test: only the first N series per frequency")
    p.add_argument(
        "--frequencies", nargs="+", choices=("monthly", "quarterly", "yearly"),
        help="development runs: only these frequencies (default all three)",
    )  # fmt: skip
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    for name in ("tourism_values.csv.xz", "tourism_series.csv"):
        if not (data / name).is_file():
            p.error(f"{data / name} not found; pass --data FOLDER holding the tourism CSVs")
    start = time.perf_counter()
    panel = read_panel(
        data / "tourism_values.csv.xz",
        id_col="series",
        time_col="time",
        target="value",
        horizons=data / "tourism_series.csv",
    )
    if args.limit or args.frequencies:
        panel = _subset(panel, args.limit, args.frequencies)
    cfg = PanelConfig(model=args.model, max_minutes=args.max_minutes)
    forecaster, forecasts, per = evaluate_panel(panel, cfg, ensemble=True, threads=args.threads)
    pooled = pooled_table(per)
    wall = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per.to_csv(out / "metrics_by_series.csv", index=False)
    pooled.to_csv(out / "metrics.csv", index=False)
    predictions_table(panel, forecasts).to_csv(out / "predictions.csv", index=False)
    print(format_pooled(pooled))
    summary = {
        "pooled": pooled.to_dict(orient="records"),
        "wall_seconds": wall,
        "train_seconds": forecaster.seconds,
        "threads": args.threads,
        "max_minutes": args.max_minutes,
        "config": cfg.to_dict(),
        "load_average": os.getloadavg(),
        "groups": [_group_summary(g) for g in forecaster.groups],
    }
    path = Path(args.json) if args.json else out / "summary.json"
    path.write_text(json.dumps(summary, indent=1))
    print(f"wall {wall:.0f} s (training {forecaster.seconds:.0f} s); summary: {path}")
    return 0


def _group_summary(group: GroupModel) -> dict:
    """Where a group's training went: each member's last validation and refit rows."""
    members = []
    for history in group.histories:
        last = {}
        for row in history:
            last[row["phase"]] = row
        members.append(last)
    return {"frequency": frequency_name(group.season), "members": members,
            "calibration": getattr(group, "calibration", {})}  # fmt: skip


def _subset(panel: Panel, limit: int | None, frequencies: list[str] | None) -> Panel:
    """The first ``limit`` series of each chosen frequency (development and smoke runs)."""
    chosen = set(frequencies or FREQUENCY_NAMES.values())
    keep = [
        i
        for season, rows in panel.groups().items()
        if frequency_name(season) in chosen
        for i in rows[:limit]
    ]
    return Panel([panel.series[i] for i in sorted(keep)])


if __name__ == "__main__":
    raise SystemExit(main())

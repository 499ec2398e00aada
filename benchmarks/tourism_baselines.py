"""The statistical baselines on the tourism competition's official split, per frequency.

Reads the data from a path (the CRAN ``Tcomp`` packaging is GPL-3, so it is never embedded):
``tourism_series.csv`` (series, period, h, ...) and ``tourism_values.csv.xz`` (long format
``series,split,step,time,value``). Every method is fitted on each series' training part and
scored on its test part: mean over series of MASE (seasonal scale, m = 12, 4, 1), sMAPE,
95% interval coverage (pooled over points) and MSIS (α = 0.05, M4's definition).

    .venv/bin/python benchmarks/tourism_baselines.py /work/shared/data/tourism \
        [--methods naive,seasonal_naive,auto_ets,auto_theta] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.metrics.forecast import smape
from lstmkit.metrics.probabilistic import interval_coverage, mase, msis
from lstmkit.tasks.forecast.statistical import DEFAULT_METHODS, METHODS, forecast_panel

SEASONS = {"MONTHLY": 12, "QUARTERLY": 4, "YEARLY": 1}


def load_tourism(root: Path) -> dict[str, tuple[list[str], list[np.ndarray], list[np.ndarray]]]:
    """period -> (ids, training parts, test parts), the series in the file's order."""
    meta = pd.read_csv(root / "tourism_series.csv")
    values = pd.read_csv(root / "tourism_values.csv.xz").sort_values(["series", "split", "step"])
    parts = {key: g["value"].to_numpy(np.float64) for key, g in values.groupby(["series", "split"])}
    out = {}
    for period, group in meta.groupby("period", sort=False):
        ids = group["series"].astype(str).tolist()
        trains = [parts[(i, "train")] for i in ids]
        tests = [parts[(i, "test")] for i in ids]
        for i, test, h in zip(ids, tests, group["h"]):
            if test.size != h:
                raise ValueError(f"series {i}: {test.size} test values but h = {h}")
        out[str(period)] = (ids, trains, tests)
    return out


def score(trains, tests, season: int, fc) -> dict[str, float]:
    """Mean MASE and sMAPE over series, pooled 95% coverage and mean MSIS."""
    return {
        "MASE": mase(tests, fc.point, trains, season),
        "sMAPE": float(np.mean([smape(t, p) for t, p in zip(tests, fc.point)])),
        "cov95": interval_coverage(tests, fc.lower[95], fc.upper[95]),
        "MSIS": msis(tests, fc.lower[95], fc.upper[95], trains, season, alpha=0.05),
    }


def run(root: Path, methods: tuple[str, ...], threads: int) -> list[dict]:
    """One row per (frequency, method) with its scores and fitting time."""
    rows = []
    for period, (ids, trains, tests) in load_tourism(root).items():
        season = SEASONS[period]
        for method in methods:
            start = time.perf_counter()
            fc = forecast_panel(
                dict(zip(ids, trains)),
                [t.size for t in tests],
                season,
                methods=(method,),
                levels=(80, 95),
                threads=threads,
            )[method]
            seconds = time.perf_counter() - start
            row = {"frequency": period.lower(), "series": len(ids), "method": method}
            row.update(score(trains, tests, season, fc))
            row["seconds"] = round(seconds, 1)
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def _line(row: dict) -> str:
    return (
        f"| {row['frequency']} | {row['series']} | {row['method']} | {row['MASE']:.3f} | "
        f"{row['sMAPE']:.2f} | {100 * row['cov95']:.1f} | {row['MSIS']:.2f} | {row['seconds']} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="folder with the tourism CSV files")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated")
    parser.add_argument("--threads", type=int, default=2, help="statsforecast worker processes")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    methods = tuple(m for m in args.methods.split(",") if m)
    bad = [m for m in methods if m not in METHODS]
    if bad or not (args.path / "tourism_series.csv").is_file():
        why = f"unknown method {bad[0]!r}" if bad else f"no tourism_series.csv in {args.path}"
        print(f"error: {why}; methods are {', '.join(METHODS)}", file=sys.stderr)
        return 2
    print("| frequency | series | method | MASE | sMAPE | 95% coverage | MSIS | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    rows = run(args.path, methods, args.threads)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

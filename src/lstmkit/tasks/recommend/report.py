"""One run's results: the model and every baseline on the same test positions, printed and saved."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lstmkit.io import atomic_write
from lstmkit.metrics.ranking import RankingAccumulator
from lstmkit.plots.ranking import plot_recall_at_k

from .baselines import BASELINES, SessionKNN
from .config import RecommendConfig
from .data import DAY, Sessions, load_online_retail, read_events, time_split
from .evaluate import rank_baseline, rank_model
from .task import Recommender

__all__ = ["format_table", "load_sessions", "score_run", "write_run"]

CURVE_KS = tuple(range(1, 51))  # the Recall@k plot's k axis


def load_sessions(csv: str | None, config: RecommendConfig) -> tuple[Sessions, Sessions, Sessions]:
    """(train, validation, test) sessions of the CSV, or of the embedded log when None; an
    unset ``config.test_days``/``val_days`` is fixed from the log's span (in place)."""
    sessions = load_online_retail(config) if csv is None else read_events(csv, config)
    config.resolve_split(float(sessions.ends.max() - sessions.ends.min()) / DAY)
    return time_split(sessions, config.test_days, config.val_days or 0.0)


def score_run(rec: Recommender, test: Sessions, *, baselines: bool = True) -> dict[str, Any]:
    """Rank every test position with the model and (fitted on the sessions the model was
    trained on) each baseline; print the table and return the report.

    Returns:
        ``{"rankers": {name: metrics}, "curves": {name: recall at CURVE_KS}, ...}``.
    """
    vocab, model = rec._fitted()
    cfg = rec.config
    encoded = rec.encode(test)
    if not encoded:
        raise ValueError("no test session keeps 2 items the model knows; widen --test-days")
    name = f"lstmkit {cfg.cell.upper()} ({cfg.loss})"
    accumulators: dict[str, RankingAccumulator] = {}
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    accumulators[name] = rank_model(model, encoded, _accumulator(rec))
    seconds[name] = time.perf_counter() - start
    if baselines:
        if rec.trained_on is None:
            raise ValueError("the baselines need the sessions the model was trained on")
        encoded_train = [vocab.encode(s) for s in rec.trained_on.items]
        keep = [i for i, s in enumerate(encoded_train) if len(s) >= cfg.min_session_length]
        train = [encoded_train[i] for i in keep]  # what the model trained on, as ids
        ends = rec.trained_on.ends[keep]
        for base_name, cls in BASELINES.items():
            start = time.perf_counter()
            baseline = cls()
            if isinstance(baseline, SessionKNN):
                baseline.fit(train, len(vocab) + 1, ends=ends)
            else:
                baseline.fit(train, len(vocab) + 1)
            accumulators[base_name] = rank_baseline(baseline, encoded, _accumulator(rec))
            seconds[base_name] = time.perf_counter() - start
            print(f"  {base_name}: fitted and scored in {seconds[base_name]:.0f} s", flush=True)
    report = {
        "rankers": {n: acc.summary() for n, acc in accumulators.items()},
        "curves": {n: acc.recall_curve(CURVE_KS) for n, acc in accumulators.items()},
        "scoring_seconds": seconds,
        "train_seconds": rec.train_seconds,
        "epochs": len(rec.history),
        "best_epoch": rec.best_epoch,
        "test_sessions": len(encoded),
        "items": len(vocab),
        "model": name,
    }
    print(format_table(report["rankers"], cfg.ks))
    print(
        f"{report['rankers'][name]['positions']:,} test positions in {len(encoded):,} sessions, "
        f"{len(vocab):,} items; model trained {rec.train_seconds:.0f} s "
        f"({len(rec.history)} epochs), scored the test set in {seconds[name]:.1f} s"
    )
    return report


def _accumulator(rec: Recommender) -> RankingAccumulator:
    return RankingAccumulator(rec.config.ks, rec.vocab.counts, exclude=[0], depth=max(CURVE_KS))


def format_table(rankers: dict[str, dict[str, float]], ks: tuple[int, ...]) -> str:
    """The results as an aligned text table: one row per ranker."""
    k = max(ks)
    columns = [f"recall@{j}" for j in sorted(ks)] + [f"mrr@{k}", f"coverage@{k}", f"popularity@{k}"]
    width = max(len(n) for n in rankers) + 2
    head = "".join(f"{c.replace('recall', 'Recall').replace('mrr', 'MRR'):>14}" for c in columns)
    lines = [f"{'':<{width}}{head}"]
    for name, metrics in rankers.items():
        lines.append(f"{name:<{width}}" + "".join(f"{metrics[c]:>14.4f}" for c in columns))
    return "\n".join(lines)


def write_run(rec: Recommender, report: dict[str, Any], run: Path, *, title: str) -> None:
    """Save the model artifact, ``metrics.json`` and ``recall_at_k.png`` into ``run``."""
    import json

    rec.save(run)
    report = {**report, "config": rec.config.to_dict(), "history": rec.history}
    atomic_write(run / "metrics.json", json.dumps(report, indent=1, default=float).encode())
    curves = {n: (CURVE_KS, r) for n, r in report["curves"].items()}
    plot_recall_at_k(curves, run / "recall_at_k.png", title=f"Recall@k, {title}")

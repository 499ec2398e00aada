"""One global network per seasonal group of a panel: fit on the training parts, forecast quantiles.

A group is every series sharing a seasonal period (monthly, quarterly, ...). Its model is
trained on windows drawn from all of its series (series-balanced); the last horizon of each
training part is held out for early stopping, then (``refit``) the model is trained again
on the whole training part for the number of steps that validation chose.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lstmkit.metrics import probabilistic as prob
from lstmkit.seed import seed_everything
from lstmkit.tasks.forecast.calibration import (
    apply_factors,
    conformal_factors,
    interval_coverage_by_level,
)
from lstmkit.tasks.forecast.panel import MIN_TRAIN, PanelSeries
from lstmkit.tasks.forecast.panel_config import PanelConfig
from lstmkit.tasks.forecast.windows import (
    PanelWindows,
    SeriesScale,
    fit_scales,
    mase_weights,
    use_log,
)

__all__ = ["GroupModel", "auto_lookback", "auto_steps", "fit_group"]


def auto_lookback(horizon: int, season: int, longest: int) -> int:
    """Input steps: two horizons or two seasons, whichever is longer, at most the longest
    training part (shorter series are padded)."""
    return max(1, min(max(2 * horizon, 2 * season), longest))


def auto_steps(windows: int, batch_size: int) -> int:
    """Most optimizer steps: about three passes over the windows, between 1,000 and 8,000
    (early stopping usually ends sooner)."""
    return int(min(8000, max(1000, math.ceil(3 * windows / batch_size))))


@dataclass
class GroupModel:
    """A fitted group: what forecasting needs besides the series themselves.

    Attributes:
        season: the group's period m.
        horizon: the longest horizon of the group (the network's output length).
        lookback: input steps (of every member, unless ``lookbacks`` says otherwise).
        log: whether values are modelled in logs.
        ids: the group's series ids, in model order (the embedding's rows).
        scales: per series, the scale fitted on its training part.
        static_mean, static_std: standardisation of the static covariates.
        nets: the ensemble's networks.
        histories: each member's training rows.
        relative: windows relative to their level (False for counts, kept raw).
        seasonal_anchor: targets relative to the last season (see `PanelWindows`).
        factors: per level, the conformal rescaling of its distance from the median (see
            `calibration`), or None (uncalibrated).
        lookbacks: per member, its input steps (empty: ``lookback`` for all).
        calibration: what calibration saw on the held-out window (coverage before and
            after, the factors, the ensemble's holdout MASE), for reports.
    """

    season: int
    horizon: int
    lookback: int
    log: bool
    ids: list[str]
    scales: list[SeriesScale]
    static_mean: np.ndarray
    static_std: np.ndarray
    nets: list[nn.Module] = field(default_factory=list)
    histories: list[list[dict]] = field(default_factory=list)
    relative: bool = True
    seasonal_anchor: bool = False
    factors: np.ndarray | None = None
    lookbacks: list[int] = field(default_factory=list)
    calibration: dict = field(default_factory=dict)

    @property
    def level_span(self) -> int:
        """Inputs averaged into a window's level: one season (one step without season)."""
        return self.season

    def member_lookback(self, member: int) -> int:
        """Input steps of ensemble member ``member``."""
        return self.lookbacks[member] if self.lookbacks else self.lookback

    def windows(
        self, series: list[PanelSeries], cuts: list[int], lookback: int | None = None
    ) -> PanelWindows:
        """Windows of ``series`` (in ``ids`` order) reading only their first ``cuts`` values,
        ``lookback`` inputs each (default: the group's)."""
        return PanelWindows(
            series, cuts, self.scales, lookback or self.lookback, self.horizon, self.season,
            self.relative, self.seasonal_anchor,
        )  # fmt: skip

    def static(self, series: list[PanelSeries]) -> np.ndarray:
        """Standardised static covariates, one row per series."""
        if not len(self.static_mean):
            return np.zeros((len(series), 0), dtype=np.float32)
        raw = np.stack([s.static for s in series])
        return ((raw - self.static_mean) / self.static_std).astype(np.float32)

    def forecast(self, series: list[PanelSeries], cuts: list[int], cfg: PanelConfig) -> list:
        """Quantiles (h_i, Q) in raw units of each series' H steps after its first cuts[i]."""
        from lstmkit.tasks.forecast import kinds

        static = self.static(series)
        lasts: dict[int, tuple] = {}
        outs = []
        for member, net in enumerate(self.nets):
            size = self.member_lookback(member)
            if size not in lasts:
                lasts[size] = self.windows(series, cuts, size).last()
            x, _, _, anchor, rows, future = lasts[size]
            q = kinds.forecast(cfg, net, x, future, rows, static, member)
            outs.append(q + anchor[:, :, None])
        z = np.mean(outs, axis=0)  # average of the members' quantiles
        if self.factors is not None:
            z = apply_factors(z, self.factors, cfg.levels.index(0.5))
        out = [
            sc.inverse(z[i, : s.horizon]).astype(np.float64)
            for i, (s, sc) in enumerate(zip(series, self.scales))
        ]
        # Counts (raw units) cannot go below 0, though a widened interval's end may.
        return out if self.relative else [np.maximum(q, 0.0) for q in out]


def fit_group(series: list[PanelSeries], cfg: PanelConfig) -> GroupModel:
    """Train the ensemble of one group's global model on the series' training parts."""
    season = series[0].season
    horizon = max(s.horizon for s in series)
    trains = [s.train for s in series]
    lookback = cfg.lookback or auto_lookback(horizon, season, max(len(t) for t in trains))
    # Counts (negative binomial) stay raw integers; DeepAR's own scale handles their size.
    counts = cfg.model == "deepar" and cfg.likelihood == "negative_binomial"
    log = False if counts else use_log(trains, cfg.log)
    scales = [SeriesScale(False, 0.0, 1.0)] * len(series) if counts else fit_scales(trains, log)
    statics = np.stack([s.static for s in series]) if len(series[0].static) else np.zeros((0, 0))
    mean = statics.mean(axis=0) if statics.size else np.zeros(0)
    std = statics.std(axis=0) if statics.size else np.zeros(0)
    longest = max(len(t) for t in trains)
    group = GroupModel(
        season, horizon, lookback, log, [s.id for s in series], scales,
        mean, np.where(std > 0, std, 1.0), relative=not counts,
        seasonal_anchor=cfg.model == "quantile",
        lookbacks=member_lookbacks(lookback, cfg.lookback_scales, cfg.ensemble, longest),
    )  # fmt: skip
    full = [s.n_train for s in series]
    # Validation: the last horizon of each training part long enough to lose it.
    has_val = [int(np.isfinite(s.train[: -s.horizon]).sum()) >= MIN_TRAIN for s in series]
    cuts = [n - s.horizon if v else n for n, s, v in zip(full, series, has_val)]
    val_rows = np.flatnonzero(has_val)
    static = group.static(series)
    # A member's share of the time budget follows its lookback (a step costs ~ L).
    total = sum(group.member_lookback(k) for k in range(cfg.ensemble))
    minutes = cfg.max_minutes
    weighted = cfg.model == "quantile" and cfg.loss_weight == "mase"
    weights = torch.from_numpy(mase_weights(series, cuts, scales)).float() if weighted else None
    held_out, data = [], {}
    for member in range(cfg.ensemble):
        size = group.member_lookback(member)
        if size not in data:
            data[size] = _windows(group, series, cuts, full, val_rows, size)
        fit_win, full_win, val, windows = data[size]
        steps = cfg.max_steps or auto_steps(windows, cfg.batch_size)
        net, history, q_val = _train_member(
            group,
            cfg,
            member,
            (fit_win, full_win, val, static, weights),
            steps,
            None if minutes is None else 60.0 * minutes * size / total,
        )
        group.nets.append(net)
        group.histories.append(history)
        held_out.append(q_val)
    if len(val_rows):
        _calibrate(group, cfg, series, cuts, val, np.mean(held_out, axis=0))
    return group


def member_lookbacks(
    lookback: int, scales: tuple[float, ...], members: int, longest: int
) -> list[int]:
    """Each member's input steps: ``lookback`` times the scales in turn, at most the longest
    training part, never under ``lookback`` (N-BEATS ensembles lookbacks the same way)."""
    return [
        max(lookback, min(longest, round(lookback * scales[k % len(scales)])))
        for k in range(members)
    ]


def _windows(
    group: GroupModel,
    series: list[PanelSeries],
    cuts: list[int],
    full: list[int],
    val_rows: np.ndarray,
    lookback: int,
) -> tuple[PanelWindows, PanelWindows, tuple | None, int]:
    """For a member of ``lookback`` inputs: the early-stopping windows (before ``cuts``), the
    whole training parts' windows, the validation batch and the most optimizer steps."""
    fit_win = group.windows(series, cuts, lookback)
    full_win = group.windows(series, full, lookback)
    ends = np.asarray(cuts)[val_rows] - 1
    val = full_win.batch(val_rows, ends) if len(val_rows) else None
    windows = sum(len(fit_win.ends(i)) for i in range(len(series)))
    return fit_win, full_win, val, windows


def _calibrate(
    group: GroupModel,
    cfg: PanelConfig,
    series: list[PanelSeries],
    cuts: list[int],
    val: tuple,
    q_val: np.ndarray,
) -> None:
    """Conformal factors from the held-out window (when ``cfg.calibrate``), and the
    ensemble's holdout scores beside them: coverage before/after and mean MASE."""
    _, y, mask, anchor, rows, _ = val
    y = y + anchor  # q_val is in absolute model units
    levels = cfg.levels
    info = {
        "points": int(mask.sum()),
        "coverage": interval_coverage_by_level(q_val, y, mask, levels),
    }
    if cfg.calibrate:
        group.factors = conformal_factors(q_val, y, mask, levels)
        fixed = apply_factors(q_val, group.factors, levels.index(0.5))
        info["factors"] = [round(float(f), 4) for f in group.factors]
        info["coverage_calibrated"] = interval_coverage_by_level(fixed, y, mask, levels)
    median = q_val[:, :, levels.index(0.5)]
    scores = []
    for k, r in enumerate(rows):
        s, cut, sc = series[r], cuts[r], group.scales[r]
        actual = s.values[cut : s.n_train]
        ok = np.isfinite(actual)
        insample = s.values[:cut][np.isfinite(s.values[:cut])]
        if ok.any() and len(insample) > 1:
            forecast = sc.inverse(median[k, : len(actual)])
            scores.append(prob.mase(actual[ok], forecast[ok], insample, s.season))
    finite = [v for v in scores if np.isfinite(v)]
    info["holdout_mase"] = float(np.mean(finite)) if finite else float("nan")
    group.calibration = info


def _train_member(
    group: GroupModel,
    cfg: PanelConfig,
    member: int,
    data: tuple,
    steps: int,
    budget: float | None,
) -> tuple[nn.Module, list[dict], np.ndarray | None]:
    """One member: early stopping on the held-out window, its forecasts of that window
    (for calibration), then the refit on the whole training part.

    ``data`` is (fit windows, full windows, validation batch or None, static covariates,
    per-series loss weights or None)."""
    from lstmkit.tasks.forecast import kinds

    fit_win, full_win, val, static, weights = data
    seed = cfg.seed + member
    seed_everything(seed)
    net = kinds.build(cfg, fit_win, len(group.ids), static.shape[1])
    start = time.perf_counter()
    epochs = max(1, math.ceil(steps / cfg.steps_per_epoch))
    val_share = None if budget is None else budget * (0.6 if cfg.refit else 1.0)
    result = _fit(net, cfg, (fit_win, static, weights), seed, epochs, val, val_share)
    history = [dict(row, phase="validate") for row in result.history]
    q_val = None
    if val is not None:
        net.eval()
        x, _, _, _, rows, future = val
        anchor = val[3][:, :, None]  # absolute model units: members may differ in lookback
        q_val = kinds.forecast(cfg, net, x, future, rows, static, member) + anchor
        net.train()
    if cfg.refit and val is not None and result.best_epoch:
        left = None if budget is None else max(1.0, budget - (time.perf_counter() - start))
        seed_everything(seed)
        fresh = kinds.build(cfg, full_win, len(group.ids), static.shape[1])
        again = _fit(fresh, cfg, (full_win, static, weights), seed, result.best_epoch, None, left)
        history += [dict(row, phase="refit") for row in again.history]
        net = fresh
    net.eval()
    return net, history, q_val


def _fit(
    net: nn.Module,
    cfg: PanelConfig,
    data: tuple,
    seed: int,
    epochs: int,
    val: tuple | None,
    seconds: float | None,
):
    from lstmkit.tasks.forecast import kinds
    from lstmkit.train import TrainConfig, fit

    win, static, weights = data

    def batches(epoch: int) -> list[tuple]:
        # Each epoch's windows depend only on (seed, epoch): a run reproduces exactly.
        rng = np.random.default_rng([seed, epoch])
        return [
            kinds.to_batch(win.sample(rng, cfg.batch_size), static)
            for _ in range(cfg.steps_per_epoch)
        ]

    val_data = None if val is None else [kinds.to_batch(val, static)]
    tc = TrainConfig(
        epochs=epochs,
        optimizer="adam",
        lr=cfg.lr,
        clip_norm=1.0,
        patience=cfg.patience if val_data is not None else None,
        restore_best=val_data is not None,
        max_seconds=seconds,
        seed=seed,
        progress=cfg.progress,
    )
    objective = kinds.objective(cfg, torch.tensor(cfg.levels, dtype=torch.float32), weights)
    return fit(net, objective, batches, tc, val_data=val_data, model_config=net.config)

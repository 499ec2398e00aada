"""A fitted panel forecaster as one lstmkit artifact: every group's networks, scales and series."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.data.validate import EXACT_FLOATS
from lstmkit.io import ArtifactError, load_artifact, save_artifact
from lstmkit.tasks.forecast.deepar import DeepARNet
from lstmkit.tasks.forecast.global_model import GroupModel
from lstmkit.tasks.forecast.panel import Panel, PanelSeries
from lstmkit.tasks.forecast.panel_config import PanelConfig
from lstmkit.tasks.forecast.quantile_net import QuantileNet
from lstmkit.tasks.forecast.windows import SeriesScale

__all__ = ["PANEL_KIND", "load_panel_model", "save_panel_model"]

PANEL_KIND = "forecast-panel"
SERIES = "panel.csv"
HISTORY = "history.json"


def save_panel_model(
    directory: str | os.PathLike[str], cfg: PanelConfig, groups: list[GroupModel], panel: Panel
) -> Path:
    """Write the config, each group's state and weights, and the series it was fitted on."""
    tensors, meta = {}, []
    for g_i, g in enumerate(groups):
        for m_i, net in enumerate(g.nets):
            for name, t in net.state_dict().items():
                tensors[f"g{g_i}.m{m_i}.{name}"] = t
        meta.append(
            {
                "season": g.season, "horizon": g.horizon, "lookback": g.lookback, "log": g.log,
                "relative": g.relative, "seasonal_anchor": g.seasonal_anchor, "ids": g.ids,
                "scales": [[s.log, s.center, s.spread] for s in g.scales],
                "static_mean": g.static_mean.tolist(), "static_std": g.static_std.tolist(),
                "net": g.nets[0].config, "members": len(g.nets),
                "lookbacks": g.lookbacks,
                "factors": None if g.factors is None else g.factors.tolist(),
                "calibration": g.calibration,
            }
        )  # fmt: skip
    config = {"panel": cfg.to_dict(), "groups": meta, "static_names": panel.static_names}
    files = {
        SERIES: _series_csv(panel),
        HISTORY: json.dumps([g.histories for g in groups]).encode(),
    }
    return save_artifact(directory, PANEL_KIND, config, tensors, files)


def load_panel_model(
    directory: str | os.PathLike[str],
) -> tuple[PanelConfig, list[GroupModel], Panel]:
    """Read what `save_panel_model` wrote; ArtifactError if it is missing, corrupt or foreign."""
    art = load_artifact(directory, PANEL_KIND)
    try:
        cfg = PanelConfig.from_dict(art.config["panel"])
        groups = [_group(art.tensors, g_i, m) for g_i, m in enumerate(art.config["groups"])]
        panel = _read_series(art.files[SERIES], art.config.get("static_names", []), groups)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ArtifactError(f"{directory} holds an unreadable panel model: {exc}") from None
    return cfg, groups, panel


def _group(tensors: dict, g_i: int, m: dict) -> GroupModel:
    g = GroupModel(
        m["season"], m["horizon"], m["lookback"], m["log"], list(m["ids"]),
        [SeriesScale(bool(a), float(b), float(c)) for a, b, c in m["scales"]],
        np.asarray(m["static_mean"]), np.asarray(m["static_std"]), relative=m["relative"],
        seasonal_anchor=m["seasonal_anchor"], calibration=m.get("calibration", {}),
        lookbacks=list(m.get("lookbacks", [])),
    )  # fmt: skip
    if m.get("factors") is not None:  # artifacts from before calibration have none
        g.factors = np.asarray(m["factors"], dtype=np.float64)
    kind = DeepARNet if "likelihood" in m["net"] else QuantileNet
    for m_i in range(m["members"]):
        net = kind(**m["net"])
        prefix = f"g{g_i}.m{m_i}."
        net.load_state_dict(
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        )
        net.eval()
        g.nets.append(net)
    return g


def _series_csv(panel: Panel) -> bytes:
    frames = []
    for s in panel.series:
        frame = pd.DataFrame({"id": s.id, "time": s.times, "value": s.values, "h": s.horizon})
        frame["season"] = s.season
        for name, v in zip(panel.static_names, s.static):
            frame[name] = v
        frames.append(frame)
    return pd.concat(frames).to_csv(index=False).encode()


def _read_series(data: bytes, static_names: list[str], groups: list[GroupModel]) -> Panel:
    df = pd.read_csv(io.BytesIO(data), dtype={"id": str}, float_precision=EXACT_FLOATS)
    dated = not pd.api.types.is_numeric_dtype(df["time"])
    series = []
    for sid, rows in df.groupby("id", sort=True):
        times = pd.Index(pd.to_datetime(rows["time"]) if dated else rows["time"].to_numpy())
        static = rows[static_names].iloc[0].to_numpy(np.float64) if static_names else np.zeros(0)
        series.append(
            PanelSeries(
                str(sid), rows["value"].to_numpy(np.float64), times, int(rows["h"].iloc[0]),
                int(rows["season"].iloc[0]), static,
            )
        )  # fmt: skip
    known = {i for g in groups for i in g.ids}
    return Panel([s for s in series if s.id in known], static_names=list(static_names))

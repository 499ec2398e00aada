"""How the `lstmkit recommend` preset was chosen: the model and baselines on the *validation* split.

The embedded Online Retail log's test part (sessions ending in its last 30 days) is cut off
first and never touched: the sessions before it are split again, the last 30 days of them
being the validation set and the rest training, and the model (the CLI's PRESET with the
settings given as JSON on top) is scored beside every baseline on the validation positions:

    .venv/bin/python benchmarks/recommend_preset.py '{"epochs": 6, "lr": 0.003}'
"""

from __future__ import annotations

import json
import sys

import torch

from lstmkit.tasks.recommend import Recommender, load_online_retail, online_retail_config
from lstmkit.tasks.recommend.cli import PRESET
from lstmkit.tasks.recommend.data import time_split
from lstmkit.tasks.recommend.report import score_run


def main() -> None:
    torch.set_num_threads(1)
    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    config = online_retail_config(**{**PRESET, **settings, "test_days": 30.0, "val_days": 0.0})
    before_test, _, _ = time_split(load_online_retail(config), config.test_days)
    train, _, val = time_split(before_test, config.test_days)
    print(f"validation protocol: {len(train):,} training and {len(val):,} validation sessions")
    rec = Recommender(config).fit(train)
    report = score_run(rec, val)
    model = report["rankers"][report["model"]]
    print(json.dumps({"settings": settings, "epochs": report["epochs"], "model": model}))


if __name__ == "__main__":
    main()

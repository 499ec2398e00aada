"""The default tagging runs end to end, asserting the figures measured for the README.

`pytest -m slow tests/test_tag_slow.py`; each runs the command a user runs. The bounds are
what was reached on the 2-core development machine while it was shared (see the README's
tagging section: the issue's targets, 95.8% UPOS and 35 entity F1, were not reached there).
"""

from __future__ import annotations

import json

import pytest

from lstmkit.cli import main


@pytest.mark.slow
def test_upos_default_run_within_15_minutes(tmp_path):
    assert main(["tag", "--run", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # measured 95.08% with a core to itself (13 epochs); 94.23% at load 6-9, 93.59% at 13-15
    assert metrics["test"]["accuracy"] >= 0.945
    assert metrics["total_seconds"] <= 15 * 60


@pytest.mark.slow
def test_wnut17_default_run_within_60_minutes(tmp_path):
    assert main(["tag", "--dataset", "wnut17", "--run", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["entities"]["f1"] >= 0.195  # measured 20.00 (load 15 -> 6.5)
    assert metrics["total_seconds"] <= 60 * 60
    assert metrics["shared_task"]["UH-RiTUAL"]["f1"] == pytest.approx(0.4186, abs=5e-5)

"""The tourism benchmark run (benchmarks/tourism.py), asserting the figures reached here.

The data are read from the shared folder (GPL-3 packaging: never embedded); the test is
skipped where that folder does not exist. About 3 minutes on 2 cores (the measured run:
170 s wall at load 5, training 93 s; the --max-minutes cap never bound, so the run is
step-budgeted and deterministic).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tourism"
ROOT = Path(__file__).resolve().parents[1]

# Mean MASE reached by the README's run (commit 307cc45, the measurement queue, 13:54 UTC
# 2026-12-02), with a 5% margin for another machine's arithmetic.
REACHED = {"monthly": 1.528, "quarterly": 1.520, "yearly": 2.641}


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_dir(), reason=f"the tourism data are not at {DATA}")
def test_tourism_run_reaches_the_readme_figures(tmp_path):
    summary = tmp_path / "summary.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "tourism.py"), "--data", str(DATA),
           "--threads", "2", "--max-minutes", "8", "--out", str(tmp_path), "--json",
           str(summary)]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT, timeout=3600)
    result = json.loads(summary.read_text())
    rows = {(r["frequency"], r["method"]): r for r in result["pooled"]}
    for freq, reached in REACHED.items():
        assert rows[(freq, "lstmkit")]["MASE"] <= reached * 1.05, freq
    # The targets, reached by that run: below seasonal naive and AutoETS of the same
    # run (monthly 1.528 vs 1.531, quarterly 1.520 vs 1.599), below naive on yearly, and the
    # 95% intervals within 90-97% (monthly 96.8%, quarterly 95.8%).
    for freq in ("monthly", "quarterly"):
        ours = rows[(freq, "lstmkit")]["MASE"]
        assert ours < rows[(freq, "seasonal_naive")]["MASE"], freq
        assert ours < rows[(freq, "auto_ets")]["MASE"], freq
        assert 0.90 <= rows[(freq, "lstmkit")]["coverage95"] <= 0.97, freq
    assert rows[("yearly", "lstmkit")]["MASE"] < rows[("yearly", "naive")]["MASE"]
    assert result["wall_seconds"] <= 30 * 60

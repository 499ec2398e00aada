"""`lstmkit tune` on a real PostgreSQL server: two worker processes share one study.

The test creates a throwaway cluster in a temporary directory (initdb, pg_ctl on a loopback
port), runs two `lstmkit tune` commands on one study in it, checks that every trial is
stored once, and stops the server. Without PostgreSQL's server binaries it fails in CI (the
CI variable is set; `.ci/run` installs them) and skips elsewhere.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loopback import free_port

optuna = pytest.importorskip("optuna", reason="lstmkit[tune] is not installed")
sqlalchemy = pytest.importorskip("sqlalchemy")


def _server_binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        return Path(shutil.which("initdb")).parent
    message = "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL cluster on a loopback port; yields its SQLAlchemy URL."""
    bin_dir = _server_binaries()
    root = Path(tempfile.mkdtemp(prefix="lstmkit-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the packages' user
        if shutil.which("runuser") is None:
            pytest.fail("running as root without runuser: cannot start PostgreSQL as non-root")
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True)  # noqa: E731
    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "lstmkit", "--no-sync")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = str(bin_dir / "pg_ctl")
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield f"postgresql+psycopg2://lstmkit@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_two_tune_commands_share_one_postgres_study(postgres_url, tmp_path):
    t = np.arange(90)
    y = 10 + np.sin(2 * np.pi * t / 12) + 0.1 * np.random.default_rng().standard_normal(90)
    csv = tmp_path / "tiny.csv"
    pd.DataFrame({"y": y}).to_csv(csv, index=False)
    space = tmp_path / "space.toml"
    space.write_text("[space]\nhidden_size = {low = 4, high = 8}\nlookback = 8\nnum_layers = 1\n")
    base = [sys.executable, "-m", "lstmkit", "tune", "forecast", "--csv", str(csv)]
    base += ["--horizon", "6", "--epochs", "2", "--season", "12", "--space", str(space)]
    base += ["--storage", postgres_url, "--study", "shared", "--trials", "6", "--pruner", "none"]
    workers = [
        subprocess.Popen(
            [*base, "--seed", str(i), "--run", str(tmp_path / f"w{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [w.communicate(timeout=400) for w in workers]
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-2000:]
        assert "best trial #" in out
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    trials = study.get_trials()
    # Each command stops when the study holds 6; two finishing at once may add one more.
    assert 6 <= len(trials) <= 7
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both commands trained
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as db:
        rows = db.execute(sqlalchemy.text("SELECT number FROM trials")).scalars().all()
    engine.dispose()
    assert sorted(rows) == list(range(len(trials)))  # stored once each, no duplicates

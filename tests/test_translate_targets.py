"""The README's G2P figures: `lstmkit translate` with no arguments (20 minutes of training).

Measured on the 2-core development machine shared with other jobs, one thread (the
default): under the measurement lock at load 10 falling to 5, greedy WER 30.43% / PER
7.38%, beam 5 WER 29.98% / PER 7.23% on the 11,749 test words after 1,205 s of training
(~8 epochs); the same command niced at load ~10 (~5 epochs): greedy 32.50% / 7.87%, beam 5
32.03% / 7.72%. The issue's targets (WER <= 28%, PER <= 7%) were not reached. The bounds
below cover both runs, with a little room; the time budget buys fewer steps on a busier
machine.
"""

import json

import pytest

from lstmkit.cli import main


@pytest.mark.slow
def test_the_default_g2p_run_reaches_the_measured_figures_and_beam_beats_greedy(tmp_path):
    run = tmp_path / "run"
    assert main(["translate", "--run", str(run)]) == 0
    rows = {r["decoding"]: r for r in json.loads((run / "metrics.json").read_text())["test"]}
    greedy, beam = rows["greedy"], rows["beam 5"]
    assert greedy["items"] == beam["items"] == 11_749
    assert beam["wer"] < greedy["wer"]  # the target: strictly better
    assert beam["wer"] <= 0.325 and beam["per"] <= 0.08
    assert greedy["wer"] <= 0.33 and greedy["per"] <= 0.082

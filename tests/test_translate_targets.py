"""The README's G2P figures: `lstmkit translate --threads 2` (20 minutes of training).

Measured on the 2-core development machine through the measurement queue (nice 0, 192% CPU,
other jobs niced; load 2.6 at the start, 4.7 at the end), commit f6580d5: 1,204 s of
training, 21 epochs, then on the 11,749 test words greedy WER 27.87% / PER 6.65%, beam 5
WER 27.60% / PER 6.57%: the issue's targets (WER <= 28%, PER <= 7%) reached. The bounds
below are those targets for beam 5, with a little room for greedy; a busier machine buys
fewer steps in the time budget (one core shared by several jobs gave 29.98% with the
one-layer encoder of before) and may miss them.
"""

import json

import pytest

from lstmkit.cli import main


@pytest.mark.slow
def test_the_default_g2p_run_reaches_the_targets_and_beam_beats_greedy(tmp_path):
    run = tmp_path / "run"
    assert main(["translate", "--threads", "2", "--run", str(run)]) == 0
    rows = {r["decoding"]: r for r in json.loads((run / "metrics.json").read_text())["test"]}
    greedy, beam = rows["greedy"], rows["beam 5"]
    assert greedy["items"] == beam["items"] == 11_749
    assert beam["wer"] < greedy["wer"]  # the target: strictly better
    assert beam["wer"] <= 0.28 and beam["per"] <= 0.07  # the targets
    assert greedy["wer"] <= 0.285 and greedy["per"] <= 0.07

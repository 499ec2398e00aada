"""The check every bad-input corpus runs: a command refused before any training starts.

`refused_up_front(argv, expected, files, ...)` runs ``lstmkit argv`` (``{name}`` in argv is
the corpus file of that name) and asserts exit code 2, one `lstmkit: error:` line on
stderr holding ``expected``, no traceback, no file left in the working directory and none
of the corpus files changed.
"""

from __future__ import annotations

from pathlib import Path

from lstmkit.cli import main
from lstmkit.train import Callback
from lstmkit.train.scope import extra_callbacks


class NoTraining(Callback):
    def on_fit_start(self, trainer) -> None:
        raise AssertionError("training started: the bad input was not refused up front")


def corpus_argv(argv: list[str], files: Path) -> list[str]:
    """``argv`` with each ``{name}`` replaced by the corpus file's path."""
    paths = {"{" + p.name + "}": str(p) for p in files.iterdir()}
    return [paths.get(a, a).replace("{dir}", str(files / "dir")) for a in argv]


def refused_up_front(argv, expected, files, tmp_path, capsys, monkeypatch) -> None:
    """Run ``argv`` (already filled in) in ``tmp_path`` and assert the clean refusal."""
    monkeypatch.chdir(tmp_path)  # default run directories would land here
    before = {p: p.stat().st_mtime_ns for p in files.rglob("*")}
    with extra_callbacks(NoTraining()):
        code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmkit: error: "), err
    assert "Traceback" not in err and expected in lines[0], lines[0]
    assert list(tmp_path.rglob("*")) == [], "a refused command left files behind"
    after = {p: p.stat().st_mtime_ns for p in files.rglob("*")}
    assert after == before, "a refused command changed or added files"

"""Published results of Hochreiter & Schmidhuber (1997), Section 5, as data to print beside ours."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CITATION", "PAPER", "PaperResult", "lstm_sequences_to_beat", "paper_results"]

CITATION = (
    'S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory", '
    "Neural Computation 9(8):1735-1780, 1997"
)


@dataclass(frozen=True)
class PaperResult:
    """One row of the paper's tables.

    Attributes:
        experiment: our name for it (``reber``, ``longlag``, ``adding``, ``temporal-order``).
        method: the paper's method name (LSTM, Elman, BPTT, RTRL, ...).
        setting: the size that distinguishes rows, e.g. ``T=500`` or ``p=100``.
        outcome: what the paper reports about success, as printed there.
        sequences: training sequences until success, as printed there (``>`` when it failed).
        source: table and page of the paper.
    """

    experiment: str
    method: str
    setting: str
    outcome: str
    sequences: str
    source: str


# Experiments the paper ran at several sizes; their rows are matched on the setting.
SIZED = ("adding", "longlag")

# The LSTM rows quote the best and worst LSTM configurations where the paper lists several.
PAPER: tuple[PaperResult, ...] = (
    PaperResult(
        "reber",
        "LSTM",
        "3-4 blocks",
        "97-100% of trials succeed",
        "8,440-39,740",
        "Table 1, exp. 1",
    ),
    PaperResult("reber", "Elman", "15 hidden", "0% of trials succeed", ">200,000", "Table 1"),
    PaperResult("reber", "RTRL", "3-12 hidden", "some trials succeed", "25,000-173,000", "Table 1"),
    PaperResult("longlag", "LSTM", "p=100", "100% of trials succeed", "5,040", "Table 2, exp. 2a"),
    PaperResult("longlag", "BPTT", "p=100", "0% of trials succeed", ">5,000,000", "Table 2"),
    PaperResult("longlag", "RTRL", "p=100", "0% of trials succeed", ">5,000,000", "Table 2"),
    PaperResult("adding", "LSTM", "T=100", "1/2560 test sequences wrong", "74,000", "Table 7"),
    PaperResult("adding", "LSTM", "T=500", "0/2560 test sequences wrong", "209,000", "Table 7"),
    PaperResult("adding", "LSTM", "T=1000", "1/2560 test sequences wrong", "853,000", "Table 7"),
    PaperResult("temporal-order", "LSTM", "6a", "1/2560 test sequences wrong", "31,390", "Table 8"),
)


def lstm_sequences_to_beat(experiment: str, setting: str) -> int | None:
    """The fewest training sequences the paper's LSTM needed for ``experiment`` at ``setting``.

    Args:
        experiment: ``reber``, ``longlag``, ``adding`` or ``temporal-order``.
        setting: the size, e.g. ``T=500``; Reber and temporal order have one size.

    Returns:
        The number (8,440 for Reber, the best of its LSTM rows), or None for a size the
        paper did not run (e.g. the adding problem at T=200).
    """
    rows = [r for r in paper_results(experiment) if r.method == "LSTM"]
    if experiment in SIZED:
        rows = [r for r in rows if r.setting == setting]
    if not rows:
        return None
    return int(rows[0].sequences.split("-")[0].replace(",", ""))


def paper_results(experiment: str, setting: str | None = None) -> list[PaperResult]:
    """The paper's rows for one experiment, optionally for one setting (``T=500``).

    Args:
        experiment: ``reber``, ``longlag``, ``adding`` or ``temporal-order``.
        setting: keep only rows with this setting, plus rows of other methods without one.

    Returns:
        The matching rows, LSTM first as in the paper's tables.
    """
    names = sorted({row.experiment for row in PAPER})
    if experiment not in names:
        raise ValueError(f"unknown experiment {experiment!r}; choose one of {', '.join(names)}")
    rows = [row for row in PAPER if row.experiment == experiment]
    if setting is not None:
        lstm_settings = {r.setting for r in rows if r.method == "LSTM"}
        if setting in lstm_settings:
            rows = [r for r in rows if r.method != "LSTM" or r.setting == setting]
    return rows

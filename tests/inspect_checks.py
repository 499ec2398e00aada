"""What every inspect report must satisfy: the page parses, every file it names exists, and
the pictures and tables it promises are there."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pandas as pd


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.images = 0
        self.sections: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if key in attrs:
                self.refs.append(attrs[key])
        self.images += tag == "img"
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.sections.append(data)
            self._in_h2 = False


def check_report(page: Path) -> _Links:
    """Parse ``page``; every reference is an embedded image, an in-page anchor or a file
    that exists beside it. Returns the parser (its sections, image count and references)."""
    assert page.name == "index.html" and page.is_file()
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    for ref in parser.refs:
        if ref.startswith("data:image/png;base64,") or ref.startswith("#"):
            continue
        assert "://" not in ref and not ref.startswith("/"), ref
        assert (page.parent / ref).is_file(), f"{page} links {ref}, which does not exist"
    assert parser.images == len(list(page.parent.glob("*.png"))), "an image is not embedded"
    assert "Gate activations" in parser.sections and "Gate saturation" in parser.sections
    return parser


def check_summary(folder: Path, gates: set[str]) -> pd.DataFrame:
    """The summary table holds the promised columns, shares in [0, 1], and ``gates``."""
    table = pd.read_csv(folder / "gate_summary.csv")
    assert {"mean", "saturated", "left_saturated", "right_saturated", "units"} <= set(table)
    assert set(table["gate"]) == gates
    for column in ("mean", "saturated", "left_saturated", "right_saturated"):
        assert table[column].between(0, 1).all(), column
    return table

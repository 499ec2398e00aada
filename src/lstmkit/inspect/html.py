"""The report page: one self-contained HTML file, every picture embedded as base64 PNG."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lstmkit.io import atomic_write

__all__ = ["Section", "write_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 1.5em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; margin-top: 2em; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } nav a { margin-right: 1em; } .note { color: #555; }
"""


@dataclass
class Section:
    """A part of the page: a title, paragraphs, pictures (PNG paths) and tables."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    tables: list[pd.DataFrame] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # linked downloads (CSV), beside the page

    @property
    def anchor(self) -> str:
        """The section's id in the page."""
        return "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


def _image(path: Path, folder: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.relative_to(folder).as_posix())
    return (
        f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
        f'<figcaption class="note">{name}</figcaption></figure>'
    )


def _section(section: Section, folder: Path) -> str:
    parts = [f'<h2 id="{section.anchor}">{html.escape(section.title)}</h2>']
    parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    parts += [table.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0)
              for table in section.tables]  # fmt: skip
    if section.files:
        links = ", ".join(
            f'<a href="{html.escape(f.relative_to(folder).as_posix())}">{html.escape(f.name)}</a>'
            for f in section.files
        )
        parts.append(f'<p class="note">Data: {links}</p>')
    parts += [_image(p, folder) for p in section.images]
    return "\n".join(parts)


def write_page(path: Path, title: str, intro: list[str], sections: list[Section]) -> Path:
    """Write the report page at ``path`` (atomically); images and files lie beside it.

    Returns:
        The path written.
    """
    folder = path.parent
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = "\n".join(_section(s, folder) for s in sections)
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        + "".join(f'<p class="note">{html.escape(p)}</p>' for p in intro)
        + f"<nav>{nav}</nav>\n{body}\n</body></html>\n"
    )
    atomic_write(path, page.encode("utf-8"))
    return path

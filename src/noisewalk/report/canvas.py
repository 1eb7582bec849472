"""What the report's sections hold: figures, sections, and the canvas that draws figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from noisewalk.analysis.tables import (
    Table,
)

CURVES_PER_PLOT = 8
"""Most curves drawn in one accuracy-vs-σ plot (more are split over several)."""

HISTORY_LINES = 6
"""Most training levels drawn in one training-history plot (evenly chosen)."""


@dataclass
class Figure:
    title: str
    png: bytes
    caption: str = ""


@dataclass
class Section:
    title: str
    parts: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class ReportOutput:
    """What :func:`build_report` wrote."""

    html: Path
    tables: list[Path]
    figures: list[str]
    """Titles of the embedded figures."""
    sections: list[str]


class Canvas:
    """Draws plots into a scratch folder and keeps their PNG bytes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def draw(self, plot: Callable[..., Path], *args, title: str, caption: str = "", **kw) -> Figure:
        self.count += 1
        path = plot(*args, self.folder / f"figure{self.count}.png", title=title, **kw)
        return Figure(title, path.read_bytes(), caption)

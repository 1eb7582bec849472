"""One style for every figure: sizes, fonts, axes, legends and how figures are saved."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from noisewalk.errors import InvalidParameterError

DPI = 300
"""Resolution of PNG figures."""

FORMATS = ("png", "pdf", "svg")
"""The file formats a figure can be written in."""

PARETO_NAMED = 4
"""Most points of a Pareto plot named beside them; more are numbered, with a key."""

OVERLAY_CURVES = 4
"""Most accuracy curves drawn over each other in one panel; more get a panel each."""

STYLE = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "legend.frameon": False,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.dpi": DPI,
    "figure.dpi": 100,
    "errorbar.capsize": 2,
}


GRID = {"color": "0.85", "lw": 0.6}


OTHERS = "0.82"
"""Colour of the other curves' fits drawn behind a panel's own curve."""


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def style() -> Iterator:
    plt = pyplot()
    with plt.rc_context(STYLE):
        yield plt


def check_formats(formats: Sequence[str]) -> list[str]:
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise InvalidParameterError(f"figure formats are {', '.join(FORMATS)}; got {', '.join(map(repr, bad))}")
    return list(dict.fromkeys(formats))


def save(fig, path: str | Path, formats: Sequence[str] = (), *, layout: bool = True) -> Path:
    """Write ``fig`` to ``path`` and, beside it, in each of ``formats``; close it.
    ``layout=False`` keeps a layout already made (a legend placed outside the axes)."""
    path = Path(path)
    extra = [f for f in check_formats(formats) if f != path.suffix.lstrip(".").lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if layout:
            fig.tight_layout()
        for target in (path, *(path.with_suffix(f".{f}") for f in extra)):
            fig.savefig(target, dpi=DPI, metadata=metadata(target))
    finally:
        pyplot().close(fig)
    return path


def metadata(path: Path) -> dict[str, str | None]:
    """Plain metadata: no creation date, so that the same figure gives the same file."""
    kind = path.suffix.lower()
    if kind == ".pdf":
        return {"Creator": "noisewalk", "Producer": None, "CreationDate": None}
    if kind == ".svg":
        return {"Creator": "noisewalk", "Date": None}
    if kind == ".png":
        return {"Software": "noisewalk"}
    return {}


def plain_log_labels(axis, lo: float, hi: float) -> None:
    """Tick labels of a log axis as plain numbers (``2``, ``0.05``), the minor ticks
    labelled too where the axis spans less than about a decade and a half."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain if hi / lo < 30 else NullFormatter())


def legend(ax, entries: int, loc: str) -> None:
    """A legend at ``loc`` inside the axes, or outside on the right when it has more than
    three entries (where it would cover data)."""
    if entries > 3:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        ax.legend(loc=loc)


def log_sigma_axis(ax, xlabel: str) -> None:
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.grid(True, which="major", **GRID)


def place_labels(ax, xs, ys, texts: list[str], *, bold: bool = False, size: float = 7.0) -> None:
    """Put each text beside its point where it covers no point and no text placed before:
    the first free one of eight places around the point (the first place if none is free)."""
    fig = ax.figure
    fig.canvas.draw()  # fixes the layout the data-to-pixel transform depends on
    px = ax.transData.transform(np.column_stack([xs, ys]))
    pt = fig.dpi / 72.0
    char_w, height, gap, radius = 0.62 * size * pt, 1.15 * size * pt, 4 * pt, 4 * pt
    taken: list[tuple[float, float, float, float]] = []

    def free(box) -> bool:
        x0, y0, x1, y1 = box
        if any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in taken):
            return False
        return not any(x0 - radius < x < x1 + radius and y0 - radius < y < y1 + radius for x, y in px)

    right_half = px[:, 0] > ax.transAxes.transform((0.6, 0))[0]
    for (x, y), anchor, text, right in zip(px, zip(xs, ys, strict=True), texts, right_half, strict=True):
        w = char_w * len(text)
        sides = [(-1, "right"), (1, "left")] if right else [(1, "left"), (-1, "right")]
        places = [(dx, dy, ha) for dx, ha in sides for dy in (1, -1, 0)] + [(0, 1, "center"), (0, -1, "center")]
        for k, (dx, dy, ha) in enumerate(places):
            ox = dx * gap
            oy = dy * (gap + 0.1 * height) if dx else dy * (radius + gap)
            x0 = x + ox - (w if ha == "right" else w / 2 if ha == "center" else 0)
            y0 = y + oy - (height if dy < 0 else height / 2 if dy == 0 else 0)
            box = (x0, y0, x0 + w, y0 + height)
            if free(box) or k == len(places) - 1:
                if not free(box):  # nowhere free: the first place
                    dx, dy, ha = places[0]
                    ox, oy = dx * gap, dy * (gap + 0.1 * height)
                    x0 = x + ox - (w if ha == "right" else 0)
                    y0 = y + oy
                    box = (x0, y0, x0 + w, y0 + height)
                taken.append(box)
                ax.annotate(
                    text,
                    anchor,
                    xytext=(ox / pt, oy / pt),
                    textcoords="offset points",
                    ha=ha,
                    va="bottom" if dy > 0 else "top" if dy < 0 else "center",
                    fontsize=size,
                    fontweight="bold" if bold else "normal",
                    zorder=5,
                )
                break

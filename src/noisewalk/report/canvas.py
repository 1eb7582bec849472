"""Figures on the report's page: the canvas that draws and files them, the words of their
labels, and their captions."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from noisewalk.analysis.curves import (
    Configuration,
    Curve,
    varying_keys,
)
from noisewalk.analysis.midpoints import CurveFit
from noisewalk.analysis.tables import (
    Table,
)
from noisewalk.report import labels, style
from noisewalk.results.model import GLOBAL_SITE

CURVES_PER_PLOT = 12
"""Most curves drawn in one accuracy-vs-σ plot (more are split over several); more than
``style.OVERLAY_CURVES`` are drawn as a panel each."""

SERIES_PER_PLOT = 8
"""Most series (configuration and training level) in one weight-magnitude plot."""

HISTORY_LINES = 6
"""Most training levels drawn in one training-history plot (evenly chosen)."""


FIGURE_FORMATS = ("png", "pdf", "svg")
"""The formats every figure is written in beside the page (PNG at 300 dpi)."""

SUBJECT_KEYS = frozenset({"model", "dataset", "noise"})
"""The settings a figure's title names (see ``labels.subject``)."""

FIGURES_DIR = "figures"
"""The folder beside the page that holds the figures' files."""

CSS_PX_PER_PIXEL = 110 / style.DPI
"""Display size on the page of one pixel of a figure's PNG: an inch of figure is 110 CSS
pixels, so that the figures' text reads at the size of the page's."""


@dataclass
class Figure:
    title: str
    png: bytes
    caption: str = ""
    files: list[Path] = field(default_factory=list)
    """The figure's files beside the page (PNG, PDF, SVG), empty when none were written."""


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
    precision: list[str] = field(default_factory=list)
    """How well each curve's μ is known (interval over networks, networks needed), one line each."""
    figure_files: list[Path] = field(default_factory=list)
    """Every figure's files (PNG, PDF, SVG) in the figures folder beside the page."""


def slug(text: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower().replace("μ", "mu").replace("σ", "sigma")).strip("-")
    return words[:60].rstrip("-") or "figure"


class Canvas:
    """Draws plots into a folder (as ``{prefix}{number}-{title}`` in each format) and keeps
    their PNG bytes for the page."""

    def __init__(self, folder: Path, prefix: str, formats: Sequence[str], keep: bool) -> None:
        self.folder, self.prefix, self.formats, self.keep = folder, prefix, list(formats), keep
        self.count = 0

    def draw(self, plot: Callable[..., Path], *args, title: str, caption: str = "", **kw) -> Figure:
        self.count += 1
        path = self.folder / f"{self.prefix}{self.count:02d}-{slug(title)}.png"
        path = plot(*args, path, title=title, formats=self.formats, **kw)
        files = [path.with_suffix(f".{f}") for f in dict.fromkeys(["png", *self.formats])] if self.keep else []
        return Figure(title, path.read_bytes(), caption, files)

    def clear_old(self) -> None:
        """Remove figures an earlier report of this page wrote (numbered as this one's)."""
        pattern = re.compile(rf"{re.escape(self.prefix)}\d\d+-[a-z0-9-]+\.(png|pdf|svg)")
        if self.keep and self.folder.is_dir():
            for old in self.folder.iterdir():
                if pattern.fullmatch(old.name):
                    old.unlink()


class Words:
    """Configurations in words (legends and titles) and what stands behind each point
    (networks, noise draws), for captions."""

    def __init__(self, confs: list[Configuration]) -> None:
        keys = varying_keys([c.config for c in confs])
        self.names = {c.label: labels.config_words(c.config, keys) for c in confs}
        self.network_names = {c.label: labels.config_words(c.config, keys, network=True) for c in confs}
        # beside a title that already names the model, data and noise (labels.subject)
        rest = [k for k in keys if k not in SUBJECT_KEYS]
        self.beside = {c.label: labels.config_words(c.config, rest, network=True) if rest else "" for c in confs}
        self.several = len(confs) > 1
        self.draws: dict[str, list[int]] = {}
        for c in confs:
            counts = [
                len(e.acc) for n in c.networks if n.done for e in n.evaluations if e.done and e.kind == "activation"
            ]
            self.draws[c.label] = counts

    def __call__(self, label: str) -> str:
        return self.names.get(label, label)

    def at_level(self, label: str, sigma_train: float) -> str:
        """Networks of a configuration trained at one level, in words."""
        name = self.network_names.get(label, label)
        return name if sigma_train == 0 and "without noise" in name else f"{name}, σ_train = {sigma_train:.3g}"

    def titled(self, title: str, label: str) -> str:
        """``title`` (which names the model, data and noise) with the configuration's other settings."""
        extra = self.beside.get(label, "")
        return f"{title}, {extra}" if extra else title

    def curve(self, curve: Curve) -> str:
        conf = curve.label.rsplit(" @ ", 1)[0] if curve.site != GLOBAL_SITE else curve.label
        return self(conf)

    def draws_text(self, conf_labels: Sequence[str]) -> str:
        counts = [k for label in conf_labels for k in self.draws.get(label, [])]
        return count_range(counts, "noise draw")


def count_range(counts: Sequence[int], noun: str) -> str:
    """``3 networks``, ``3–5 networks`` or ``1 network``."""
    if not counts:
        return f"the {noun}s"
    lo, hi = min(counts), max(counts)
    plural = noun if hi == 1 else f"{noun}s"
    return f"{lo} {plural}" if lo == hi else f"{lo}–{hi} {plural}"


def fit_quality(fits: Sequence[CurveFit]) -> str:
    """The range of χ²/dof of the fits in use, for a caption."""
    ratios = []
    for f in fits:
        used = f.stacked if f.use_stacked else f.single
        if used is not None and used.dof > 0 and math.isfinite(used.chi2):
            ratios.append(used.chi2 / used.dof)
    if not ratios:
        return ""
    lo, hi = min(ratios), max(ratios)
    value = f"{lo:.2g}" if math.isclose(lo, hi, rel_tol=0.05) else f"{lo:.2g} to {hi:.2g}"
    return f" χ²/dof of the {'fit' if len(ratios) == 1 else 'fits'}: {value}."


def curve_caption(words: Words, chunk: list[tuple[Curve, CurveFit]], walking: bool) -> str:
    nets = count_range([len(a) for c, _ in chunk for a in c.acc], "network")
    draws = words.draws_text(list(dict.fromkeys(c.label.rsplit(" @ ", 1)[0] for c, _ in chunk)))
    trained = any(c.trained_with_noise for c, _ in chunk)
    fits = [f for _, f in chunk]
    panels = len(chunk) > style.OVERLAY_CURVES
    stacked = [f.use_stacked for f in fits]
    single_log = [f.single.log for f, two in zip(fits, stacked, strict=True) if not two]
    if all(stacked):
        shape, space = "two-step logistic", "log σ"
    else:
        shape = "logistic (two-step where one step does not fit)" if any(stacked) else "logistic"
        space = "log σ" if all(single_log) else "σ" if not any(single_log) else "σ or log σ, as each study asks"
        if any(stacked) and space == "σ":
            space = "σ; two-step fits in log σ"
    text = ""
    if walking and len(chunk) > 1:
        text = f"Each {'panel' if panels else 'curve'}: noise at that site only, every other site noise-free. "
    text += (
        f"Points: mean test accuracy over {nets}{' (at each level, those trained at that level)' if trained else ''}; "
        f"error bars: standard deviation across the networks; each network's accuracy is its mean over {draws}. "
        f"Lines: the {shape} fitted to the points (weighted least squares in {space}), drawn over the measured "
        "levels only; dotted: μ, where the fit falls half-way."
    )
    text += fit_quality(fits)
    if panels:
        text += " Grey: the other panels' fits, for comparison."
    return text


def split_into(items: Sequence, size: int) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items]


def panel_title(curve: Curve, words: Words) -> str:
    if curve.site == GLOBAL_SITE:
        return labels.subject(curve.config)
    return words.titled(f"Walking noise, {labels.subject(curve.config)}", curve.label.rsplit(" @ ", 1)[0])

"""Figures of values per category: per-site μ, weight magnitudes, and the accuracy–robustness (Pareto) plot."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from noisewalk.report.style import (
    GRID,
    PARETO_NAMED,
    legend,
    log_sigma_axis,
    place_labels,
    plain_log_labels,
    save,
    style,
)


def category_names(series: Mapping[str, Mapping[str, tuple[float, float]]]) -> list[str]:
    categories: list[str] = []
    for values in series.values():
        categories += [c for c in values if c not in categories]
    return categories


def grouped(
    series: Mapping[str, Mapping[str, tuple[float, float]]],
    path: str | Path,
    *,
    title: str,
    ylabel: str,
    log: bool,
    missing_note: str,
    reference: float | None = None,
    formats: Sequence[str] = (),
    xlabel: str | None = None,
) -> Path:
    """Value ± error per category (x axis), one marker or bar per series side by side.

    On a log axis the values are points with error bars (a bar on a log axis has no
    meaningful base); on a linear axis they are bars from zero. ``reference`` draws a
    horizontal line (1 for ratios). Missing values are marked with a grey cross."""
    categories = category_names(series)
    n = max(len(series), 1)
    with style() as plt:
        width_in = max(4.5, (0.32 if log else 0.3) * len(categories) * (1 if log else n) + 1.8)
        if n > 3:
            width_in += 2.2  # the legend, outside on the right
        fig, ax = plt.subplots(figsize=(min(width_in, 10.0), 3.6))
        x = np.arange(len(categories))
        step = 0.8 / n
        finite = [v for values in series.values() for v, _ in values.values() if np.isfinite(v) and (v > 0 or not log)]
        missing = False
        for k, (label, values) in enumerate(series.items()):
            val = np.array([values.get(c, (np.nan, np.nan))[0] for c in categories], dtype=float)
            err = np.array([values.get(c, (np.nan, np.nan))[1] for c in categories], dtype=float)
            pos = x - 0.4 + step * (k + 0.5) if n > 1 else x.astype(float)
            ok = np.isfinite(val) & ((val > 0) | (not log))
            err = np.where(np.isfinite(err) & ok, err, 0.0)
            if log:
                lower = np.minimum(err, 0.999 * np.where(ok, val, 0.0))  # stay above zero on a log axis
                ax.errorbar(
                    pos[ok],
                    val[ok],
                    yerr=np.vstack([lower, err])[:, ok] if err.any() else None,
                    fmt="o",
                    ms=4.5,
                    elinewidth=1.0,
                    label=label,
                    zorder=3,
                )
            else:
                ax.bar(pos[ok], val[ok], step * 0.9, yerr=err[ok] if err.any() else None, label=label, zorder=2)
            if (~ok).any():
                missing = True
                floor = min(finite) if finite else 1.0
                ax.plot(pos[~ok], np.full((~ok).sum(), floor), "x", color="0.5", ms=6, zorder=3)
        if missing:
            ax.plot([], [], "x", color="0.5", label=missing_note)
        if reference is not None:
            ax.axhline(reference, color="0.4", lw=0.8, ls="--", zorder=1)
        tilted = len(categories) > 6 or max((len(c) for c in categories), default=0) > 10
        ax.set_xticks(x, categories, rotation=45 if tilted else 0, ha="right" if tilted else "center")
        ax.set_xlim(-0.6, len(categories) - 0.4)
        if log:
            ax.set_yscale("log")
            if finite:
                lo, hi = min(finite), max(finite)
                if reference is not None:
                    lo, hi = min(lo, reference), max(hi, reference)
                pad = (hi / lo) ** 0.08 if hi > lo * 1.05 else 1.2
                ax.set_ylim(lo / pad, hi * pad)
                plain_log_labels(ax.yaxis, lo / pad, hi * pad)
                ax.grid(True, axis="y", which="minor", color="0.93", lw=0.5)
        ax.set_ylabel(ylabel)
        if xlabel:
            ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(True, axis="y", which="major", **GRID)
        if n > 1 or missing:
            legend(ax, n + missing, "best")
        return save(fig, path, formats)


def plot_site_midpoints(
    series: Mapping[str, Mapping[str, tuple[float, float]]],
    path: str | Path,
    *,
    title: str = "Per-site midpoint noise level (walking noise)",
    ylabel: str = "μ (log scale)",
    formats: Sequence[str] = (),
    xlabel: str = "noise site (in the order of the forward pass)",
) -> Path:
    """Per-site μ ± error as points over the sites (log axis), one marker per series side
    by side (e.g. without and with noisy training). ``series`` maps a label to
    ``{site: (mu, err)}``; a site without μ in range is marked with a grey cross."""
    return grouped(
        series,
        path,
        title=title,
        ylabel=ylabel,
        log=True,
        missing_note="no μ in range",
        formats=formats,
        xlabel=xlabel,
    )


def plot_weight_magnitudes(
    series: Mapping[str, Mapping[str, float]],
    path: str | Path,
    *,
    title: str = "Mean |w| per layer",
    ylabel: str = "mean |w|",
    log: bool | None = None,
    reference: float | None = None,
    formats: Sequence[str] = (),
) -> Path:
    """Mean |w| (or a ratio of it, with ``reference=1``) per layer, one marker or bar per series.

    ``log=None`` chooses: a log axis (points) where the values span more than a decade
    or ``reference`` is given, else bars from zero."""
    data = {label: {layer: (v, np.nan) for layer, v in values.items()} for label, values in series.items()}
    if log is None:
        values = [v for vals in series.values() for v in vals.values() if np.isfinite(v) and v > 0]
        log = reference is not None or (bool(values) and max(values) > 10 * min(values))
    if log and "log" not in ylabel:
        ylabel = f"{ylabel} (log scale)"
    return grouped(
        data,
        path,
        title=title,
        ylabel=ylabel,
        log=log,
        missing_note="no value",
        reference=reference,
        formats=formats,
    )


def plot_pareto(
    points: Mapping[str, tuple[float, ...]],
    path: str | Path,
    *,
    title: str = "Peak accuracy against robustness",
    xlabel: str = "midpoint noise level μ",
    formats: Sequence[str] = (),
) -> Path:
    """Peak accuracy against μ (log axis) per configuration, the Pareto front joined.

    ``points`` maps a label to ``(peak accuracy, mu)`` or ``(peak accuracy, mu, mu_err)``;
    points without μ are left out. The accuracy axis is padded around the points, which
    are drawn over the front's line."""
    from matplotlib.ticker import FuncFormatter

    from noisewalk.analysis.pareto import pareto_front

    labels = list(points)
    xy = [tuple(points[k][:2]) for k in labels]
    err = [points[k][2] if len(points[k]) > 2 else math.nan for k in labels]
    front = pareto_front(xy)
    shown = [i for i, (a, m) in enumerate(xy) if np.isfinite(a) and np.isfinite(m) and m > 0]
    with style() as plt:
        fig, ax = plt.subplots(figsize=(8.0 if len(shown) > PARETO_NAMED else 6.0, 3.8))
        on_front = [i for i in front if i in shown]
        if on_front:
            order = sorted(on_front, key=lambda i: xy[i][1])
            ax.plot([xy[i][1] for i in order], [xy[i][0] for i in order], "-", color="tab:red", lw=1.0, zorder=2)
        for i in shown:
            best = i in on_front
            xerr = err[i] if np.isfinite(err[i]) else None
            ax.errorbar(
                xy[i][1],
                xy[i][0],
                xerr=xerr,
                fmt="o",
                ms=6,
                mfc="tab:red" if best else "white",
                mec="tab:red" if best else "tab:blue",
                mew=1.3,
                ecolor="0.6",
                elinewidth=0.8,
                zorder=4,
            )
        log_sigma_axis(ax, xlabel)
        if shown:
            acc = np.array([xy[i][0] for i in shown])
            span = float(acc.max() - acc.min())
            pad = max(0.15 * span, 0.004)
            ax.set_ylim(max(0.0, acc.min() - pad), min(1.0, acc.max() + 2 * pad))
            mus = np.array([xy[i][1] for i in shown])
            errs = np.nan_to_num(np.array([err[i] for i in shown]), nan=0.0)
            lo = float(np.min(np.where(mus - errs > 0, mus - errs, mus)))
            hi = float(np.max(mus + errs))
            widen = max((hi / lo) ** 0.12, 1.05)
            ax.set_xlim(lo / widen, hi * widen)
            plain_log_labels(ax.xaxis, lo / widen, hi * widen)
            numbered = len(shown) > PARETO_NAMED
            texts = [str(j + 1) if numbered else labels[i] for j, i in enumerate(shown)]
            place_labels(ax, [xy[i][1] for i in shown], [xy[i][0] for i in shown], texts, bold=numbered)
            if numbered:  # a key beside the axes instead of names that would overlap
                key = "\n".join(f"{j + 1}  {labels[i]}" for j, i in enumerate(shown))
                ax.text(1.03, 1.0, key, transform=ax.transAxes, va="top", ha="left", fontsize=7, linespacing=1.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{100 * v:.3g}%"))
        ax.set_ylabel("peak test accuracy")
        ax.set_title(title)
        ax.grid(True, axis="y", **GRID)
        handles = [
            plt.Line2D([], [], marker="o", ls="none", mfc="white", mec="tab:blue", mew=1.3, label="configuration"),
            plt.Line2D([], [], marker="o", ls="-", color="tab:red", mfc="tab:red", lw=1.0, label="Pareto front"),
        ]
        ax.legend(handles=handles, loc="best")
        return save(fig, path, formats)

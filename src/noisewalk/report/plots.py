"""Plots and tables of noise measurements.

Every plot function draws one figure into ``path`` (its suffix gives the format: a PNG
at 300 dpi, or PDF or SVG as vector graphics) and writes the same figure in the
``formats`` named beside it (``formats=("pdf", "svg")`` next to ``fig.png``). Figures use
one style: fonts and sizes readable at the width of a paper's column or page, fonts
embedded as TrueType in PDF, no top and right spines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from noisewalk.errors import InvalidParameterError
from noisewalk.measure.fit import MidpointFit
from noisewalk.report.bars import plot_pareto, plot_site_midpoints, plot_weight_magnitudes  # noqa: F401  (one place for the plots)
from noisewalk.report.style import GRID, OTHERS, OVERLAY_CURVES, legend, log_sigma_axis, save, style

Curves = Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float], MidpointFit | None]]


def _fit_line(sigma: np.ndarray, fit) -> tuple[np.ndarray, np.ndarray] | None:
    """The fitted curve over the measured levels only (never extrapolated)."""
    if fit is None or not fit.params:
        return None
    positive = sigma[sigma > 0]
    if len(positive) < 2:
        return None
    dense = np.logspace(np.log10(positive.min()), np.log10(positive.max()), 300)
    return dense, fit.predict(dense)


def _mu_text(fit) -> str:
    if fit is None:
        return ""
    if fit.in_range and math.isfinite(fit.mu):
        return f"μ = {fit.mu:.3g} ± {fit.mu_err:.2g}"
    return "no μ in range"


def _draw_curve(ax, sigma, mean, std, fit, color, label: str | None) -> None:
    sigma = np.asarray(sigma, dtype=float)
    positive = sigma > 0
    ax.errorbar(
        sigma[positive],
        np.asarray(mean, dtype=float)[positive],
        yerr=np.asarray(std, dtype=float)[positive],
        fmt="o",
        ms=3.5,
        mew=0,
        elinewidth=0.9,
        color=color,
        label=label,
        zorder=3,
    )
    line = _fit_line(sigma, fit)
    if line is not None:
        ax.plot(*line, "-", color=color, lw=1.3, zorder=2)
        if fit.in_range and math.isfinite(fit.mu):  # μ: dotted from the axis up to the fit's half-way point
            ax.vlines(fit.mu, 0, float(fit.predict(np.array([fit.mu]))[0]), color=color, ls=":", lw=1.1, zorder=1)


def plot_accuracy_curves(
    curves: Curves,
    path: str | Path,
    *,
    title: str = "Accuracy under noise",
    xlabel: str = "noise level σ",
    chance: float | None = None,
    formats: Sequence[str] = (),
) -> Path:
    """Accuracy against σ (log axis): mean ± spread as points with error bars, the fitted
    logistic over the measured levels (solid) and μ (dotted) per curve.

    ``curves`` maps a label to ``(sigma, mean, std, fit)``. Up to ``OVERLAY_CURVES``
    curves share one panel; more get a panel each (small multiples on shared axes), the
    other curves' fits drawn in light grey behind each panel's own.
    """
    if len(curves) > OVERLAY_CURVES:
        return _curve_panels(curves, path, title=title, xlabel=xlabel, chance=chance, formats=formats)
    with style() as plt:
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, (label, (sigma, mean, std, fit)) in enumerate(curves.items()):
            text = f"{label}: {_mu_text(fit)}" if fit is not None else label
            _draw_curve(ax, sigma, mean, std, fit, colors[k % len(colors)], text)
        if chance is not None:
            ax.axhline(chance, color="0.5", ls="--", lw=0.8, label="chance", zorder=1)
        log_sigma_axis(ax, xlabel)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("test accuracy")
        ax.set_title(title)
        ax.legend(loc="upper right")  # a falling curve leaves that corner free
        return save(fig, path, formats)


def _curve_panels(curves: Curves, path, *, title: str, xlabel: str, chance: float | None, formats) -> Path:
    items = list(curves.items())
    ncols = min(4, len(items))
    nrows = -(-len(items) // ncols)
    with style() as plt:
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(1.95 * ncols + 0.7, 1.9 * nrows + 0.9), sharex=True, sharey=True, squeeze=False
        )
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        lines = {label: _fit_line(np.asarray(s, dtype=float), f) for label, (s, _m, _e, f) in items}
        for k, (ax, (label, (sigma, mean, std, fit))) in enumerate(zip(axes.flat, items, strict=False)):
            for other, line in lines.items():
                if other != label and line is not None:
                    ax.plot(*line, "-", color=OTHERS, lw=0.8, zorder=1)
            if chance is not None:
                ax.axhline(chance, color="0.5", ls="--", lw=0.7, zorder=1)
            _draw_curve(ax, sigma, mean, std, fit, colors[k % len(colors)], None)
            ax.set_xscale("log")
            ax.grid(True, which="major", **GRID)
            mu = _mu_text(fit)
            ax.set_title(f"{label}\n{mu}" if mu else label, fontsize=8, pad=3, linespacing=1.3)
        for ax in list(axes.flat)[len(items) :]:
            ax.axis("off")
        for ax in list(axes.flat)[max(0, len(items) - ncols) : len(items)]:
            ax.xaxis.set_tick_params(labelbottom=True)  # the lowest panel of each column
        axes[0, 0].set_ylim(0, 1.02)
        height = fig.get_figheight()
        fig.supxlabel(xlabel, fontsize=9, y=0.22 / height, va="bottom")
        fig.supylabel("test accuracy", fontsize=9)
        fig.suptitle(title, fontsize=10)
        handles = [
            plt.Line2D([], [], color="k", marker="o", ms=3.5, ls="none", label="mean ± spread"),
            plt.Line2D([], [], color="k", lw=1.3, label="logistic fit"),
            plt.Line2D([], [], color="k", lw=1.0, ls=":", label="μ"),
            plt.Line2D([], [], color=OTHERS, lw=1.0, label="other panels' fits"),
        ]
        if chance is not None:
            handles.append(plt.Line2D([], [], color="0.5", lw=0.8, ls="--", label="chance"))
        fig.tight_layout(rect=(0, 0.2 / height, 1, 1))
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), bbox_to_anchor=(0.5, 0.0))
        return save(fig, path, formats, layout=False)


def midpoint_table(fits: Mapping[str, tuple[MidpointFit, float]]) -> list[dict[str, str]]:
    """Rows of a μ table: configuration, peak accuracy, μ ± error (relative error in %).

    ``fits`` maps a label to ``(fit, peak accuracy)``."""
    rows = []
    for label, (fit, peak) in fits.items():
        if fit.in_range:
            mu = f"{fit.mu:.4g} ± {fit.mu_err:.2g} (±{100 * fit.rel_err:.1f}%)"
        else:
            mu = f"— ({fit.reason})"
        rows.append({"configuration": label, "peak accuracy": f"{100 * peak:.1f}%", "μ": mu})
    return rows


def plot_heatmap(
    rows: list[float],
    cols: list[float],
    values,
    path: str | Path,
    *,
    title: str = "Accuracy over training and inference noise",
    row_label: str = "training noise level σ_train",
    col_label: str = "inference noise level σ",
    formats: Sequence[str] = (),
) -> Path:
    """A matrix of accuracies (e.g. σ_train × σ_inf for VANT) with each cell printed in %."""
    v = np.asarray(values, dtype=float)
    if v.shape != (len(rows), len(cols)):
        raise InvalidParameterError(f"values must have shape ({len(rows)}, {len(cols)}); got {v.shape}")
    with style() as plt:
        fig, ax = plt.subplots(figsize=(max(4.5, 0.5 * len(cols) + 2.5), max(3.2, 0.36 * len(rows) + 1.8)))
        im = ax.imshow(np.ma.masked_invalid(v), cmap="viridis", vmin=0, vmax=1, aspect="auto", origin="lower")
        for r in range(len(rows)):
            for c in range(len(cols)):
                if np.isfinite(v[r, c]):
                    ax.text(
                        c,
                        r,
                        f"{100 * v[r, c]:.0f}",
                        ha="center",
                        va="center",
                        fontsize=6.5,
                        color="white" if v[r, c] < 0.6 else "black",
                    )
        ax.set_xticks(range(len(cols)), [f"{s:.3g}" for s in cols], rotation=45, ha="right")
        ax.set_yticks(range(len(rows)), [f"{s:.3g}" for s in rows])
        ax.spines[:].set_visible(False)
        ax.set_xlabel(col_label)
        ax.set_ylabel(row_label)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, label="test accuracy")
        return save(fig, path, formats)


def plot_activation_histograms(
    hists: Mapping,
    path: str | Path,
    *,
    log: bool = False,
    title: str = "Activations per site",
    formats: Sequence[str] = (),
) -> Path:
    """One panel per site (``hists``: a mapping of site name to
    :class:`noisewalk.analysis.activations.ActivationHistogram`). Linear: the values on a
    linear axis, counts on a log axis. ``log``: |value| on a log axis."""
    items = list(hists.items())
    ncols = min(4, max(1, len(items)))
    nrows = -(-len(items) // ncols) if items else 1
    with style() as plt:
        fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols + 0.6, 1.8 * nrows + 0.7), squeeze=False)
        for ax, (name, h) in zip(axes.flat, items, strict=False):
            edges, counts = (h.log_edges, h.log_counts) if log else (h.edges, h.counts)
            ax.stairs(counts, edges, fill=True, alpha=0.8)
            ax.set_yscale("log")
            if log:
                ax.set_xscale("log")
            ax.set_title(f"{name} (zeros {100 * h.zero_fraction:.0f}%)", fontsize=8, pad=3)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(items) :]:
            ax.axis("off")
        fig.supxlabel("|activation value| (log scale)" if log else "activation value", fontsize=9)
        fig.supylabel("count (log scale)", fontsize=9)
        fig.suptitle(title, fontsize=10)
        return save(fig, path, formats)


def plot_training_history(
    series: Mapping[str, tuple[list[float], list[float], list[float]]],
    path: str | Path,
    *,
    title: str = "Test accuracy during training",
    ylabel: str = "test accuracy",
    formats: Sequence[str] = (),
) -> Path:
    """A per-epoch quantity per configuration: ``series`` maps a label to ``(epoch, mean, std)``,
    the spread drawn as a band around the mean."""
    from matplotlib.ticker import MaxNLocator

    with style() as plt:
        fig, ax = plt.subplots(figsize=(6.0, 3.4))
        for label, (epoch, mean, std) in series.items():
            epoch, mean, std = (np.asarray(a, dtype=float) for a in (epoch, mean, std))
            (line,) = ax.plot(epoch, mean, lw=1.3, label=label)
            ax.fill_between(epoch, mean - std, mean + std, alpha=0.2, color=line.get_color(), lw=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, **GRID)
        legend(ax, len(series), "lower right")
        return save(fig, path, formats)

"""Plots and tables of noise measurements.

Every plot function draws one figure into ``path`` (its suffix gives the format: a PNG
at 300 dpi, or PDF or SVG as vector graphics) and writes the same figure in the
``formats`` named beside it (``formats=("pdf", "svg")`` next to ``fig.png``). Figures use
one style: fonts and sizes readable at the width of a paper's column or page, fonts
embedded as TrueType in PDF, no top and right spines.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from noisewalk.errors import InvalidParameterError
from noisewalk.measure.fit import MidpointFit

DPI = 300
"""Resolution of PNG figures."""

FORMATS = ("png", "pdf", "svg")
"""The file formats a figure can be written in."""

PARETO_NAMED = 4
"""Most points of a Pareto plot named beside them; more are numbered, with a key."""

OVERLAY_CURVES = 4
"""Most accuracy curves drawn over each other in one panel; more get a panel each."""

_STYLE = {
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
_GRID = {"color": "0.85", "lw": 0.6}
_OTHERS = "0.82"
"""Colour of the other curves' fits drawn behind a panel's own curve."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def _style() -> Iterator:
    plt = _pyplot()
    with plt.rc_context(_STYLE):
        yield plt


def _check_formats(formats: Sequence[str]) -> list[str]:
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise InvalidParameterError(f"figure formats are {', '.join(FORMATS)}; got {', '.join(map(repr, bad))}")
    return list(dict.fromkeys(formats))


def _save(fig, path: str | Path, formats: Sequence[str] = (), *, layout: bool = True) -> Path:
    """Write ``fig`` to ``path`` and, beside it, in each of ``formats``; close it.
    ``layout=False`` keeps a layout already made (a legend placed outside the axes)."""
    path = Path(path)
    extra = [f for f in _check_formats(formats) if f != path.suffix.lstrip(".").lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if layout:
            fig.tight_layout()
        for target in (path, *(path.with_suffix(f".{f}") for f in extra)):
            fig.savefig(target, dpi=DPI, metadata=_metadata(target))
    finally:
        _pyplot().close(fig)
    return path


def _metadata(path: Path) -> dict[str, str | None]:
    """Plain metadata: no creation date, so that the same figure gives the same file."""
    kind = path.suffix.lower()
    if kind == ".pdf":
        return {"Creator": "noisewalk", "Producer": None, "CreationDate": None}
    if kind == ".svg":
        return {"Creator": "noisewalk", "Date": None}
    if kind == ".png":
        return {"Software": "noisewalk"}
    return {}


def _plain_log_labels(axis, lo: float, hi: float) -> None:
    """Tick labels of a log axis as plain numbers (``2``, ``0.05``), the minor ticks
    labelled too where the axis spans less than about a decade and a half."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain if hi / lo < 30 else NullFormatter())


def _legend(ax, entries: int, loc: str) -> None:
    """A legend at ``loc`` inside the axes, or outside on the right when it has more than
    three entries (where it would cover data)."""
    if entries > 3:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        ax.legend(loc=loc)


def _log_sigma_axis(ax, xlabel: str) -> None:
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.grid(True, which="major", **_GRID)


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
    with _style() as plt:
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, (label, (sigma, mean, std, fit)) in enumerate(curves.items()):
            text = f"{label}: {_mu_text(fit)}" if fit is not None else label
            _draw_curve(ax, sigma, mean, std, fit, colors[k % len(colors)], text)
        if chance is not None:
            ax.axhline(chance, color="0.5", ls="--", lw=0.8, label="chance", zorder=1)
        _log_sigma_axis(ax, xlabel)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("test accuracy")
        ax.set_title(title)
        ax.legend(loc="upper right")  # a falling curve leaves that corner free
        return _save(fig, path, formats)


def _curve_panels(curves: Curves, path, *, title: str, xlabel: str, chance: float | None, formats) -> Path:
    items = list(curves.items())
    ncols = min(4, len(items))
    nrows = -(-len(items) // ncols)
    with _style() as plt:
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(1.95 * ncols + 0.7, 1.9 * nrows + 0.9), sharex=True, sharey=True, squeeze=False
        )
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        lines = {label: _fit_line(np.asarray(s, dtype=float), f) for label, (s, _m, _e, f) in items}
        for k, (ax, (label, (sigma, mean, std, fit))) in enumerate(zip(axes.flat, items, strict=False)):
            for other, line in lines.items():
                if other != label and line is not None:
                    ax.plot(*line, "-", color=_OTHERS, lw=0.8, zorder=1)
            if chance is not None:
                ax.axhline(chance, color="0.5", ls="--", lw=0.7, zorder=1)
            _draw_curve(ax, sigma, mean, std, fit, colors[k % len(colors)], None)
            ax.set_xscale("log")
            ax.grid(True, which="major", **_GRID)
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
            plt.Line2D([], [], color=_OTHERS, lw=1.0, label="other panels' fits"),
        ]
        if chance is not None:
            handles.append(plt.Line2D([], [], color="0.5", lw=0.8, ls="--", label="chance"))
        fig.tight_layout(rect=(0, 0.2 / height, 1, 1))
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), bbox_to_anchor=(0.5, 0.0))
        return _save(fig, path, formats, layout=False)


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


def _categories(series: Mapping[str, Mapping[str, tuple[float, float]]]) -> list[str]:
    categories: list[str] = []
    for values in series.values():
        categories += [c for c in values if c not in categories]
    return categories


def _grouped(
    series: Mapping[str, Mapping[str, tuple[float, float]]],
    path: str | Path,
    *,
    title: str,
    ylabel: str,
    log: bool,
    missing_note: str,
    reference: float | None = None,
    formats: Sequence[str] = (),
) -> Path:
    """Value ± error per category (x axis), one marker or bar per series side by side.

    On a log axis the values are points with error bars (a bar on a log axis has no
    meaningful base); on a linear axis they are bars from zero. ``reference`` draws a
    horizontal line (1 for ratios). Missing values are marked with a grey cross."""
    categories = _categories(series)
    n = max(len(series), 1)
    with _style() as plt:
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
                _plain_log_labels(ax.yaxis, lo / pad, hi * pad)
                ax.grid(True, axis="y", which="minor", color="0.93", lw=0.5)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, axis="y", which="major", **_GRID)
        if n > 1 or missing:
            _legend(ax, n + missing, "best")
        return _save(fig, path, formats)


def plot_site_midpoints(
    series: Mapping[str, Mapping[str, tuple[float, float]]],
    path: str | Path,
    *,
    title: str = "Per-site midpoint noise level (walking noise)",
    ylabel: str = "μ (log scale)",
    formats: Sequence[str] = (),
) -> Path:
    """Per-site μ ± error as points over the sites (log axis), one marker per series side
    by side (e.g. without and with noisy training). ``series`` maps a label to
    ``{site: (mu, err)}``; a site without μ in range is marked with a grey cross."""
    return _grouped(series, path, title=title, ylabel=ylabel, log=True, missing_note="no μ in range", formats=formats)


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
    return _grouped(
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
    with _style() as plt:
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
        _log_sigma_axis(ax, xlabel)
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
            _plain_log_labels(ax.xaxis, lo / widen, hi * widen)
            numbered = len(shown) > PARETO_NAMED
            texts = [str(j + 1) if numbered else labels[i] for j, i in enumerate(shown)]
            _place_labels(ax, [xy[i][1] for i in shown], [xy[i][0] for i in shown], texts, bold=numbered)
            if numbered:  # a key beside the axes instead of names that would overlap
                key = "\n".join(f"{j + 1}  {labels[i]}" for j, i in enumerate(shown))
                ax.text(1.03, 1.0, key, transform=ax.transAxes, va="top", ha="left", fontsize=7, linespacing=1.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{100 * v:.3g}%"))
        ax.set_ylabel("peak test accuracy")
        ax.set_title(title)
        ax.grid(True, axis="y", **_GRID)
        handles = [
            plt.Line2D([], [], marker="o", ls="none", mfc="white", mec="tab:blue", mew=1.3, label="configuration"),
            plt.Line2D([], [], marker="o", ls="-", color="tab:red", mfc="tab:red", lw=1.0, label="Pareto front"),
        ]
        ax.legend(handles=handles, loc="best")
        return _save(fig, path, formats)


def _place_labels(ax, xs, ys, texts: list[str], *, bold: bool = False, size: float = 7.0) -> None:
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
    with _style() as plt:
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
        return _save(fig, path, formats)


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
    with _style() as plt:
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
        return _save(fig, path, formats)


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

    with _style() as plt:
        fig, ax = plt.subplots(figsize=(6.0, 3.4))
        for label, (epoch, mean, std) in series.items():
            epoch, mean, std = (np.asarray(a, dtype=float) for a in (epoch, mean, std))
            (line,) = ax.plot(epoch, mean, lw=1.3, label=label)
            ax.fill_between(epoch, mean - std, mean + std, alpha=0.2, color=line.get_color(), lw=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, **_GRID)
        _legend(ax, len(series), "lower right")
        return _save(fig, path, formats)

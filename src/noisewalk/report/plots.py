"""Plots and tables of noise measurements."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from noisewalk.errors import InvalidParameterError
from noisewalk.measure.fit import MidpointFit


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy_curves(
    curves: Mapping[str, tuple[list[float], list[float], list[float], MidpointFit | None]],
    path: str | Path,
    *,
    title: str = "Accuracy under noise",
    xlabel: str = "noise level σ",
    chance: float | None = None,
) -> Path:
    """Accuracy vs sigma (log axis) with error bars, fitted curve and mu per configuration.

    ``curves`` maps a label to ``(sigma, mean, std, fit)``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, (sigma, mean, std, fit)) in enumerate(curves.items()):
        color = colors[k % len(colors)]
        sigma = np.asarray(sigma, dtype=float)
        positive = sigma > 0
        text = label
        if fit is not None and fit.in_range:
            text = f"{label}: μ = {fit.mu:.3g} ± {fit.mu_err:.2g}"
        elif fit is not None:
            text = f"{label}: no μ in range"
        ax.errorbar(
            sigma[positive],
            np.asarray(mean)[positive],
            yerr=np.asarray(std)[positive],
            fmt="o",
            ms=4,
            capsize=3,
            color=color,
            label=text,
        )
        if fit is not None and fit.params:
            dense = np.logspace(np.log10(sigma[positive].min()), np.log10(sigma[positive].max()), 400)
            ax.plot(dense, fit.predict(dense), "-", color=color, lw=1.5, alpha=0.8)
            if fit.in_range:
                ax.axvline(fit.mu, color=color, ls=":", lw=1)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


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


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def _grouped_bars(
    series: Mapping[str, Mapping[str, tuple[float, float]]],
    path: str | Path,
    *,
    title: str,
    ylabel: str,
    log: bool,
    missing_note: str,
) -> Path:
    """Bars of value ± error per category (x axis), one bar per series side by side."""
    plt = _pyplot()
    categories: list[str] = []
    for values in series.values():
        categories += [c for c in values if c not in categories]
    n = max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(categories) * n + 2), 4.5), dpi=120)
    width = 0.8 / n
    x = np.arange(len(categories))
    finite = [v for values in series.values() for v, _ in values.values() if np.isfinite(v) and (v > 0 or not log)]
    floor = min(finite) if finite else 1.0
    for k, (label, values) in enumerate(series.items()):
        val = np.array([values.get(c, (np.nan, np.nan))[0] for c in categories], dtype=float)
        err = np.array([values.get(c, (np.nan, np.nan))[1] for c in categories], dtype=float)
        pos = x - 0.4 + width * (k + 0.5)
        ok = np.isfinite(val) & ((val > 0) | (not log))
        err = np.where(np.isfinite(err) & ok, err, 0.0)
        lower = np.minimum(err, 0.999 * np.where(ok, val, 0.0)) if log else err  # stay above zero on a log axis
        yerr = np.vstack([lower, err])[:, ok] if err.any() else None
        ax.bar(pos[ok], val[ok], width, yerr=yerr, capsize=2, label=label)
        if (~ok).any():
            ax.plot(pos[~ok], np.full((~ok).sum(), floor), "x", color="grey", ms=6)
    if any(not (np.isfinite(v) and (v > 0 or not log)) for values in series.values() for v, _ in values.values()):
        ax.plot([], [], "x", color="grey", label=missing_note)
    tilted = len(categories) > 6
    ax.set_xticks(x, categories, rotation=60 if tilted else 0, ha="right" if tilted else "center")
    if log:
        ax.set_yscale("log")
        if finite:
            ax.set_ylim(bottom=floor / 3)  # bars start below the smallest value, so every bar shows
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_site_midpoints(
    series: Mapping[str, Mapping[str, tuple[float, float]]],
    path: str | Path,
    *,
    title: str = "Per-site midpoint noise level (walking noise)",
) -> Path:
    """Per-site μ ± error as bars over the sites, one bar per series side by side (e.g.
    without and with noisy training). ``series`` maps a label to ``{site: (mu, err)}``;
    a site without μ in range is marked with a grey cross."""
    return _grouped_bars(series, path, title=title, ylabel="μ", log=True, missing_note="no μ in range")


def plot_weight_magnitudes(
    series: Mapping[str, Mapping[str, float]],
    path: str | Path,
    *,
    title: str = "Mean |w| per layer",
    ylabel: str = "mean |w|",
    log: bool = True,
) -> Path:
    """Mean |w| (or a ratio of it) per layer, one bar per series side by side."""
    data = {label: {layer: (v, np.nan) for layer, v in values.items()} for label, values in series.items()}
    return _grouped_bars(data, path, title=title, ylabel=ylabel, log=log, missing_note="no value")


def plot_pareto(
    points: Mapping[str, tuple[float, float]],
    path: str | Path,
    *,
    title: str = "Peak accuracy against robustness",
) -> Path:
    """Peak accuracy against μ (log axis) per configuration, the Pareto front joined.

    ``points`` maps a label to ``(peak accuracy, mu)``; points without μ are left out."""
    from noisewalk.analysis.pareto import pareto_front

    plt = _pyplot()
    labels = list(points)
    xy = [points[k] for k in labels]
    front = pareto_front(xy)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    shown = [i for i, (a, m) in enumerate(xy) if np.isfinite(a) and np.isfinite(m) and m > 0]
    ax.scatter([xy[i][1] for i in shown], [xy[i][0] for i in shown], color="tab:blue", zorder=3, label="configuration")
    if front:
        ax.plot(
            [xy[i][1] for i in front], [xy[i][0] for i in front], "-o", color="tab:red", zorder=4, label="Pareto front"
        )
    for i in shown:
        ax.annotate(labels[i], (xy[i][1], xy[i][0]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("midpoint noise level μ")
    ax.set_ylabel("peak accuracy")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_heatmap(
    rows: list[float],
    cols: list[float],
    values,
    path: str | Path,
    *,
    title: str = "Accuracy over training and inference noise",
    row_label: str = "σ_train",
    col_label: str = "σ_inf",
) -> Path:
    """A matrix of accuracies (e.g. σ_train × σ_inf for VANT) with each cell printed in %."""
    plt = _pyplot()
    v = np.asarray(values, dtype=float)
    if v.shape != (len(rows), len(cols)):
        raise InvalidParameterError(f"values must have shape ({len(rows)}, {len(cols)}); got {v.shape}")
    fig, ax = plt.subplots(figsize=(max(4.5, 0.7 * len(cols) + 2.5), max(3.5, 0.5 * len(rows) + 2)), dpi=120)
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
                    fontsize=7,
                    color="white" if v[r, c] < 0.6 else "black",
                )
    ax.set_xticks(range(len(cols)), [f"{s:.3g}" for s in cols], rotation=45)
    ax.set_yticks(range(len(rows)), [f"{s:.3g}" for s in rows])
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="accuracy")
    return _save(fig, path)


def plot_activation_histograms(
    hists: Mapping, path: str | Path, *, log: bool = False, title: str = "Activations per site"
) -> Path:
    """One panel per site (``hists``: a mapping of site name to
    :class:`noisewalk.analysis.activations.ActivationHistogram`). Linear: the values on a
    linear axis, counts on a log axis. ``log``: |value| on a log axis."""
    plt = _pyplot()
    items = list(hists.items())
    ncols = min(4, max(1, len(items)))
    nrows = -(-len(items) // ncols) if items else 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows + 0.6), dpi=110, squeeze=False)
    for ax, (name, h) in zip(axes.flat, items, strict=False):
        edges, counts = (h.log_edges, h.log_counts) if log else (h.edges, h.counts)
        ax.stairs(counts, edges, fill=True, alpha=0.8)
        ax.set_yscale("log")
        if log:
            ax.set_xscale("log")
        ax.set_title(f"{name}  (zeros {100 * h.zero_fraction:.0f}%)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(items) :]:
        ax.axis("off")
    fig.suptitle(f"{title}: {'|value|, log axis' if log else 'value'} (counts on a log axis)", fontsize=10)
    return _save(fig, path)


def plot_training_history(
    series: Mapping[str, tuple[list[float], list[float], list[float]]],
    path: str | Path,
    *,
    title: str = "Test accuracy during training",
    ylabel: str = "test accuracy",
) -> Path:
    """A per-epoch quantity per configuration: ``series`` maps a label to ``(epoch, mean, std)``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.0), dpi=120)
    for label, (epoch, mean, std) in series.items():
        epoch, mean, std = (np.asarray(a, dtype=float) for a in (epoch, mean, std))
        ax.plot(epoch, mean, label=label)
        ax.fill_between(epoch, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)

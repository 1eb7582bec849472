"""Plots of device-noise measurements: accuracy over inference time, per-layer midpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from noisewalk.device.evaluate import TIMES
from noisewalk.errors import InvalidParameterError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy_over_time(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
    path: str | Path,
    *,
    title: str = "Accuracy over inference time",
    reference: Mapping[str, float] | None = None,
    chance: float | None = None,
    dpi: int = 300,
    errorbars: bool = False,
) -> Path:
    """Accuracy vs time since programming (log axis labelled 1 s ... 10 years), one line with
    a shaded ±1 std band per entry of ``curves`` (``label -> (times, mean, std)``), or with
    ±1 std error bars (``errorbars``, the lines set slightly apart in time to stay readable).
    ``reference`` draws a dotted horizontal line per label (e.g. the digital accuracy)."""
    if not curves:
        raise InvalidParameterError("curves must hold at least one curve")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=dpi)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--"]
    for k, (label, (times, mean, std)) in enumerate(curves.items()):
        t, m, s = (np.asarray(v, dtype=float) for v in (times, mean, std))
        color = colors[(k // 2) % len(colors)]
        if errorbars:
            shifted = t * 10 ** (0.06 * (k - (len(curves) - 1) / 2))
            ax.errorbar(
                shifted,
                100 * m,
                yerr=100 * s,
                fmt=styles[k % 2],
                marker="o",
                ms=4,
                lw=1.6,
                capsize=3,
                color=color,
                label=label,
            )
        else:
            ax.plot(t, 100 * m, styles[k % 2], marker="o", ms=4, lw=1.6, color=color, label=label)
            ax.fill_between(t, 100 * (m - s), 100 * (m + s), color=color, alpha=0.15, lw=0)
    for k, (label, value) in enumerate((reference or {}).items()):
        ax.axhline(100 * value, ls=":", lw=1.2, color=colors[k % len(colors)], label=label)
    if chance is not None:
        ax.axhline(100 * chance, ls=":", lw=1.0, color="grey", label="chance")
    ax.set_xscale("log")
    ax.set_xticks(list(TIMES.values()), list(TIMES))
    ax.minorticks_off()
    ax.set_xlim(0.5, 2 * TIMES["10 years"])
    ax.set_xlabel("time since programming (log scale)", fontsize=11)
    ax.set_ylabel("test accuracy (%)", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(title, fontsize=12)
    ax.legend(fontsize=8.5, loc="lower left", framealpha=0.9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_layer_midpoints(
    series: Mapping[str, tuple[Sequence[str], Sequence[float], Sequence[float]]],
    path: str | Path,
    *,
    title: str = "Walking weight noise: midpoint per layer",
    ylabel: str = "midpoint μ (weight noise std / w_max)",
    log: bool = True,
    sigma_max: float | None = None,
    dpi: int = 300,
) -> Path:
    """The midpoint ``mu`` per layer with its uncertainty, one line of markers per entry of
    ``series`` (``label -> (layer names, mu, mu_err)``), on a log axis by default. A layer
    without a midpoint in range (``mu`` NaN) gets a hollow marker at the top of the plot;
    ``sigma_max``, the largest level measured, is drawn as a dashed line where a layer has
    no midpoint."""
    if not series:
        raise InvalidParameterError("series must hold at least one entry")
    plt = _pyplot()
    names = list(next(iter(series.values()))[0])
    fig, ax = plt.subplots(figsize=(7.5, 4.4), dpi=dpi)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    x = np.arange(len(names), dtype=float)
    shift = 0.08
    missing = []
    for k, (label, (layer_names, mu, err)) in enumerate(series.items()):
        if list(layer_names) != names:
            raise InvalidParameterError("every series must list the same layers in the same order")
        mu = np.asarray(mu, dtype=float)
        err = np.nan_to_num(np.asarray(err, dtype=float), nan=0.0, posinf=0.0)
        lower = np.minimum(err, 0.9 * np.nan_to_num(mu, nan=1.0)) if log else err  # stays above 0 on a log axis
        xs = x + (k - (len(series) - 1) / 2) * shift
        color = colors[k % len(colors)]
        ax.errorbar(xs, mu, yerr=[lower, err], fmt="o-", ms=6, lw=1.4, capsize=4, color=color, label=label)
        missing += [(xi, color) for xi, m in zip(xs, mu, strict=True) if not np.isfinite(m)]
    if sigma_max is not None and missing:
        ax.axhline(sigma_max, ls="--", lw=1.0, color="grey", label="largest level measured")
    if log:
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _pos: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
    if missing:
        top = ax.get_ylim()[1]
        for k, (xi, color) in enumerate(missing):
            ax.plot(
                [xi], [top], "^", ms=9, mfc="none", mec=color, clip_on=False, label="no μ in range" if k == 0 else None
            )
    ax.set_xticks(x, names)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel(ylabel, fontsize=11)
    ax.set_xlabel("layer (the only one with weight noise)", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.set_title(title, fontsize=12)
    ax.legend(fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path

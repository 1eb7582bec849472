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
) -> Path:
    """Accuracy vs time since programming (log axis labelled 1 s ... 10 years), one line with
    a shaded ±1 std band per entry of ``curves`` (``label -> (times, mean, std)``).
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
    dpi: int = 300,
) -> Path:
    """Grouped bars of the midpoint ``mu`` per layer with its uncertainty, one group per
    layer and one bar per entry of ``series`` (``label -> (layer names, mu, mu_err)``);
    layers without a midpoint in range get no bar."""
    if not series:
        raise InvalidParameterError("series must hold at least one entry")
    plt = _pyplot()
    names = list(next(iter(series.values()))[0])
    fig, ax = plt.subplots(figsize=(7.5, 4.4), dpi=dpi)
    width = 0.8 / len(series)
    x = np.arange(len(names))
    for k, (label, (layer_names, mu, err)) in enumerate(series.items()):
        if list(layer_names) != names:
            raise InvalidParameterError("every series must list the same layers in the same order")
        mu = np.asarray(mu, dtype=float)
        err = np.nan_to_num(np.asarray(err, dtype=float), nan=0.0, posinf=0.0)
        ax.bar(x + (k - (len(series) - 1) / 2) * width, mu, width, yerr=err, capsize=3, label=label)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel(ylabel, fontsize=11)
    ax.set_xlabel("layer", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(title, fontsize=12)
    ax.legend(fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path

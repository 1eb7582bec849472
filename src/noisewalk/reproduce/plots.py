"""The plots of the reproductions: 300 dpi PNG, labels readable at print size."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from noisewalk.measure.fit import logistic
from noisewalk.reproduce.studies import Curve

DPI = 300
NAMES = {
    "lenet5": "LeNet-5",
    "vgg11": "VGG-11",
    "resnet18": "ResNet-18",
    "mlp": "MLP",
    "cifar10": "CIFAR-10",
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "svhn": "SVHN",
}


def pretty(name: str) -> str:
    """A model's or dataset's name as the papers print it."""
    return NAMES.get(name, name)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8})
    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, bbox_inches="tight")  # a legend beside the axes included
    _plt().close(fig)
    return path


def accuracy_curves(curves: Mapping[str, Curve], path: Path, *, title: str, chance: float | None = 0.1) -> Path:
    """Accuracy against σ (log axis), mean ± spread over repetitions, the fitted logistic
    and μ per curve."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if len(curves) > len(colors):  # a colour per curve: no two curves alike
        colors = [plt.get_cmap("tab20")(i % 20) for i in range(len(curves))]
    for i, (label, c) in enumerate(curves.items()):
        color = colors[i % len(colors)]
        pos = [k for k, s in enumerate(c.sigma) if s > 0]
        if not pos:
            continue
        x = np.array([c.sigma[k] for k in pos])
        y = np.array([c.mean[k] for k in pos])
        e = np.array([c.std[k] for k in pos])
        mu = c.mu
        text = f"{label}: μ = {mu:.3g}" if math.isfinite(mu) else f"{label}: no μ in range"
        ax.errorbar(x, y, yerr=e, fmt="o", ms=3.5, capsize=2, color=color, label=text)
        f = c.fit
        if f.in_range and len(f.params) == 4:
            xs = np.logspace(np.log10(x.min()), np.log10(x.max()), 200)
            a_min, a_max, m, w = f.params
            arg = np.log10(xs) if f.log else xs
            ax.plot(xs, logistic(arg, a_min, a_max, m, w), "-", color=color, lw=1.2)
            ax.axvline(mu, color=color, ls=":", lw=0.9)
    if chance:
        ax.axhline(chance, color="grey", ls="--", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("noise level σ")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    if len(curves) > 4:  # beside the axes, where it hides no point
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        ax.legend(loc="best")
    return _save(fig, path)


def grouped_bars(
    series: Mapping[str, Mapping[str, float]],
    path: Path,
    *,
    title: str,
    ylabel: str,
    log: bool | None = None,
    order: Sequence[str] | None = None,
    reference: float | None = None,
) -> Path:
    """One group of bars per key (a site, a layer), one bar per series; missing values are
    marked with a cross at the axis. ``log=None``: a log axis where the values span more than
    a decade. ``reference``: a dashed line there (1 for ratios)."""
    plt = _plt()
    values_all = [v for s in series.values() for v in s.values() if math.isfinite(v) and v > 0]
    if log is None:
        log = bool(values_all) and max(values_all) / min(values_all) > 10
    keys = list(order or dict.fromkeys(k for s in series.values() for k in s))
    n = max(1, len(series))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.4, 0.45 * len(keys) * n + 2), 4.0))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    any_missing = False
    for i, (label, values) in enumerate(series.items()):
        color = colors[i % len(colors)]
        xs = np.arange(len(keys)) + (i - (n - 1) / 2) * width
        ys = [values.get(k, math.nan) for k in keys]
        ok = [j for j, y in enumerate(ys) if math.isfinite(y) and (y > 0 or not log)]
        if log:  # a bar on a log axis has no meaningful base: points
            ax.plot([xs[j] for j in ok], [ys[j] for j in ok], "o", ms=5, color=color, label=label, zorder=3)
        else:
            ax.bar([xs[j] for j in ok], [ys[j] for j in ok], width, color=color, label=label)
        missing = [xs[j] for j in range(len(keys)) if j not in ok]
        any_missing = any_missing or bool(missing)
        if missing:
            ax.plot(
                missing,
                [0.02] * len(missing),
                "x",
                color=color,
                transform=ax.get_xaxis_transform(),
                ms=6,
            )
    if any_missing:
        ax.plot([], [], "x", color="grey", label="cross: no value (outside the measured range, or not run)")
    if reference is not None:
        ax.axhline(reference, color="grey", ls="--", lw=0.8)
    ax.set_xticks(range(len(keys)), keys, rotation=45, ha="right")
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    if n > 3:  # beside the axes, where it hides no bar
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        ax.legend()
    return _save(fig, path)


def pareto(points: Mapping[str, tuple[float, float]], path: Path, *, title: str) -> Path:
    """Peak accuracy against μ (log axis) per configuration; the Pareto front joined."""
    from noisewalk.analysis.pareto import pareto_front

    plt = _plt()
    labels = [k for k, (a, m) in points.items() if math.isfinite(a) and math.isfinite(m) and m > 0]
    xy = [points[k] for k in labels]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.scatter([m for _, m in xy], [a for a, _ in xy], color="tab:blue", zorder=3, label="configuration")
    front = pareto_front(xy)
    if front:
        front = sorted(front, key=lambda i: xy[i][1])
        ax.plot(
            [xy[i][1] for i in front], [xy[i][0] for i in front], "-", color="tab:red", zorder=2, label="Pareto front"
        )
    ax.set_xscale("log")
    ax.set_xlabel("midpoint noise level μ")
    ax.set_ylabel("peak accuracy")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    if xy:
        from noisewalk.report.style import place_labels

        place_labels(ax, [m for _, m in xy], [a for a, _ in xy], labels)  # beside each point, none over another
    return _save(fig, path)


def heatmap(
    rows: Sequence[float],
    cols: Sequence[float],
    values,
    path: Path,
    *,
    title: str,
    row_label: str = "σ_train",
    col_label: str = "σ_inf",
) -> Path:
    """A matrix of accuracies, each cell printed in %."""
    plt = _plt()
    v = np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.75 * len(cols) + 2.5), max(3.2, 0.55 * len(rows) + 2)))
    im = ax.imshow(np.ma.masked_invalid(v), cmap="viridis", vmin=0, vmax=1, aspect="auto", origin="lower")
    for r in range(v.shape[0]):
        for c in range(v.shape[1]):
            if np.isfinite(v[r, c]):
                ax.text(
                    c,
                    r,
                    f"{100 * v[r, c]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if v[r, c] < 0.6 else "black",
                )
    ax.set_xticks(range(len(cols)), [f"{s:.3g}" for s in cols])
    ax.set_yticks(range(len(rows)), [f"{s:.3g}" for s in rows])
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="accuracy")
    return _save(fig, path)

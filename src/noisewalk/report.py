"""Plots and tables of noise measurements."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .metrics import MidpointFit


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
            sigma[positive], np.asarray(mean)[positive], yerr=np.asarray(std)[positive], fmt="o", ms=4,
            capsize=3, color=color, label=text,
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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


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

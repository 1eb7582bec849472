"""The report's section on device noise (a spec's ``[device]`` measurements): accuracy over
inference time with and without drift compensation, and walking weight noise (per-layer μ)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from noisewalk.analysis.curves import Configuration, build_curves
from noisewalk.analysis.midpoints import fit_curve, site_midpoints
from noisewalk.analysis.tables import Table, mu_text
from noisewalk.device.evaluate import time_label
from noisewalk.device.plots import plot_accuracy_over_time
from noisewalk.report import plots
from noisewalk.report.canvas import Canvas, Section, Words, count_range
from noisewalk.report.sections import mu_pair
from noisewalk.results.model import GLOBAL_SITE

COMPENSATION_ORDER = ("not compensated", "compensated")


def plot_drift(
    curves, path: str | Path, *, title: str, formats: Sequence[str] = (), chance: float | None = None
) -> Path:
    """:func:`noisewalk.device.plots.plot_accuracy_over_time` with error bars, in every format."""
    path = Path(path)
    for suffix in dict.fromkeys(["png", *formats]):
        plot_accuracy_over_time(curves, path.with_suffix(f".{suffix}"), title=title, chance=chance, errorbars=True)
    return path.with_suffix(".png")


def drift_results(conf: Configuration) -> dict[str, dict[float, list[float]]]:
    """Accuracy of every programming draw of every finished network, per compensation
    setting (``compensated`` / ``not compensated``) and inference time (seconds)."""
    out: dict[str, dict[float, list[float]]] = {}
    for n in conf.networks:
        if n.done:
            for e in n.evaluations:
                if e.kind == "drift" and e.done:
                    out.setdefault(e.site, {}).setdefault(float(e.sigma), []).extend(e.acc)
    return {k: out[k] for k in sorted(out, key=lambda s: COMPENSATION_ORDER.index(s) if s in COMPENSATION_ORDER else 9)}


def _drift_part(canvas: Canvas, confs: list[Configuration], words: Words) -> tuple[list[Table], list]:
    results = {c.label: r for c in confs if (r := drift_results(c))}
    if not results:
        return [], []
    times = sorted({t for r in results.values() for by_time in r.values() for t in by_time})
    table = Table(
        "accuracy_over_time",
        "Test accuracy (%) over inference time: mean ± std over networks and programming draws",
        ["configuration", "compensation", *(time_label(t) for t in times)],
    )
    curves, draws, nets, classes = {}, [], [], []
    for conf in confs:
        if conf.label not in results:
            continue
        done = [n for n in conf.networks if n.done]
        nets.append(len(done))
        classes += [n.num_classes for n in done if n.num_classes]
        for comp, by_time in results[conf.label].items():
            mean = [float(np.mean(by_time[t])) if t in by_time else np.nan for t in times]
            std = [float(np.std(by_time[t])) if t in by_time else np.nan for t in times]
            draws += [len(v) for v in by_time.values()]
            table.rows.append(
                [words(conf.label), comp, *(f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in zip(mean, std, strict=True))]
            )
            label = comp if len(results) == 1 else f"{words(conf.label)}, {comp}"
            curves[label] = (times, mean, std)
    figure = canvas.draw(
        plot_drift,
        curves,
        title="Accuracy over inference time",
        chance=1.0 / classes[0] if classes else None,
        caption=f"Test accuracy of the analog networks (PCM weights) at each time after programming, without and "
        f"with global drift compensation; points: mean over {count_range(draws, 'value')} "
        f"({count_range(nets, 'network')} × their programming draws, each draw followed through all times); "
        "error bars: ±1 standard deviation; the lines are set slightly apart in time to stay readable.",
    )
    return [table], [figure]


def _walk_part(canvas: Canvas, confs: list[Configuration], words: Words, log: bool) -> tuple[list[Table], list]:
    fitted = [(c, fit_curve(c, log=log)) for conf in confs for c in build_curves(conf, "weights")]
    if not fitted:
        return [], []
    per_layer = site_midpoints(fitted)
    together = {c.label: f for c, f in fitted if c.site == GLOBAL_SITE}
    labels = list(dict.fromkeys([*per_layer, *together]))
    table = Table(
        "mu_per_layer_weights",
        "Midpoint μ of weight noise (std / w_max): at one layer at a time, and at all at once",
        ["layer", *(words(label) for label in labels)],
    )
    layers = list(dict.fromkeys(s for fits in per_layer.values() for s in fits))
    table.rows = [[s, *(mu_text(per_layer[k][s]) if s in per_layer.get(k, {}) else "" for k in labels)] for s in layers]
    if together:
        table.rows.append(["all layers at once", *(mu_text(together[k]) if k in together else "" for k in labels)])
    figures = []
    if per_layer:
        series = {words(label): {s: mu_pair(f) for s, f in fits.items()} for label, fits in per_layer.items()}
        nets = count_range([len(a) for c, _ in fitted for a in c.acc], "network")
        figures.append(
            canvas.draw(
                plots.plot_site_midpoints,
                series,
                title="Per-layer μ of weight noise (walking weight noise)",
                ylabel="μ: weight noise std / w_max (log scale)",
                xlabel="analog layer",
                caption="μ of each analog layer with programming noise in its weights only (every other layer "
                f"noise-free), from the logistic fitted{' in log σ' if log else ''} to the mean accuracy of {nets} "
                "(their programming draws averaged); error bars: the fit's standard error of μ.",
            )
        )
    return [table], figures


def device_section(canvas: Canvas, confs: list[Configuration], words: Words, *, log: bool = True) -> Section | None:
    """The section, or None when no network has device measurements."""
    drift_tables, drift_figures = _drift_part(canvas, confs, words)
    walk_tables, walk_figures = _walk_part(canvas, confs, words, log)
    if not (drift_tables or walk_tables):
        return None
    return Section("Device noise", tables=drift_tables + walk_tables, figures=drift_figures + walk_figures)

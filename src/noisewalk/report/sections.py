"""The report's sections that figures make: accuracy curves, training histories, weights,
activations, mismatch matrices, and each study's facts."""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np

from noisewalk.analysis.curves import (
    Configuration,
    Curve,
    config_key,
)
from noisewalk.analysis.midpoints import CurveFit
from noisewalk.analysis.tables import (
    Table,
    percent,
)
from noisewalk.analysis.weights import average_weights, mean_abs_weights, weight_ratio
from noisewalk.errors import NoisewalkError
from noisewalk.report import labels, plots
from noisewalk.report.canvas import (
    CURVES_PER_PLOT,
    HISTORY_LINES,
    SERIES_PER_PLOT,
    Canvas,
    Figure,
    Section,
    Words,
    count_range,
    curve_caption,
    panel_title,
    split_into,
)
from noisewalk.results.model import GLOBAL_SITE, Matrix, Study
from noisewalk.results.restore import checkpoint_weights


def curve_plots(canvas: Canvas, fitted: list[tuple[Curve, CurveFit]], words: Words) -> list[Figure]:
    figures = []
    panels: dict[str, list[tuple[Curve, CurveFit]]] = {}
    for c, f in fitted:
        panels.setdefault(panel_title(c, words), []).append((c, f))
    for title, members in panels.items():
        chunks = split_into(members, CURVES_PER_PLOT)
        for k, chunk in enumerate(chunks):
            name = title if len(chunks) == 1 else f"{title} ({k + 1}/{len(chunks)})"
            walking = chunk[0][0].site != GLOBAL_SITE
            curves = {(c.site if walking else words.curve(c)): (c.sigma, c.mean, c.std, f) for c, f in chunk}
            axis = labels.sigma_axis(chunk[0][0].config.get("noise"))
            figures.append(
                canvas.draw(
                    plots.plot_accuracy_curves,
                    curves,
                    title=name,
                    xlabel=f"{axis} at the site" if walking else axis,
                    chance=chunk[0][0].chance,
                    caption=curve_caption(words, list(chunk), walking),
                )
            )
    return figures


def mu_pair(f: CurveFit) -> tuple[float, float]:
    return (f.mu, f.mu_err) if f.in_range else (math.nan, math.nan)


def history_plots(canvas: Canvas, confs: list[Configuration], words: Words) -> list[Figure]:
    figures = []
    for conf in confs:
        by_level: dict[float, list[list[float]]] = {}
        for n in conf.networks:
            acc = [r.get("test_acc") for r in n.history]
            if n.done and acc and all(isinstance(a, (int, float)) for a in acc):
                by_level.setdefault(n.train_sigma, []).append(acc)
        if not by_level:
            continue
        levels = sorted(by_level)
        if len(levels) > HISTORY_LINES:
            levels = [levels[i] for i in np.unique(np.linspace(0, len(levels) - 1, HISTORY_LINES).round().astype(int))]
        series = {}
        for s in levels:
            width = min(len(a) for a in by_level[s])
            arr = np.array([a[:width] for a in by_level[s]], dtype=float)
            series[f"σ_train = {s:.3g}"] = (list(range(1, width + 1)), arr.mean(0), arr.std(0))
        nets = count_range([len(by_level[s]) for s in levels], "network")
        subject = labels.subject(conf.config)
        figures.append(
            canvas.draw(
                plots.plot_training_history,
                series,
                title=words.titled(f"Training, {subject}", conf.label),
                caption=f"Test accuracy after each epoch, with noise at the training level σ_train: mean over "
                f"{nets} per level, band: ± one standard deviation across them."
                + (f" {len(levels)} of the training levels, evenly chosen." if len(by_level) > len(levels) else ""),
            )
        )
    return figures


def weights_section(canvas: Canvas, confs: list[Configuration], words: Words) -> Section | None:
    groups: dict[tuple[str, float], list[dict[str, float]]] = {}
    keys: dict[str, tuple] = {}
    for conf in confs:
        for n in conf.networks:
            if n.done and n.checkpoint is not None:
                weights = mean_abs_weights(checkpoint_weights(n.checkpoint))
                groups.setdefault((conf.label, n.train_sigma), []).append(weights)
                keys[conf.label] = config_key({k: v for k, v in conf.config.items() if k != "clamp_weights"})
    if not groups:
        return None
    mean = {g: average_weights(v) for g, v in groups.items()}
    layers = list(dict.fromkeys(layer for m in mean.values() for layer in m))
    section = Section("Weight magnitudes")
    table = Table("weights", "Mean |w| per layer", ["configuration", "σ_train", "networks", *layers])
    table.rows = [
        [label, f"{s:.3g}", str(len(groups[(label, s)])), *(f"{m.get(layer, math.nan):.4g}" for layer in layers)]
        for (label, s), m in mean.items()
    ]
    section.tables.append(table)
    named = {words.at_level(label, s): m for (label, s), m in list(mean.items())[:SERIES_PER_PLOT]}
    nets = count_range([len(v) for v in groups.values()], "network")
    section.figures.append(
        canvas.draw(
            plots.plot_weight_magnitudes,
            named,
            title="Mean |w| per layer",
            caption=f"Mean absolute weight of each layer, averaged over {nets} per configuration and training level.",
        )
    )
    clamp = {c.label: bool(c.config.get("clamp_weights")) for c in confs}
    ratios = {}
    for (label, s), m in mean.items():
        for (other, s2), m2 in mean.items():
            if s == s2 and not clamp.get(label) and clamp.get(other) and keys.get(label) == keys.get(other):
                ratios[f"{words.at_level(label, s)} / {words(other)}"] = weight_ratio(m, m2)
    if ratios:
        rt = Table("weight_ratio", "Mean |w| without clamping over with clamping", ["pair", *layers])
        rt.rows = [[k, *(f"{r.get(layer, math.nan):.3g}" for layer in layers)] for k, r in ratios.items()]
        section.tables.append(rt)
        section.figures.append(
            canvas.draw(
                plots.plot_weight_magnitudes,
                dict(list(ratios.items())[:SERIES_PER_PLOT]),
                title="Weight growth: unclamped over clamped",
                ylabel="ratio of mean |w|",
                reference=1.0,
                caption="Mean |w| of each layer without weight clamping over that with clamping, same training "
                "level; dashed: equal magnitudes.",
            )
        )
    return section


def activation_section(
    canvas: Canvas, confs: list[Configuration], data_root: str | None, device: str, words: Words
) -> tuple[Section | None, list[str]]:
    """Histograms and the self-binarization test on one network per configuration (the one
    trained at the highest level), rebuilt from its checkpoint."""
    from noisewalk.analysis.activations import activation_histograms
    from noisewalk.analysis.binarize import self_binarization_test
    from noisewalk.data import create_dataset
    from noisewalk.results.restore import restore_network

    section = Section("Activations")
    problems: list[str] = []
    datasets: dict[str, Any] = {}
    table = Table(
        "self_binarization",
        "Self-binarization test: accuracy with one site reduced to 2 or 3 levels",
        ["configuration", "σ_train", "site", "levels", "centres", "accuracy", "clean accuracy", "preserved"],
    )
    for conf in confs:
        ready = [n for n in conf.networks if n.done and n.checkpoint is not None]
        if not ready:
            continue
        net = max(ready, key=lambda n: n.train_sigma)
        try:
            name = net.config.get("dataset", "digits")
            if name not in datasets:
                datasets[name] = create_dataset(name, root=data_root or net.config.get("data_root"))
            model = restore_network(net, datasets[name])
            acts = [s.index for s in model.sites if s.op == "act"] or None
            hists = activation_histograms(model, datasets[name].test, sites=acts, device=device)
            for log in (False, True):
                section.figures.append(
                    canvas.draw(
                        plots.plot_activation_histograms,
                        hists,
                        log=log,
                        title=f"Activations, {words(conf.label)}, σ_train = {net.train_sigma:.3g}"
                        + (", magnitudes" if log else ""),
                        caption="Values at each activation site over up to 1,024 test images, without noise, of "
                        "one network (the one trained at the highest level); counts on a log scale; each panel's "
                        "title gives the share of exact zeros"
                        + (", which a log scale of |value| leaves out." if log else "."),
                    )
                )
            for r in self_binarization_test(model, datasets[name].test, sites=acts, device=device):
                table.rows.append(
                    [
                        conf.label,
                        f"{net.train_sigma:.3g}",
                        r.site,
                        str(r.levels),
                        ", ".join(f"{c:.3g}" for c in r.centers),
                        percent(r.acc),
                        percent(r.clean_acc),
                        percent(r.preserved),
                    ]
                )
        except (NoisewalkError, OSError, RuntimeError, KeyError) as exc:
            problems.append(f"{conf.label}: {exc}")
    if table.rows:
        section.tables.append(table)
    return (section if section.figures or section.tables else None), problems


def timestamp(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    h, rest = divmod(int(round(seconds)), 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def facts(rows) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def study_section(study: Study) -> Section:
    nets, evals = study.network_counts(), study.evaluation_counts()
    total_evals = sum(evals.values())
    state = "finished" if study.finished else "running or interrupted"
    rows = [
        ("source", f"{study.source} ({'results store' if study.kind == 'store' else 'run directory'})"),
        ("state", state),
        ("networks", ", ".join(f"{v} {k}" for k, v in nets.items() if v) or "none"),
        ("evaluations", ", ".join(f"{v} {k}" for k, v in evals.items() if v) or "none"),
        ("created", study.created or "—"),
    ]
    secs = [n.seconds for n in study.networks if n.done and n.seconds is not None]
    if secs:
        per = duration(sum(secs) / len(secs))
        rows.append(("training time", f"{duration(sum(secs))} in all, {per} per network"))
    starts = [t for t in (timestamp(n.started) for n in study.networks) if t]
    ends = [t for t in (timestamp(n.finished) for n in study.networks) if t]
    if starts and ends:
        rows.append(
            (
                "wall clock",
                f"{min(starts).isoformat()} to {max(ends).isoformat()} "
                f"({duration((max(ends) - min(starts)).total_seconds())})",
            )
        )
    env = study.environment
    versions = dict(env.get("versions", {}))
    for k in ("python", "platform", "device", "gpu"):
        if k in env:
            versions[k] = env[k]
    section = Section(f"Study {study.name}")
    section.parts.append(facts(rows))
    if total_evals:
        done = evals.get("done", 0)
        section.parts.append(
            f'<p><progress value="{done}" max="{total_evals}"></progress> {done} of {total_evals} evaluations done</p>'
        )
    failures = Counter(n.error or "unknown error" for n in study.networks if n.status == "failed")
    failures.update(e.error or "unknown error" for n in study.networks for e in n.evaluations if e.status == "failed")
    if failures:
        items = "".join(f"<li>{c}× {html.escape(err)}</li>" for err, c in failures.most_common(10))
        section.parts.append(f"<p>Failures:</p><ul>{items}</ul>")
    if versions:
        section.parts.append(f"<details><summary>Versions and environment</summary>{facts(versions.items())}</details>")
    if study.config:
        text = html.escape(json.dumps(study.config, indent=2, default=str))
        section.parts.append(f"<details><summary>Configuration</summary><pre>{text}</pre></details>")
    return section


def matrix_figures(canvas: Canvas, matrices: list[Matrix], words: Words) -> list[Figure]:
    return [
        canvas.draw(
            plots.plot_heatmap,
            m.sigma_train,
            m.sigma_inf,
            m.acc,
            title=f"Training against inference noise, {words(m.label)}",
            caption="Test accuracy (%) of networks trained at σ_train (rows) and tested at σ (columns), "
            "mean over the networks and noise draws of each cell.",
        )
        for m in matrices
    ]

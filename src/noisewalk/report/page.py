"""The report of one or more studies as one self-contained HTML page.

``build_report(studies, out)`` analyses the finished networks of the studies (a study
still running shows what has finished and how far it is), draws every plot that
applies, embeds the images in the page (base64 PNG), and writes every table beside the
page as Markdown and CSV (``{page stem}-{table}.md`` / ``.csv``). The page also shows
each study's configuration, versions and timing.
"""

from __future__ import annotations

import base64
import html
import math
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from noisewalk.analysis.curves import Configuration, Curve, build_curves, config_key, configurations, mismatch_matrix
from noisewalk.analysis.midpoints import CurveFit, fit_curve, site_midpoints
from noisewalk.analysis.pareto import pareto_front
from noisewalk.analysis.tables import (
    Table,
    mu_by_noise_table,
    noisy_training_table,
    percent,
    qat_table,
    site_table,
    summary_table,
)
from noisewalk.analysis.weights import average_weights, mean_abs_weights, weight_ratio
from noisewalk.errors import InvalidParameterError, NoisewalkError
from noisewalk.report import plots
from noisewalk.report.canvas import Canvas, Figure, ReportOutput, Section
from noisewalk.report.study_sections import matrix_figures, study_section
from noisewalk.results.files import write_atomic
from noisewalk.results.model import GLOBAL_SITE, Network, Study
from noisewalk.results.restore import checkpoint_weights

CURVES_PER_PLOT = 8
"""Most curves drawn in one accuracy-vs-σ plot (more are split over several)."""

HISTORY_LINES = 6
"""Most training levels drawn in one training-history plot (evenly chosen)."""


def _chunks(items: Sequence, size: int) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items]


def _panel_title(curve: Curve) -> str:
    cfg = curve.config
    parts = [str(cfg.get(k)) for k in ("model", "dataset") if cfg.get(k) is not None]
    noise = cfg.get("noise")
    return f"{' on '.join(parts) or 'accuracy'}{f', {noise} noise' if noise else ''}"


def _curve_plots(canvas: Canvas, fitted: list[tuple[Curve, CurveFit]]) -> list[Figure]:
    figures = []
    panels: dict[str, list[tuple[Curve, CurveFit]]] = {}
    for c, f in fitted:
        key = _panel_title(c) if c.site == GLOBAL_SITE else f"{c.label.rsplit(' @ ', 1)[0]}: walking noise"
        panels.setdefault(key, []).append((c, f))
    for title, members in panels.items():
        chunks = _chunks(members, CURVES_PER_PLOT)
        for k, chunk in enumerate(chunks):
            name = title if len(chunks) == 1 else f"{title} ({k + 1}/{len(chunks)})"
            walking = chunk[0][0].site != GLOBAL_SITE
            curves = {(c.site if walking else c.label): (c.sigma, c.mean, c.std, f) for c, f in chunk}
            figures.append(
                canvas.draw(
                    plots.plot_accuracy_curves,
                    curves,
                    title=name,
                    chance=chunk[0][0].chance,
                    caption="Mean accuracy over the networks with their spread, the fitted logistic (solid) "
                    "and μ (dotted).",
                )
            )
    return figures


def _mu_pair(f: CurveFit) -> tuple[float, float]:
    return (f.mu, f.mu_err) if f.in_range else (math.nan, math.nan)


def _history_plots(canvas: Canvas, confs: list[Configuration]) -> list[Figure]:
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
        figures.append(
            canvas.draw(
                plots.plot_training_history,
                series,
                title=f"Training: {conf.label}",
                caption="Test accuracy after each epoch at the training noise, mean and spread over the networks.",
            )
        )
    return figures


def _weights_section(canvas: Canvas, confs: list[Configuration]) -> Section | None:
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
    named = {f"{label}, σ_train={s:.3g}": m for (label, s), m in list(mean.items())[:CURVES_PER_PLOT]}
    section.figures.append(canvas.draw(plots.plot_weight_magnitudes, named, title="Mean |w| per layer"))
    clamp = {c.label: bool(c.config.get("clamp_weights")) for c in confs}
    ratios = {}
    for (label, s), m in mean.items():
        for (other, s2), m2 in mean.items():
            if s == s2 and not clamp.get(label) and clamp.get(other) and keys.get(label) == keys.get(other):
                ratios[f"{label} / {other}, σ_train={s:.3g}"] = weight_ratio(m, m2)
    if ratios:
        rt = Table("weight_ratio", "Mean |w| without clamping over with clamping", ["pair", *layers])
        rt.rows = [[k, *(f"{r.get(layer, math.nan):.3g}" for layer in layers)] for k, r in ratios.items()]
        section.tables.append(rt)
        section.figures.append(
            canvas.draw(
                plots.plot_weight_magnitudes,
                dict(list(ratios.items())[:CURVES_PER_PLOT]),
                title="Weight growth: unclamped over clamped",
                ylabel="ratio of mean |w|",
            )
        )
    return section


def _activation_section(
    canvas: Canvas, confs: list[Configuration], data_root: str | None, device: str
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
                        title=f"Activations: {conf.label}, σ_train={net.train_sigma:.3g}",
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


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;color:#222}
body{padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
thead th{background:#f3f3f3}table.facts th{background:#fafafa;font-weight:600}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.note{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:.8em}nav a{margin-right:1em}
"""


def _render(title: str, sections: list[Section], table_files: dict[str, tuple[str, str]], note: str) -> str:
    out = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><p class="note">{html.escape(note)}</p>'
    ]
    links = "".join(f'<a href="#s{i}">{html.escape(s.title)}</a>' for i, s in enumerate(sections))
    out.append(f"<nav>{links}</nav>")
    for i, s in enumerate(sections):
        out.append(f'<section id="s{i}"><h2>{html.escape(s.title)}</h2>')
        out += s.parts
        for t in s.tables:
            md, csv = table_files.get(t.name, ("", ""))
            links = f'<a href="{html.escape(md)}">Markdown</a>, <a href="{html.escape(csv)}">CSV</a>'
            files = f' <span class="note">({links})</span>' if md else ""
            out.append(f"<h3>{html.escape(t.title)}{files}</h3>{t.to_html()}")
        for f in s.figures:
            data = base64.b64encode(f.png).decode("ascii")
            cap = f"<figcaption>{html.escape(f.title)}{'. ' + html.escape(f.caption) if f.caption else ''}</figcaption>"
            out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(f.title)}">{cap}</figure>')
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


def build_report(
    studies: Sequence[Study],
    out: str | Path,
    *,
    activations: bool = False,
    data_root: str | None = None,
    device: str = "cpu",
    title: str | None = None,
) -> ReportOutput:
    """Analyse ``studies`` and write the HTML page ``out`` and its tables beside it.

    ``activations`` rebuilds one network per configuration from its checkpoint (where
    the study kept them), loads its dataset (from ``data_root``) and adds activation
    histograms and the self-binarization test.
    """
    if not studies:
        raise InvalidParameterError("a report needs at least one study")
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InvalidParameterError(f"--out must name an .html file; got {str(out)!r}")
    networks: list[Network] = [n for s in studies for n in s.networks]
    confs = configurations(networks)
    confs.sort(key=lambda c: c.config.get("train_noise", "none") != "none")  # without noisy training first
    curves = [c for conf in confs for c in build_curves(conf)]
    fitted = [(c, fit_curve(c, log=bool(c.config.get("log_fit")))) for c in curves]
    site_order = [name for s in studies for name in s.sites]
    sections = [study_section(s) for s in studies]
    with tempfile.TemporaryDirectory(prefix="noisewalk-report-") as tmp:
        canvas = Canvas(Path(tmp))
        results = Section("Midpoint noise level μ")
        if fitted:
            results.tables.append(summary_table(fitted))
            results.tables += [
                t for t in (mu_by_noise_table(fitted), noisy_training_table(fitted), qat_table(fitted)) if t is not None
            ]
        else:
            results.parts.append("<p>No evaluation has finished yet.</p>")
        sections.append(results)
        if fitted:
            sections.append(Section("Accuracy under noise", figures=_curve_plots(canvas, fitted)))
        per_site = site_midpoints(fitted, site_order)
        if per_site:
            series = {label: {site: _mu_pair(f) for site, f in fits.items()} for label, fits in per_site.items()}
            sections.append(
                Section(
                    "Per-site robustness (walking noise)",
                    tables=[site_table(per_site)],
                    figures=[
                        canvas.draw(
                            plots.plot_site_midpoints,
                            series,
                            title="Per-site μ",
                            caption="μ of each site with noise at that site only; grey crosses: no μ in range.",
                        )
                    ],
                )
            )
        points = {
            c.label: (c.peak, f.mu) for c, f in fitted if c.site == GLOBAL_SITE and f.in_range and math.isfinite(f.mu)
        }
        if len(points) >= 2:
            labels = list(points)
            front = pareto_front([points[k] for k in labels])
            pt = Table("pareto", "Pareto front: peak accuracy against μ", ["configuration", "peak accuracy", "μ"])
            pt.rows = [[labels[i], percent(points[labels[i]][0]), f"{points[labels[i]][1]:.3g}"] for i in front]
            sections.append(
                Section(
                    "Pareto front",
                    tables=[pt],
                    figures=[
                        canvas.draw(
                            plots.plot_pareto,
                            points,
                            title="Peak accuracy against μ",
                            caption="Configurations on the front (red) are beaten by none on both.",
                        )
                    ],
                )
            )
        matrices = [m for s in studies for m in s.matrices]
        matrices += [m for m in (mismatch_matrix(c) for c in confs) if m is not None]
        if matrices:
            mt = []
            for k, m in enumerate(matrices):
                t = Table(
                    f"matrix{k + 1}",
                    f"{m.label} (rows σ_train, columns σ_inf)",
                    ["σ_train", *(f"{s:.3g}" for s in m.sigma_inf)],
                )
                t.rows = [[f"{r:.3g}", *(percent(v) for v in row)] for r, row in zip(m.sigma_train, m.acc, strict=True)]
                mt.append(t)
            sections.append(
                Section("Training noise against inference noise", tables=mt, figures=matrix_figures(canvas, matrices))
            )
        history = _history_plots(canvas, confs)
        if history:
            sections.append(Section("Training", figures=history))
        weights = _weights_section(canvas, confs)
        if weights is not None:
            sections.append(weights)
        problems: list[str] = []
        if activations:
            act, problems = _activation_section(canvas, confs, data_root, device)
            if act is not None:
                sections.append(act)
            elif not problems:
                problems.append("no finished network with a checkpoint")
    table_files: dict[str, tuple[str, str]] = {}
    written: list[Path] = []
    for s in sections:
        for t in s.tables:
            md, csv = t.write(out.parent, prefix=f"{out.stem}-")
            table_files[t.name] = (md.name, csv.name)
            written += [md, csv]
    if problems:
        sections.append(
            Section("Not shown", parts=["<ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in problems) + "</ul>"])
        )
    names = ", ".join(s.name for s in studies)
    note = f"noisewalk report of {names}, made {datetime.now(UTC).isoformat(timespec='seconds')}."
    page = _render(title or f"noisewalk report: {names}", sections, table_files, note)
    write_atomic(out, page)
    return ReportOutput(out, written, [f.title for s in sections for f in s.figures], [s.title for s in sections])

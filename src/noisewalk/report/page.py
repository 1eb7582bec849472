"""The report of one or more studies as one self-contained HTML page.

``build_report(studies, out)`` analyses the finished networks of the studies (a study
still running shows what has finished and how far it is), draws every plot that
applies, embeds the images in the page (base64 PNG), and writes every table beside the
page as Markdown and CSV (``{page stem}-{table}.md`` / ``.csv``). Every figure is also
written to ``figures/`` beside the page, as a 300 dpi PNG and as PDF and SVG
(``figures/{page stem}-{number}-{title}.pdf``), each with a caption on the page saying
what its points, error bars and lines are. The page also shows each study's
configuration, versions and timing.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from noisewalk.analysis.curves import (
    Configuration,
    Curve,
    build_curves,
    config_key,
    configurations,
    mismatch_matrix,
    varying_keys,
)
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
from noisewalk.report import labels, plots
from noisewalk.results.files import write_atomic
from noisewalk.results.model import GLOBAL_SITE, Matrix, Network, Study
from noisewalk.results.restore import checkpoint_weights

CURVES_PER_PLOT = 12
"""Most curves drawn in one accuracy-vs-σ plot (more are split over several); more than
``plots.OVERLAY_CURVES`` are drawn as a panel each."""

SERIES_PER_PLOT = 8
"""Most series (configuration and training level) in one weight-magnitude plot."""

HISTORY_LINES = 6
"""Most training levels drawn in one training-history plot (evenly chosen)."""


FIGURE_FORMATS = ("png", "pdf", "svg")
"""The formats every figure is written in beside the page (PNG at 300 dpi)."""

SUBJECT_KEYS = frozenset({"model", "dataset", "noise"})
"""The settings a figure's title names (see ``labels.subject``)."""

FIGURES_DIR = "figures"
"""The folder beside the page that holds the figures' files."""

CSS_PX_PER_PIXEL = 110 / plots.DPI
"""Display size on the page of one pixel of a figure's PNG: an inch of figure is 110 CSS
pixels, so that the figures' text reads at the size of the page's."""


@dataclass
class Figure:
    title: str
    png: bytes
    caption: str = ""
    files: list[Path] = field(default_factory=list)
    """The figure's files beside the page (PNG, PDF, SVG), empty when none were written."""


@dataclass
class Section:
    title: str
    parts: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class ReportOutput:
    """What :func:`build_report` wrote."""

    html: Path
    tables: list[Path]
    figures: list[str]
    """Titles of the embedded figures."""
    sections: list[str]
    figure_files: list[Path] = field(default_factory=list)
    """Every figure's files (PNG, PDF, SVG) in the figures folder beside the page."""


def _slug(text: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower().replace("μ", "mu").replace("σ", "sigma")).strip("-")
    return words[:60].rstrip("-") or "figure"


class _Canvas:
    """Draws plots into a folder (as ``{prefix}{number}-{title}`` in each format) and keeps
    their PNG bytes for the page."""

    def __init__(self, folder: Path, prefix: str, formats: Sequence[str], keep: bool) -> None:
        self.folder, self.prefix, self.formats, self.keep = folder, prefix, list(formats), keep
        self.count = 0

    def draw(self, plot: Callable[..., Path], *args, title: str, caption: str = "", **kw) -> Figure:
        self.count += 1
        path = self.folder / f"{self.prefix}{self.count:02d}-{_slug(title)}.png"
        path = plot(*args, path, title=title, formats=self.formats, **kw)
        files = [path.with_suffix(f".{f}") for f in dict.fromkeys(["png", *self.formats])] if self.keep else []
        return Figure(title, path.read_bytes(), caption, files)

    def clear_old(self) -> None:
        """Remove figures an earlier report of this page wrote (numbered as this one's)."""
        pattern = re.compile(rf"{re.escape(self.prefix)}\d\d+-[a-z0-9-]+\.(png|pdf|svg)")
        if self.keep and self.folder.is_dir():
            for old in self.folder.iterdir():
                if pattern.fullmatch(old.name):
                    old.unlink()


class _Words:
    """Configurations in words (legends and titles) and what stands behind each point
    (networks, noise draws), for captions."""

    def __init__(self, confs: list[Configuration]) -> None:
        keys = varying_keys([c.config for c in confs])
        self.names = {c.label: labels.config_words(c.config, keys) for c in confs}
        self.network_names = {c.label: labels.config_words(c.config, keys, network=True) for c in confs}
        # beside a title that already names the model, data and noise (labels.subject)
        rest = [k for k in keys if k not in SUBJECT_KEYS]
        self.beside = {c.label: labels.config_words(c.config, rest, network=True) if rest else "" for c in confs}
        self.several = len(confs) > 1
        self.draws: dict[str, list[int]] = {}
        for c in confs:
            counts = [len(e.acc) for n in c.networks if n.done for e in n.evaluations if e.done]
            self.draws[c.label] = counts

    def __call__(self, label: str) -> str:
        return self.names.get(label, label)

    def at_level(self, label: str, sigma_train: float) -> str:
        """Networks of a configuration trained at one level, in words."""
        name = self.network_names.get(label, label)
        return name if sigma_train == 0 and "without noise" in name else f"{name}, σ_train = {sigma_train:.3g}"

    def titled(self, title: str, label: str) -> str:
        """``title`` (which names the model, data and noise) with the configuration's other settings."""
        extra = self.beside.get(label, "")
        return f"{title}, {extra}" if extra else title

    def curve(self, curve: Curve) -> str:
        conf = curve.label.rsplit(" @ ", 1)[0] if curve.site != GLOBAL_SITE else curve.label
        return self(conf)

    def draws_text(self, conf_labels: Sequence[str]) -> str:
        counts = [k for label in conf_labels for k in self.draws.get(label, [])]
        return _count_range(counts, "noise draw")


def _count_range(counts: Sequence[int], noun: str) -> str:
    """``3 networks``, ``3–5 networks`` or ``1 network``."""
    if not counts:
        return f"the {noun}s"
    lo, hi = min(counts), max(counts)
    plural = noun if hi == 1 else f"{noun}s"
    return f"{lo} {plural}" if lo == hi else f"{lo}–{hi} {plural}"


def _fit_quality(fits: Sequence[CurveFit]) -> str:
    """The range of χ²/dof of the fits in use, for a caption."""
    ratios = []
    for f in fits:
        used = f.stacked if f.use_stacked else f.single
        if used is not None and used.dof > 0 and math.isfinite(used.chi2):
            ratios.append(used.chi2 / used.dof)
    if not ratios:
        return ""
    lo, hi = min(ratios), max(ratios)
    value = f"{lo:.2g}" if math.isclose(lo, hi, rel_tol=0.05) else f"{lo:.2g} to {hi:.2g}"
    return f" χ²/dof of the {'fit' if len(ratios) == 1 else 'fits'}: {value}."


def _curve_caption(words: _Words, chunk: list[tuple[Curve, CurveFit]], walking: bool) -> str:
    nets = _count_range([len(a) for c, _ in chunk for a in c.acc], "network")
    draws = words.draws_text(list(dict.fromkeys(c.label.rsplit(" @ ", 1)[0] for c, _ in chunk)))
    trained = any(c.trained_with_noise for c, _ in chunk)
    fits = [f for _, f in chunk]
    panels = len(chunk) > plots.OVERLAY_CURVES
    stacked = [f.use_stacked for f in fits]
    single_log = [f.single.log for f, two in zip(fits, stacked, strict=True) if not two]
    if all(stacked):
        shape, space = "two-step logistic", "log σ"
    else:
        shape = "logistic (two-step where one step does not fit)" if any(stacked) else "logistic"
        space = "log σ" if all(single_log) else "σ" if not any(single_log) else "σ or log σ, as each study asks"
        if any(stacked) and space == "σ":
            space = "σ; two-step fits in log σ"
    text = ""
    if walking and len(chunk) > 1:
        text = f"Each {'panel' if panels else 'curve'}: noise at that site only, every other site noise-free. "
    text += (
        f"Points: mean test accuracy over {nets}{' (at each level, those trained at that level)' if trained else ''}; "
        f"error bars: standard deviation across the networks; each network's accuracy is its mean over {draws}. "
        f"Lines: the {shape} fitted to the points (weighted least squares in {space}), drawn over the measured "
        "levels only; dotted: μ, where the fit falls half-way."
    )
    text += _fit_quality(fits)
    if panels:
        text += " Grey: the other panels' fits, for comparison."
    return text


def _chunks(items: Sequence, size: int) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items]


def _panel_title(curve: Curve, words: _Words) -> str:
    if curve.site == GLOBAL_SITE:
        return labels.subject(curve.config)
    return words.titled(f"Walking noise, {labels.subject(curve.config)}", curve.label.rsplit(" @ ", 1)[0])


def _curve_plots(canvas: _Canvas, fitted: list[tuple[Curve, CurveFit]], words: _Words) -> list[Figure]:
    figures = []
    panels: dict[str, list[tuple[Curve, CurveFit]]] = {}
    for c, f in fitted:
        panels.setdefault(_panel_title(c, words), []).append((c, f))
    for title, members in panels.items():
        chunks = _chunks(members, CURVES_PER_PLOT)
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
                    caption=_curve_caption(words, list(chunk), walking),
                )
            )
    return figures


def _mu_pair(f: CurveFit) -> tuple[float, float]:
    return (f.mu, f.mu_err) if f.in_range else (math.nan, math.nan)


def _history_plots(canvas: _Canvas, confs: list[Configuration], words: _Words) -> list[Figure]:
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
        nets = _count_range([len(by_level[s]) for s in levels], "network")
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


def _weights_section(canvas: _Canvas, confs: list[Configuration], words: _Words) -> Section | None:
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
    nets = _count_range([len(v) for v in groups.values()], "network")
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


def _activation_section(
    canvas: _Canvas, confs: list[Configuration], data_root: str | None, device: str, words: _Words
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


def _timestamp(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    h, rest = divmod(int(round(seconds)), 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _facts(rows) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _study_section(study: Study) -> Section:
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
        per = _duration(sum(secs) / len(secs))
        rows.append(("training time", f"{_duration(sum(secs))} in all, {per} per network"))
    starts = [t for t in (_timestamp(n.started) for n in study.networks) if t]
    ends = [t for t in (_timestamp(n.finished) for n in study.networks) if t]
    if starts and ends:
        rows.append(
            (
                "wall clock",
                f"{min(starts).isoformat()} to {max(ends).isoformat()} "
                f"({_duration((max(ends) - min(starts)).total_seconds())})",
            )
        )
    env = study.environment
    versions = dict(env.get("versions", {}))
    for k in ("python", "platform", "device", "gpu"):
        if k in env:
            versions[k] = env[k]
    section = Section(f"Study {study.name}")
    section.parts.append(_facts(rows))
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
        section.parts.append(
            f"<details><summary>Versions and environment</summary>{_facts(versions.items())}</details>"
        )
    if study.config:
        text = html.escape(json.dumps(study.config, indent=2, default=str))
        section.parts.append(f"<details><summary>Configuration</summary><pre>{text}</pre></details>")
    return section


def _matrix_figures(canvas: _Canvas, matrices: list[Matrix], words: _Words) -> list[Figure]:
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


def _figure_html(f: Figure, base: Path) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    files = ", ".join(
        f'<a href="{html.escape(p.relative_to(base).as_posix())}">{p.suffix.lstrip(".").upper()}</a>' for p in f.files
    )
    caption = f"<b>{html.escape(f.title)}.</b>{' ' + html.escape(f.caption) if f.caption else ''}"
    caption += f' <span class="note">({files})</span>' if files else ""
    width = int.from_bytes(f.png[16:20], "big") * CSS_PX_PER_PIXEL if f.png[:8] == b"\x89PNG\r\n\x1a\n" else 0
    size = f' style="width:{width:.0f}px"' if width else ""
    img = f'<img src="data:image/png;base64,{data}" alt="{html.escape(f.title)}"{size}>'
    return f"<figure>{img}<figcaption>{caption}</figcaption></figure>"


def _render(title: str, sections: list[Section], table_files: dict[str, tuple[str, str]], note: str, base: Path) -> str:
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
            out.append(_figure_html(f, base))
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
    figure_formats: Sequence[str] = FIGURE_FORMATS,
) -> ReportOutput:
    """Analyse ``studies`` and write the HTML page ``out``, its tables beside it and its
    figures in ``figures/`` beside it.

    ``activations`` rebuilds one network per configuration from its checkpoint (where
    the study kept them), loads its dataset (from ``data_root``) and adds activation
    histograms and the self-binarization test. ``figure_formats`` are the formats each
    figure is written in (of ``png``, ``pdf``, ``svg``); none: the figures are only
    embedded in the page.
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
    sections = [_study_section(s) for s in studies]
    words = _Words(confs)
    formats = list(dict.fromkeys(f.lower() for f in figure_formats))
    with tempfile.TemporaryDirectory(prefix="noisewalk-report-") as tmp:
        keep = bool(formats)
        folder = out.parent / FIGURES_DIR if keep else Path(tmp)
        canvas = _Canvas(folder, f"{out.stem}-", formats, keep)
        canvas.clear_old()
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
            sections.append(Section("Accuracy under noise", figures=_curve_plots(canvas, fitted, words)))
        per_site = site_midpoints(fitted, site_order)
        if per_site:
            series = {words(label): {site: _mu_pair(f) for site, f in fits.items()} for label, fits in per_site.items()}
            walked = [c for c, _ in fitted if c.site != GLOBAL_SITE]
            nets = _count_range([len(a) for c in walked for a in c.acc], "network")
            draws = words.draws_text(list(per_site))
            missing = any(not f.in_range for fits in per_site.values() for f in fits.values())
            sections.append(
                Section(
                    "Per-site robustness (walking noise)",
                    tables=[site_table(per_site)],
                    figures=[
                        canvas.draw(
                            plots.plot_site_midpoints,
                            series,
                            title="Per-site μ (walking noise)",
                            caption="μ of each site with noise at that site only (every other site noise-free), "
                            f"from the logistic fitted to the mean accuracy of {nets} ({draws} each); error bars: "
                            "the fit's standard error of μ"
                            + ("; grey crosses: no μ in the measured range." if missing else "."),
                        )
                    ],
                )
            )
        points = {
            c.label: (c.peak, f.mu, f.mu_err)
            for c, f in fitted
            if c.site == GLOBAL_SITE and f.in_range and math.isfinite(f.mu)
        }
        if len(points) >= 2:
            names = list(points)
            front = pareto_front([points[k][:2] for k in names])
            pt = Table("pareto", "Pareto front: peak accuracy against μ", ["configuration", "peak accuracy", "μ"])
            pt.rows = [[names[i], percent(points[names[i]][0]), f"{points[names[i]][1]:.3g}"] for i in front]
            sections.append(
                Section(
                    "Pareto front",
                    tables=[pt],
                    figures=[
                        canvas.draw(
                            plots.plot_pareto,
                            {words(k): v for k, v in points.items()},
                            title="Peak accuracy against μ",
                            caption="Peak accuracy: the highest mean test accuracy over the noise levels; μ with "
                            "its fit's standard error (horizontal bars). Filled red, joined: the Pareto front, "
                            "configurations that no other beats on both.",
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
                Section(
                    "Training noise against inference noise",
                    tables=mt,
                    figures=_matrix_figures(canvas, matrices, words),
                )
            )
        history = _history_plots(canvas, confs, words)
        if history:
            sections.append(Section("Training", figures=history))
        weights = _weights_section(canvas, confs, words)
        if weights is not None:
            sections.append(weights)
        problems: list[str] = []
        if activations:
            act, problems = _activation_section(canvas, confs, data_root, device, words)
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
    page = _render(title or f"noisewalk report: {names}", sections, table_files, note, out.parent)
    write_atomic(out, page)
    figures = [f for s in sections for f in s.figures]
    return ReportOutput(
        out,
        written,
        [f.title for f in figures],
        [s.title for s in sections],
        [p for f in figures for p in f.files],
    )

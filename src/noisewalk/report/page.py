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
import math
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from noisewalk.analysis.curves import (
    build_curves,
    configurations,
    mismatch_matrix,
)
from noisewalk.analysis.midpoints import fit_curve, site_midpoints
from noisewalk.analysis.pareto import pareto_front
from noisewalk.analysis.tables import (
    Table,
    comparison_table,
    mu_by_noise_table,
    noisy_training_table,
    percent,
    qat_table,
    site_table,
    summary_table,
)
from noisewalk.analysis.uncertainty import PRECISION, precision_lines
from noisewalk.errors import InvalidParameterError
from noisewalk.report import plots
from noisewalk.report.canvas import (
    CSS_PX_PER_PIXEL,
    FIGURE_FORMATS,
    FIGURES_DIR,
    Canvas,
    Figure,
    ReportOutput,
    Section,
    Words,
    count_range,
)
from noisewalk.report.device import device_section
from noisewalk.report.sections import (
    activation_section,
    curve_plots,
    history_plots,
    matrix_figures,
    mu_pair,
    study_section,
    weights_section,
)
from noisewalk.results.files import write_atomic
from noisewalk.results.model import GLOBAL_SITE, Network, Study

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
    precision: float = PRECISION,
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
    sections = [study_section(s) for s in studies]
    words = Words(confs)
    formats = list(dict.fromkeys(f.lower() for f in figure_formats))
    with tempfile.TemporaryDirectory(prefix="noisewalk-report-") as tmp:
        keep = bool(formats)
        folder = out.parent / FIGURES_DIR if keep else Path(tmp)
        canvas = Canvas(folder, f"{out.stem}-", formats, keep)
        canvas.clear_old()
        results = Section("Midpoint noise level μ")
        if fitted:
            results.tables.append(summary_table(fitted, precision))
            results.tables += [
                t for t in (mu_by_noise_table(fitted), noisy_training_table(fitted), qat_table(fitted)) if t is not None
            ]
            comparisons = comparison_table(fitted)  # needs intervals over networks
            if comparisons is not None:
                results.tables.append(comparisons)
        else:
            results.parts.append("<p>No evaluation has finished yet.</p>")
        sections.append(results)
        if fitted:
            sections.append(Section("Accuracy under noise", figures=curve_plots(canvas, fitted, words)))
        per_site = site_midpoints(fitted, site_order)
        if per_site:
            series = {words(label): {site: mu_pair(f) for site, f in fits.items()} for label, fits in per_site.items()}
            walked = [c for c, _ in fitted if c.site != GLOBAL_SITE]
            nets = count_range([len(a) for c in walked for a in c.acc], "network")
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
                    figures=matrix_figures(canvas, matrices, words),
                )
            )
        history = history_plots(canvas, confs, words)
        if history:
            sections.append(Section("Training", figures=history))
        weights = weights_section(canvas, confs, words)
        if weights is not None:
            sections.append(weights)
        walk_log = [
            s.config.get("device", {}).get("walk", {}).get("log", True) for s in studies if s.config.get("device")
        ]
        analog = device_section(canvas, confs, words, log=all(walk_log))
        if analog is not None:
            sections.append(analog)
        problems: list[str] = []
        if activations:
            act, problems = activation_section(canvas, confs, data_root, device, words)
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
        precision=precision_lines(fitted, precision),
        figure_files=[p for f in figures for p in f.files],
    )

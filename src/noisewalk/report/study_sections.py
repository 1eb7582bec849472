"""Sections of the report about each study and its measured matrices: facts, timing, heatmaps."""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from datetime import datetime

from noisewalk.report import plots
from noisewalk.report.canvas import Canvas, Figure, Section
from noisewalk.results.model import Matrix, Study

CURVES_PER_PLOT = 8
"""Most curves drawn in one accuracy-vs-σ plot (more are split over several)."""

HISTORY_LINES = 6
"""Most training levels drawn in one training-history plot (evenly chosen)."""


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


def matrix_figures(canvas: Canvas, matrices: list[Matrix]) -> list[Figure]:
    return [
        canvas.draw(
            plots.plot_heatmap,
            m.sigma_train,
            m.sigma_inf,
            m.acc,
            title=m.label,
            caption="Accuracy (%) of networks trained at σ_train (rows) and tested at σ_inf (columns).",
        )
        for m in matrices
    ]

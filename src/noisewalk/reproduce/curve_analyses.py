"""Analyses of a finding from its stored curves: μ with and without noisy training (HN
Table II), per quantization setting (HN Table I), global μ (WN Table I), per-site μ from
walking noise (WN Fig. 2)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from noisewalk.measure.fit import preserved_relative_accuracy
from noisewalk.reproduce import paper, plots
from noisewalk.reproduce.compare import Outcome, Row
from noisewalk.reproduce.registry import ANALYSES
from noisewalk.reproduce.studies import Curve, study_curves_of
from noisewalk.sweep.spec import Spec


def _one(folder: Path, specs: dict[str, Spec], study: str) -> Curve | None:
    curves = study_curves_of(folder, specs, study)
    return curves[0] if curves else None


def _mu_text(c: Curve | None) -> str:
    if c is None:
        return "not run"
    if not c.networks:
        return "not finished"
    if not c.fit.in_range:
        return f"no μ in range ({c.fit.reason})"
    return f"{c.fit.mu:.3g} (±{100 * c.fit.rel_err:.0f} %)"


def _get(c: Curve | None, attr: str) -> float | None:
    return None if c is None else getattr(c, attr)


@ANALYSES.register("noisy_training")
def noisy_training(folder: Path, specs: dict[str, Spec], *, models: list[str] | None = None) -> Outcome:
    """HN Table II: μ without and with (matched) noisy training, the gain, peak accuracy."""
    out = Outcome()
    models = models or list(paper.HN_MU)
    details = []
    for m in models:
        clean, noisy = f"{m}-none", f"{m}-matched"
        if clean not in specs and noisy not in specs:
            continue
        c, n = _one(folder, specs, clean), _one(folder, specs, noisy)
        mu0, mu1 = paper.HN_MU[m]
        ours0, ours1 = _get(c, "mu"), _get(n, "mu")
        gain = ours1 / ours0 if ours0 and ours1 and math.isfinite(ours0) and math.isfinite(ours1) else None
        out.rows += [
            Row(f"{m}: μ without noisy training", mu0, ours0),
            Row(f"{m}: μ with noisy training", mu1, ours1),
            Row(f"{m}: gain of noisy training (μ ratio)", mu1 / mu0, gain, reference=1.0),
            Row(f"{m}: peak accuracy", paper.HN_PEAK[m], _get(c, "clean"), percent=True),
        ]
        details.append([m, _mu_text(c), _mu_text(n)])
        shown = {k: v for k, v in (("without noisy training", c), ("with noisy training", n)) if v is not None}
        data = specs[clean if clean in specs else noisy].data.name
        if shown:
            out.figures.append(
                plots.accuracy_curves(
                    shown,
                    folder / f"curves_{m}.png",
                    title=f"{plots.pretty(m)} on {plots.pretty(data)}: global additive noise",
                )
            )
    out.tables["μ with its fit uncertainty"] = (["model", "without noisy training", "with noisy training"], details)
    return out


def _quant_label(q: dict[str, Any] | None) -> str:
    if not q:
        return "fp32"
    if q.get("act_scaling") == "constant":
        return f"{q['quant_bits']}-bit s={q['scale']:g}"
    return f"{q['quant_bits']}-bit dynamic"


@ANALYSES.register("qat")
def qat(folder: Path, specs: dict[str, Spec], *, scale: float = paper.HN_QAT_CONSTANT_SCALE) -> Outcome:
    """HN Table I / Fig. 2: μ and peak accuracy per quantization setting, Pareto plot."""
    out = Outcome()
    curves = [c for s in specs for c in study_curves_of(folder, specs, s)]
    by = {_quant_label(c.quant): c for c in curves}
    fp32 = by.get("fp32")
    const8 = by.get(f"8-bit s={scale:g}")
    dyn8 = by.get("8-bit dynamic")

    def ratio(a: Curve | None, b: Curve | None) -> float | None:
        if a is None or b is None or not (math.isfinite(a.mu) and math.isfinite(b.mu)):
            return None
        return a.mu / b.mu

    def best(bits: int) -> Curve | None:
        mine = [c for c in curves if c.quant and c.quant["quant_bits"] == bits and math.isfinite(c.mu)]
        return max(mine, key=lambda c: c.mu) if mine else None

    out.rows += [
        Row("fp32: μ", paper.HN_MU["lenet5"][0], _get(fp32, "mu")),
        Row("fp32: peak accuracy", paper.HN_PEAK["lenet5"], _get(fp32, "clean"), percent=True),
        Row(f"8-bit constant s={scale:g}: μ / fp32 μ", paper.HN_QAT_CONSTANT_GAIN, ratio(const8, fp32), reference=1.0),
        Row(
            f"8-bit constant s={scale:g}: peak accuracy",
            paper.HN_QAT_CONSTANT_ACC,
            _get(const8, "clean"),
            percent=True,
        ),
        Row("8-bit dynamic: μ / fp32 μ", None, ratio(dyn8, fp32), expect="<1", paper_text="slightly below 1"),
        Row(
            "best 8-bit μ / best 4-bit μ",
            None,
            ratio(best(8), best(4)),
            expect=">1",
            paper_text="> 1 (8-bit beats 4-bit)",
        ),
    ]
    table = []
    for label, c in sorted(by.items(), key=lambda kv: (kv[1].quant or {}).get("quant_bits", 99)):
        table.append([label, _mu_text(c), f"{100 * c.clean:.1f} %" if math.isfinite(c.clean) else "—"])
    out.tables["μ and peak accuracy per setting"] = (["setting", "μ", "peak accuracy"], table)
    if any(math.isfinite(c.mu) for c in by.values()):
        out.figures.append(
            plots.pareto(
                {k: (c.clean, c.mu) for k, c in by.items()},
                folder / "pareto.png",
                title="LeNet-5 on CIFAR-10: peak accuracy against μ",
            )
        )
        shown = {k: by[k] for k in ("fp32", "8-bit dynamic", f"8-bit s={scale:g}", "4-bit dynamic") if k in by}
        out.figures.append(plots.accuracy_curves(shown, folder / "curves_qat.png", title="QAT: accuracy under noise"))
    return out


@ANALYSES.register("global_noise")
def global_noise(folder: Path, specs: dict[str, Spec]) -> Outcome:
    """WN Table I: global μ per network, with and without batch-norm, additive and multiplicative."""
    out = Outcome()
    table, shown = [], {}
    for study, spec in specs.items():
        c = _one(folder, specs, study)
        label = f"{spec.model.name}{' BN' if spec.model.batchnorm else ''} / {spec.data.name} / {spec.noise.type}"
        preserved = None
        if c is not None:
            preserved = (
                c.mean[-1] / c.mean[0]  # matched: each level has its own network
                if spec.training.noise.value != "none" and c.mean and c.mean[0] > 0
                else preserved_relative_accuracy(c.sigma, c.mean, c.clean)
            )
            shown[label] = c
        table.append(
            [
                label,
                _mu_text(c),
                f"{100 * c.accuracy:.1f} %" if c else "—",
                f"{preserved:.2f}" if preserved is not None and math.isfinite(preserved) else "—",
            ]
        )
        if spec.noise.type == "multiplicative" and spec.model.batchnorm:
            out.rows.append(
                Row(
                    f"{label}: preserved relative accuracy at the highest σ",
                    None,
                    preserved,
                    expect=">0.2",
                    paper_text="never falls to chance",
                )
            )
        else:
            out.rows.append(Row(f"{label}: μ", None, _get(c, "mu")))
    out.tables["global μ"] = (["network / data / noise", "μ", "accuracy", "acc(σ_max) / acc(σ_min)"], table)
    for data in dict.fromkeys(s.data.name for s in specs.values()):
        part = {k: v for k, v in shown.items() if f"/ {data} /" in k}
        if part:
            out.figures.append(
                plots.accuracy_curves(
                    part, folder / f"curves_{data}.png", title=f"Global noise on {plots.pretty(data)}"
                )
            )
    return out


@ANALYSES.register("walking")
def walking(folder: Path, specs: dict[str, Spec]) -> Outcome:
    """WN Fig. 2: per-site μ from walking noise, with and without batch-norm."""
    out = Outcome()
    series: dict[str, dict[str, float]] = {}
    order: list[str] = []
    for study, spec in specs.items():
        label = f"{spec.model.name}{' with BN' if spec.model.batchnorm else ' without BN'}"
        curves = study_curves_of(folder, specs, study)
        per_site = {c.selection: c.mu for c in curves}
        series[label] = per_site
        order += [s for s in per_site if s not in order]
        fitted = {k: v for k, v in per_site.items() if math.isfinite(v)}
        if fitted:
            lo, hi = min(fitted, key=fitted.get), max(fitted, key=fitted.get)
            out.rows += [
                Row(f"{label}: sites with μ in range", None, float(len(fitted)), note=f"of {len(per_site)}"),
                Row(f"{label}: least robust site (lowest μ)", None, fitted[lo], note=lo),
                Row(f"{label}: most robust site (highest μ)", None, fitted[hi], note=hi),
                Row(f"{label}: spread of per-site μ (highest / lowest)", None, fitted[hi] / fitted[lo]),
            ]
        else:
            out.rows.append(Row(f"{label}: per-site μ", None, None))
    header = ["site", *series]
    table = [[s, *(f"{series[k].get(s, math.nan):.3g}" if s in series[k] else "—" for k in series)] for s in order]
    out.tables["per-site μ"] = (header, table)
    if order:
        out.figures.append(
            plots.grouped_bars(
                series,
                folder / "walking_mu.png",
                ylabel="μ",
                title="Walking noise: per-site μ (LeNet-5, CIFAR-10)",
                order=order,
            )
        )
    return out

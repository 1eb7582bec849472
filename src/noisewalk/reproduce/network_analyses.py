"""Analyses of a finding from its trained networks, rebuilt from their checkpoints: weight
growth (WN Table II), self-binarization (WN §VI), robustness under fluctuating noise (VANT)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from noisewalk.reproduce import paper, plots
from noisewalk.reproduce.compare import Outcome, Row
from noisewalk.reproduce.registry import ANALYSES
from noisewalk.reproduce.studies import by_train_sigma, restore, study_curves_of, trained_networks
from noisewalk.sweep.spec import Spec

NAMES = {"matched": "noisy training", "vant": "VANT"}


def _load_data(spec: Spec):
    from noisewalk.data.prepare import prepared_dataset

    return prepared_dataset(spec.data)


@ANALYSES.register("weights")
def weights(folder: Path, specs: dict[str, Spec]) -> Outcome:
    """WN Table II: mean |w| unclamped / clamped after additive noisy training, with and without BN."""
    from noisewalk.analysis.weights import average_weights, mean_abs_weights

    out = Outcome()
    per: dict[tuple[bool, bool], dict[float, dict[str, float]]] = {}
    for study, spec in specs.items():
        nets = trained_networks(folder / study)
        if not nets:
            continue
        data = _load_data(spec)
        key = (spec.model.batchnorm, spec.training.clamp_weights)
        per[key] = {
            s: average_weights([mean_abs_weights(restore(n, data)) for n in group]) for s, group in by_train_sigma(nets)
        }
    table, series = [], {}
    for bn in (True, False):
        free, clamped = per.get((bn, False)), per.get((bn, True))
        label = "with BN" if bn else "without BN"
        best = None
        if free and clamped:
            for s in sorted(set(free) & set(clamped)):
                ratios = {k: free[s][k] / clamped[s][k] for k in free[s] if clamped[s].get(k)}
                if ratios:
                    series[f"{label}, σ={s:g}"] = ratios
                    top = max(ratios.values())
                    best = top if best is None else max(best, top)
                    table += [
                        [label, f"{s:g}", k, f"{free[s][k]:.3g}", f"{clamped[s][k]:.3g}", f"{r:.2f}"]
                        for k, r in ratios.items()
                    ]
        target = paper.WN_WEIGHT_RATIO_BN if bn else paper.WN_WEIGHT_RATIO_NO_BN
        text = "up to 51×" if bn else "≈ 1×"
        out.rows.append(
            Row(f"{label}: largest mean |w| ratio unclamped / clamped", target, best, reference=1.0, paper_text=text)
        )
    out.tables["mean |w| per layer"] = (["BN", "σ_train", "layer", "unclamped", "clamped", "ratio"], table)
    if series:
        out.figures.append(
            plots.grouped_bars(
                series,
                folder / "weight_ratio.png",
                ylabel="mean |w| unclamped / clamped",
                reference=1.0,
                title="Weight growth under additive noisy training",
            )
        )
    return out


@ANALYSES.register("binarization")
def binarization(folder: Path, specs: dict[str, Spec], *, levels: list[int] | None = None) -> Outcome:
    """WN §VI: accuracy kept under huge multiplicative noise with BN, and the self-binarization test."""
    from noisewalk.analysis.binarize import self_binarization_test

    out = Outcome()
    for study, spec in specs.items():
        curves = study_curves_of(folder, specs, study)
        # each level has its own network: accuracy at the highest level relative to the lowest
        kept = {c.selection: c.mean[-1] / c.mean[0] if c.mean and c.mean[0] > 0 else math.nan for c in curves}
        kept = {k: v for k, v in kept.items() if math.isfinite(v)}
        top = max(kept, key=kept.get) if kept else None
        sigma_max = max((max(c.sigma) for c in curves), default=math.nan)
        out.rows.append(
            Row(
                f"best site: accuracy kept at σ = {sigma_max:.3g} (relative)",
                None,
                kept.get(top) if top else None,
                expect=">0.5",
                paper_text="most (some layers)",
                note=top or "",
            )
        )
        out.tables[f"accuracy kept at the highest σ per site ({study})"] = (
            ["site", "acc(σ_max) / acc(σ_min)"],
            [[k, f"{v:.2f}"] for k, v in kept.items()],
        )
        if curves:
            shown = {c.selection: c for c in curves}
            out.figures.append(
                plots.accuracy_curves(
                    shown, folder / f"curves_{study}.png", title="Multiplicative walking noise with BN (MNIST MLP)"
                )
            )
        nets = [n for n in trained_networks(folder / study) if n.train_sigma == sigma_max]
        if nets and top:
            data = _load_data(spec)
            net = (
                next(n for n in nets if (n.recipe.training.sites or [top]) == [top])
                if any((n.recipe.training.sites or [top]) == [top] for n in nets)
                else nets[0]
            )
            site = (net.recipe.training.sites or [top])[0]
            results = self_binarization_test(
                restore(net, data), data.test, sites=[site], levels=tuple(levels or (2, 3)), device="cpu"
            )
            for r in results:
                out.rows.append(
                    Row(
                        f"{site} trained at σ = {sigma_max:.3g}: accuracy with {r.levels} levels (relative)",
                        None,
                        r.acc / r.clean_acc if r.clean_acc else None,
                        expect=">0.5",
                        paper_text="most survives (self-binarization)",
                    )
                )
    return out


@ANALYSES.register("vant")
def vant(
    folder: Path, specs: dict[str, Spec], *, sigma_inf: list[float] | None = None, spread: float = 0.5, repeats: int = 2
) -> Outcome:
    """VANT: robustness under fluctuating σ_inf, noisy training vs VANT, and the σ_train × σ_inf heatmap."""
    from noisewalk.measure.robustness import measure_robustness

    out = Outcome()
    scores: dict[str, float | None] = {}
    for study, spec in specs.items():
        mode = spec.training.noise.value
        nets = trained_networks(folder / study)
        if not nets:
            scores[mode] = None
            continue
        data = _load_data(spec)
        rows, acc, fluct, robust = [], [], [], []
        levels = sigma_inf or sorted({n.train_sigma for n in nets})
        for s, group in by_train_sigma(nets):
            measured = [
                measure_robustness(
                    restore(n, data), data.test, levels, spread=spread, repeats=repeats, device="cpu", seed=0
                )
                for n in group
            ]
            rows.append(s)
            acc.append(np.mean([m.fixed_acc for m in measured], axis=0))
            fluct.append(np.mean([m.fluctuating_acc for m in measured], axis=0))
            robust.append(np.mean([m.robustness for m in measured], axis=0))
        at_own = [robust[i][levels.index(s)] for i, s in enumerate(rows) if s in levels]
        scores[mode] = float(np.mean(at_own)) if at_own else None
        out.figures.append(
            plots.heatmap(
                rows,
                levels,
                acc,
                folder / f"heatmap_{mode}.png",
                title=f"{NAMES.get(mode, mode)}: accuracy, fixed σ_inf",
            )
        )
        out.figures.append(
            plots.heatmap(
                rows,
                levels,
                fluct,
                folder / f"heatmap_{mode}_fluctuating.png",
                title=f"{NAMES.get(mode, mode)}: accuracy, σ_inf fluctuating (spread {spread:g})",
            )
        )
        table = []
        for i, s in enumerate(rows):
            if s in levels:
                j = levels.index(s)
                cells = (acc[i][j], fluct[i][j], robust[i][j], fluct[i][j] / acc[i][j] if acc[i][j] else math.nan)
                table.append([f"{s:g}", *(f"{100 * v:.1f} %" for v in cells)])
        header = ["σ_train", "acc., fixed σ_inf", "acc., fluctuating", "R (fluct. / noise-free)", "fluct. / fixed"]
        out.tables[f"{mode} at σ_inf = σ_train"] = (header, table)
    nt, va = scores.get("matched"), scores.get("vant")
    out.rows += [
        Row("noisy training: robustness under fluctuating σ_inf", paper.VANT_ROBUSTNESS["matched"], nt, percent=True),
        Row("VANT: robustness under fluctuating σ_inf", paper.VANT_ROBUSTNESS["vant"], va, percent=True),
        Row(
            "VANT / noisy training robustness",
            paper.VANT_ROBUSTNESS["vant"] / paper.VANT_ROBUSTNESS["matched"],
            va / nt if va and nt else None,
            reference=1.0,
        ),
    ]
    return out

"""How well μ is known: per-network μ, an interval over networks, comparisons, and how
many networks a target precision needs.

The fit error of μ (:attr:`noisewalk.measure.fit.MidpointFit.mu_err`) is the parameter
error of the logistic fitted to the *mean* curve: it says how well that one curve pins
μ down, not where μ would land with other networks. Networks trained with other seeds
differ; that spread is the uncertainty a comparison between configurations needs. This
module measures it over a curve's networks (its repetitions):

* **per-network μ**: the same logistic fitted to each network's own curve (its accuracy
  at every level, the spread floored at the binomial error of ``n_test`` samples);
* **a confidence interval for μ over networks** (:func:`mu_interval`): the networks are
  resampled with replacement and the mean curve refitted (a bootstrap: every resample up
  to 6 networks, weighted by its probability, 400 drawn above); the resamples' spread of
  log μ gives a standard error ``se`` (times ``√(n/(n−1))``, the bootstrap's shrinkage
  for a mean) and the interval is ``μ · exp(± t(n−1) · se)`` around the curve's μ.
  Why a t quantile and not the bootstrap's percentiles: with 3 networks the percentile
  interval covers the true μ in only about 80 % of studies. In simulation (200 studies
  each) this interval covers within 90–98 % at 3, 5 and 10 networks, except for a fit in
  linear σ of curves that fall over decades, where it is wider than needed at 3 networks
  (99 %). The jackknife (leave one network out) and a t interval on the per-network μ
  are the alternatives (``method``); the latter is too narrow for fits in linear σ,
  whose μ also moves with the weights the networks' spread gives the mean curve. See
  ``docs/guide.md``, "Reading μ's uncertainty", for the numbers;
* **comparisons** (:func:`compare`): the ratio of two configurations' μ with its
  interval and a test (Welch's t on log μ with the intervals' standard errors, so the
  difference is significant exactly when the ratio's interval excludes 1), and a
  permutation test over the per-network μ beside it;
* **networks needed** (:func:`networks_needed`): from a curve's network-to-network
  spread, the fewest networks whose interval is at most ± ``precision`` of μ.

Everything is in log μ: μ is a scale (its spread grows with μ) and an interval in log μ
never reaches below zero. The fits run batched (:func:`fit_midpoints`), with
:func:`noisewalk.measure.fit.fit_midpoint`'s guards, bounds and weighting.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from noisewalk.analysis.intervals import (  # noqa: F401  (the uncertainty API in one place)
    CONFIDENCE,
    EXACT_BOOTSTRAP,
    MAX_NETWORKS,
    METHODS,
    PERMUTATIONS,
    PRECISION,
    RESAMPLES,
    MuInterval,
    NetworkMu,
    fraction,
    mu_interval,
    mu_intervals,
    needed_text,
    networks_needed,
    none,
    resampled_log_mu,
    t,
)

# --------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class Comparison:
    """μ of configuration B against A."""

    mu_a: float
    mu_b: float
    ratio: float
    """μ_B / μ_A (of the curves' μ)."""
    low: float
    high: float
    """The ratio's ``1 − level`` interval over networks."""
    p_value: float
    """Welch's t on log μ with the intervals' standard errors (agrees with the interval:
    below ``level`` exactly when the interval excludes 1)."""
    level: float
    permutation_p: float = math.nan
    """A permutation test of the per-network log μ (NaN where a network has no μ)."""
    note: str | None = None

    @property
    def difference(self) -> float:
        """μ_B − μ_A."""
        return self.mu_b - self.mu_a

    @property
    def significant(self) -> bool:
        return math.isfinite(self.p_value) and self.p_value < self.level

    def text(self) -> str:
        """``+30% (+12% … +51%)``: B over A minus one, with its interval."""
        if not math.isfinite(self.ratio):
            return "—"
        return f"{100 * (self.ratio - 1):+.0f}% ({100 * (self.low - 1):+.0f}% … {100 * (self.high - 1):+.0f}%)"


def permutation_p(x, y, *, permutations: int = PERMUTATIONS, seed: int = 0) -> float:
    """Two-sided p-value of the difference of means of ``x`` and ``y`` under random
    relabelling: every arrangement where there are at most ``permutations``, else that
    many drawn (the observed one counted among them). With 3 and 3 values there are 20
    arrangements, so p is never below 0.1."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    pooled = np.concatenate([x, y])
    n, k = len(pooled), len(x)
    observed = abs(x.mean() - y.mean())
    total = math.comb(n, k)
    if total <= permutations:
        idx = np.array(list(itertools.combinations(range(n), k)))
        mask = np.zeros((total, n), bool)
        mask[np.arange(total)[:, None], idx] = True
        extra = 0
    else:
        rng = np.random.default_rng(seed)
        mask = np.argsort(rng.random((permutations, n)), axis=1) < k
        extra = 1
    sx = (mask * pooled).sum(1) / k
    sy = ((~mask) * pooled).sum(1) / (n - k)
    hits = int(np.sum(np.abs(sx - sy) >= observed - 1e-12 * max(1.0, abs(observed))))
    return float((hits + extra) / (len(mask) + extra))


def compare(a: MuInterval, b: MuInterval, *, level: float = 0.05, seed: int = 0) -> Comparison:
    """B against A: the ratio μ_B/μ_A with its ``1 − level`` interval over networks, and
    whether it differs from 1 at ``level``.

    Test and interval are Welch's t on log μ with each side's standard error (from its
    interval: jackknife, bootstrap or per-network), so the difference is significant
    exactly when the interval excludes 1. Where every network on both sides has a μ of
    its own, a permutation test of the per-network log μ is given beside it
    (distribution-free, but coarse with few networks).
    """
    fraction("level", level)
    nan = math.nan
    if not (a.ok and b.ok):
        return Comparison(a.mu, b.mu, nan, nan, nan, nan, level, note="no interval over networks on both sides")
    d = math.log(b.mu) - math.log(a.mu)
    va, vb = a.log_se**2, b.log_se**2
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / a.df + vb**2 / b.df) if va + vb > 0 else float(a.df + b.df)
    h = t(1 - level, df) * se
    p = float(2 * stats.t.sf(abs(d) / se, df)) if se > 0 else (0.0 if d else 1.0)
    perm, note = nan, None
    xs, ys = a.network_mus, b.network_mus
    if len(xs) == a.networks and len(ys) == b.networks:
        perm = permutation_p(np.log(xs), np.log(ys), seed=seed)
        if 2 / math.comb(len(xs) + len(ys), len(xs)) >= level:
            note = f"with {len(xs)} and {len(ys)} networks a permutation p is never below {level:g}"
    return Comparison(a.mu, b.mu, math.exp(d), math.exp(d - h), math.exp(d + h), p, level, perm, note)


# --------------------------------------------------------------------------- curves of a study


def repetition_matrix(curve) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A :class:`noisewalk.analysis.curves.Curve`'s repetitions as (names, accuracy per
    repetition and level with NaN where one lacks a level, noise-free accuracy or NaN)."""
    names = list(curve.repetitions)
    index = {float(s): j for j, s in enumerate(curve.sigma)}
    acc = np.full((len(names), len(curve.sigma)), math.nan)
    for i, name in enumerate(names):
        for s, a in curve.repetitions[name].items():
            if float(s) in index:
                acc[i, index[float(s)]] = a
    clean = np.array([curve.repetition_clean.get(name, math.nan) for name in names], dtype=float)
    return names, acc, clean


def curve_interval(
    curve,
    fit=None,
    *,
    log: bool | None = None,
    confidence: float = CONFIDENCE,
    method: str = "bootstrap",
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> MuInterval:
    """:func:`mu_interval` of a study's curve over its repetitions, centred on ``fit``'s μ
    (a :class:`noisewalk.analysis.midpoints.CurveFit` or
    :class:`noisewalk.measure.fit.MidpointFit`; default: the mean curve's fit here).

    ``log`` defaults to the fit's. A curve whose fit took two steps has no interval
    here: the per-network fits are single steps.
    """
    if fit is not None and getattr(fit, "use_stacked", False):
        return none(fit.mu, confidence, (), "two-step curve: intervals are for single-step fits")
    if log is None:
        single = getattr(fit, "single", fit)
        log = bool(getattr(single, "log", False))
    names, acc, clean = repetition_matrix(curve)
    mu = None
    if fit is not None:
        mu = fit.mu if fit.in_range and math.isfinite(fit.mu) else math.nan
    if not names:
        return none(math.nan if mu is None else mu, confidence, (), "no repetitions recorded")
    return mu_interval(
        curve.sigma,
        acc,
        mu=mu,
        names=names,
        n_test=curve.n_test,
        chance=curve.chance,
        clean_acc=clean,
        log=log,
        confidence=confidence,
        method=method,
        resamples=resamples,
        seed=seed,
    )


def precision_line(curve, fit, precision: float = PRECISION) -> str | None:
    """One line on how well a curve's μ is known, for the command line: μ with its fit
    error, the interval over networks, each network's μ and the networks a ±
    ``precision`` interval needs. None where the curve has no interval over networks."""
    iv = getattr(fit, "spread", None)
    if iv is None:
        return None
    where = curve.label
    if not iv.ok:
        return f"{where}: no interval over networks ({iv.note})"
    rel = fit.mu_err / fit.mu if fit.mu else math.nan
    own = ", ".join(f"{n.mu:.3g}" if n.in_range else "—" for n in iv.per_network)
    return (
        f"{where}: μ = {fit.mu:.3g} (fit error ±{100 * rel:.1f}%); {100 * iv.confidence:g}% CI over "
        f"{iv.networks} networks {iv.text()} (±{100 * iv.rel_half_width:.0f}%); μ per network {own}; "
        f"networks for ±{100 * precision:g}%: {needed_text(iv.needed(precision))}"
    )


def precision_lines(fitted, precision: float = PRECISION, limit: int = 20) -> list[str]:
    """:func:`precision_line` for each fitted curve (``(curve, fit)`` pairs), at most
    ``limit`` lines (then a count of the rest)."""
    lines = [line for c, f in fitted if (line := precision_line(c, f, precision)) is not None]
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more curves (see the report's tables)"]
    return lines


def study_precision_lines(studies, precision: float = PRECISION, limit: int = 20) -> list[str]:
    """:func:`precision_lines` of loaded studies (:func:`noisewalk.results.load_studies`)."""
    from noisewalk.analysis.curves import build_curves, configurations
    from noisewalk.analysis.midpoints import fit_curve

    confs = configurations([n for s in studies for n in s.networks])
    curves = [c for conf in confs for c in build_curves(conf)]
    fitted = [(c, fit_curve(c, log=bool(c.config.get("log_fit")))) for c in curves]
    return precision_lines(fitted, precision, limit)

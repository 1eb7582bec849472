"""μ per configuration and per site, with the two-step fit where one step does not fit.

:func:`fit_curve` fits the logistic step (:func:`noisewalk.measure.fit.fit_midpoint`). Where
one step does not fit (its chi2 in log10(sigma) is improbable at level ``alpha``) and
the curve has enough levels, it fits the stacked two-step logistic too, and keeps it
only when it describes the curve significantly better (an F-test on the improvement of
chi2 for its three extra parameters) and its two steps are real: each step at least
``min_step`` of the whole fall and the midpoints further apart than the steps are wide.
Otherwise the single step stands.

With ``networks=True`` (the default) it also fits each network's own curve and puts an
interval over the networks beside the fit error (:attr:`CurveFit.spread`, see
:mod:`noisewalk.analysis.uncertainty`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from noisewalk.analysis.curves import Curve
from noisewalk.measure.curves import fit_levels
from noisewalk.measure.fit import (
    MIN_FIT_LEVELS,
    MidpointFit,
    StackedFit,
    fit_midpoint,
    fit_stacked,
    preserved_relative_accuracy,
)
from noisewalk.validate import check_range

if TYPE_CHECKING:
    from noisewalk.analysis.uncertainty import MuInterval

STACKED_EXTRA_PARAMS = 3
"""Parameters the stacked logistic has beyond the single one (7 against 4)."""


@dataclass(frozen=True)
class CurveFit:
    """The midpoint fit of one curve: the single step, and the stacked fit where it won."""

    single: MidpointFit
    stacked: StackedFit | None = None
    use_stacked: bool = False
    p_value: float = math.nan
    """Probability of a chi2 improvement this large by chance (F-test), where both fits ran."""
    spread: MuInterval | None = None
    """μ per network and the interval over networks (None where not computed)."""

    @property
    def mu(self) -> float:
        """μ: the noise level where accuracy falls half-way. With two steps, the midpoint
        of the step that crosses the half-way level."""
        return self._step()[0]

    @property
    def mu_err(self) -> float:
        return self._step()[1]

    @property
    def in_range(self) -> bool:
        return self.stacked.in_range if self.use_stacked else self.single.in_range

    @property
    def reason(self) -> str | None:
        return self.stacked.reason if self.use_stacked else self.single.reason

    def _step(self) -> tuple[float, float]:
        if not self.use_stacked:
            return self.single.mu, self.single.mu_err
        s = self.stacked
        a_min, h1, _, _, h2, _, _ = s.params
        half = a_min + (h1 + h2) / 2
        return (s.mu2, s.mu2_err) if s.plateau > half else (s.mu1, s.mu1_err)

    @property
    def params(self) -> tuple[float, ...]:
        """Parameters of the fit in use (empty when there is none)."""
        return self.stacked.params if self.use_stacked else self.single.params

    def predict(self, sigma) -> np.ndarray:
        return self.stacked.predict(sigma) if self.use_stacked else self.single.predict(sigma)

    def describe(self) -> str:
        """μ as the tables print it."""
        if self.use_stacked:
            s = self.stacked
            return f"two steps: {s.mu1:.4g} ± {s.mu1_err:.2g} and {s.mu2:.4g} ± {s.mu2_err:.2g}"
        f = self.single
        if not math.isfinite(f.mu):
            return f"— ({f.reason})"
        text = f"{f.mu:.4g} ± {f.mu_err:.2g} (±{100 * f.rel_err:.1f}%)"
        return text if f.in_range else f"{text}, outside the measured range"


def _real_steps(s: StackedFit, min_step: float) -> bool:
    a_min, h1, m1, w1, h2, m2, w2 = s.params
    drop = h1 + h2
    return drop > 0 and min(h1, h2) >= min_step * drop and abs(m2 - m1) > 2 * (w1 + w2)


def fit_curve(
    curve: Curve,
    *,
    log: bool = False,
    stacked: bool | None = None,
    alpha: float = 0.01,
    min_step: float = 0.15,
    networks: bool = True,
) -> CurveFit:
    """Fit μ to ``curve``.

    Args:
        log: fit the single step in log10(sigma) (the stacked fit always is).
        stacked: ``None`` decides by the tests, ``True`` uses the stacked fit whenever
            it converges with real steps in range, ``False`` never tries it.
        alpha: significance level of the goodness-of-fit test and the F-test.
        min_step: smallest share of the whole fall each of the two steps must have.
        networks: also fit each network's curve and give the 95 % interval of μ over
            the networks (:func:`noisewalk.analysis.uncertainty.curve_interval`), where
            the curve has at least two.
    """
    fit = _fit_curve(curve, log=log, stacked=stacked, alpha=alpha, min_step=min_step)
    if networks and len(curve.repetitions) >= 2:
        from noisewalk.analysis.uncertainty import curve_interval

        fit = replace(fit, spread=curve_interval(curve, fit, log=log))
    return fit


def _fit_curve(curve: Curve, *, log: bool, stacked: bool | None, alpha: float, min_step: float) -> CurveFit:
    check_range("alpha", alpha, low=0.0, high=1.0, low_open=True)
    check_range("min_step", min_step, low=0.0, high=0.5)
    if len(curve.sigma) < MIN_FIT_LEVELS:
        reason = f"{len(curve.sigma)} noise levels measured so far; a fit needs at least {MIN_FIT_LEVELS}"
        return CurveFit(MidpointFit(math.nan, math.nan, False, reason, log=log))
    kw = {"n_test": curve.n_test, "chance": curve.chance}
    levels = {float(s): list(a) for s, a in zip(curve.sigma, curve.acc, strict=True)}
    single = fit_levels(levels, clean_acc=curve.clean_acc, log=log, **kw)
    positive = curve.sigma > 0
    if stacked is False or not math.isfinite(single.chi2) or positive.sum() < 4 + STACKED_EXTRA_PARAMS + 1:
        return CurveFit(single)
    # both fits compared in log10(sigma) on the same levels
    base = (
        single
        if single.log and positive.all()
        else fit_midpoint(curve.sigma[positive], curve.mean[positive], curve.std[positive], log=True, **kw)
    )
    if not math.isfinite(base.chi2) or base.dof < 1:
        return CurveFit(single)
    if stacked is None and stats.chi2.sf(base.chi2, base.dof) >= alpha:
        return CurveFit(single)  # one step fits: no reason to try two
    two = fit_stacked(curve.sigma[positive], curve.mean[positive], curve.std[positive], **kw)
    if not two.params or two.dof < 1:
        return CurveFit(single, two)
    gain = (base.chi2 - two.chi2) / STACKED_EXTRA_PARAMS
    if two.chi2 <= 0:
        p = 0.0 if gain > 0 else 1.0
    else:
        p = 1.0 if gain <= 0 else float(stats.f.sf(gain / (two.chi2 / two.dof), STACKED_EXTRA_PARAMS, two.dof))
    wins = (p < alpha if stacked is None else True) and two.in_range and _real_steps(two, min_step)
    return CurveFit(single, two, wins, p)


def fit_curves(curves: Iterable[Curve], **kw) -> list[tuple[Curve, CurveFit]]:
    """:func:`fit_curve` for each curve."""
    return [(c, fit_curve(c, **kw)) for c in curves]


def site_midpoints(
    fits: Iterable[tuple[Curve, CurveFit]], site_order: Sequence[str] = ()
) -> dict[str, dict[str, CurveFit]]:
    """Per-site μ from walking noise: ``{configuration label: {site: fit}}``.

    Only per-site curves enter (not global noise). Sites follow ``site_order`` where it
    names them, then their first appearance.
    """
    from noisewalk.results.model import GLOBAL_SITE

    out: dict[str, dict[str, CurveFit]] = {}
    for curve, fit in fits:
        if curve.site != GLOBAL_SITE:
            label = curve.label.rsplit(" @ ", 1)[0]
            out.setdefault(label, {})[curve.site] = fit
    rank = {name: i for i, name in enumerate(site_order)}
    return {
        label: dict(sorted(sites.items(), key=lambda kv: rank.get(kv[0], len(rank)))) for label, sites in out.items()
    }


def preserved_accuracy(curve: Curve) -> float:
    """``acc(sigma_max) / acc(0)`` of a curve (the clean accuracy where known, else the
    accuracy at its lowest level); NaN for an empty curve."""
    if not len(curve.sigma):
        return math.nan
    base = curve.clean_acc if curve.clean_acc else None
    if base is None and float(curve.mean[np.argmin(curve.sigma)]) <= 0:
        return math.nan
    return preserved_relative_accuracy(curve.sigma, curve.mean, clean_acc=base)

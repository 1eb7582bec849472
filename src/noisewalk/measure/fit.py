"""The robustness metric: the midpoint noise level mu of an accuracy-vs-noise curve.

``fit_midpoint`` fits ``F(s) = a_min + (a_max - a_min) / (1 + exp((s - mu) / w))`` by
weighted least squares (SciPy's ``curve_fit`` with ``sigma = acc_std`` and
``absolute_sigma=True``) and returns mu with its fit uncertainty. Guards:

* spreads of zero (identical repetitions) are raised to a floor: the binomial standard
  error of an accuracy on ``n_test`` samples, or ``min_std`` when ``n_test`` is unknown;
* a curve that never falls half-way, or has already fallen at the first noise level,
  has no midpoint in range: the result says so (``in_range=False`` with a reason) and
  ``mu`` is NaN instead of an extrapolated number;
* a fitted mu outside the measured range is reported with ``in_range=False``.

``log=True`` fits in ``log10(sigma)`` instead of sigma, for curves that fall over many
decades; mu is still reported as a noise level, its error propagated.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit

from noisewalk.errors import InvalidParameterError

MIN_FIT_LEVELS = 5
"""Fewest noise levels a midpoint fit accepts (the logistic has four parameters)."""

DEFAULT_MIN_STD = 0.005
"""Floor on the accuracy spread when the test-set size is unknown (half a percent)."""


def logistic(x, a_min, a_max, mu, width):
    """The falling logistic step ``a_min + (a_max - a_min) / (1 + exp((x - mu) / width))``."""
    return a_min + (a_max - a_min) * expit(-(np.asarray(x, dtype=float) - mu) / width)


def stacked_logistic(x, a_min, h1, mu1, w1, h2, mu2, w2):
    """Two logistic steps of heights ``h1`` (at ``mu1``) and ``h2`` (at ``mu2``) above ``a_min``."""
    x = np.asarray(x, dtype=float)
    return a_min + h1 * expit(-(x - mu1) / w1) + h2 * expit(-(x - mu2) / w2)


class _Fitted:
    """What fit results share: the fitted curve and a plain-dict form."""

    params: tuple[float, ...]
    log: bool
    _shape = staticmethod(logistic)

    def predict(self, sigma) -> np.ndarray:
        """The fitted curve at ``sigma`` (NaN where there was no fit)."""
        sigma = np.asarray(sigma, dtype=float)
        if not self.params:
            return np.full_like(sigma, np.nan)
        with np.errstate(divide="ignore"):
            x = np.log10(sigma) if self.log else sigma
        return type(self)._shape(x, *self.params)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["params"] = list(self.params)
        return d


@dataclass(frozen=True)
class MidpointFit(_Fitted):
    """Result of :func:`fit_midpoint`. ``mu`` is NaN when there is no midpoint in range."""

    mu: float
    mu_err: float
    in_range: bool
    reason: str | None
    a_min: float = math.nan
    a_max: float = math.nan
    width: float = math.nan
    log: bool = False
    chi2: float = math.nan
    dof: int = 0
    sigma_range: tuple[float, float] = (math.nan, math.nan)
    params: tuple[float, ...] = field(default=(), repr=False)

    @property
    def rel_err(self) -> float:
        """Uncertainty of mu relative to mu (HN prints it as a percentage)."""
        return self.mu_err / self.mu if self.mu and math.isfinite(self.mu) else math.nan

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["sigma_range"] = list(self.sigma_range)
        d["rel_err"] = self.rel_err
        return d

    def __str__(self) -> str:
        if not self.in_range and not math.isfinite(self.mu):
            return f"no midpoint in range ({self.reason})"
        text = f"{self.mu:.4g} (±{100 * self.rel_err:.1f}%)"
        return text if self.in_range else f"{text} outside the measured range"


@dataclass(frozen=True)
class StackedFit(_Fitted):
    """Result of :func:`fit_stacked`: two midpoints, lower first."""

    mu1: float
    mu1_err: float
    mu2: float
    mu2_err: float
    plateau: float
    in_range: bool
    reason: str | None
    log: bool = False
    chi2: float = math.nan
    dof: int = 0
    params: tuple[float, ...] = field(default=(), repr=False)

    _shape = staticmethod(stacked_logistic)


@dataclass(frozen=True)
class _Curve:
    sigma: np.ndarray
    x: np.ndarray
    acc: np.ndarray
    std: np.ndarray


def _prepare(sigma, acc_mean, acc_std, n_test, min_std, log) -> _Curve:
    sigma = np.asarray(sigma, dtype=float).ravel()
    acc = np.asarray(acc_mean, dtype=float).ravel()
    std = np.zeros_like(acc) if acc_std is None else np.asarray(acc_std, dtype=float).ravel()
    if not (len(sigma) == len(acc) == len(std)):
        raise InvalidParameterError(
            f"sigma, acc_mean and acc_std must have the same length; got {len(sigma)}, {len(acc)}, {len(std)}"
        )
    if len(sigma) < MIN_FIT_LEVELS:
        raise InvalidParameterError(f"a midpoint fit needs at least {MIN_FIT_LEVELS} noise levels; got {len(sigma)}")
    for name, arr in (("sigma", sigma), ("acc_mean", acc), ("acc_std", std)):
        if not np.all(np.isfinite(arr)):
            raise InvalidParameterError(f"{name} must be finite; got {arr[~np.isfinite(arr)][0]!r} among its values")
    if np.any(sigma < 0) or (log and np.any(sigma <= 0)):
        allowed = "> 0 for a fit in log sigma" if log else ">= 0"
        raise InvalidParameterError(f"sigma values must be {allowed}; got {sigma.min()!r}")
    if np.any((acc < 0) | (acc > 1)):
        raise InvalidParameterError(f"acc_mean must be fractions in [0, 1]; got values up to {acc.max()!r}")
    if np.any(std < 0):
        raise InvalidParameterError(f"acc_std must be >= 0; got {std.min()!r}")
    if n_test is not None:
        if not isinstance(n_test, int) or n_test < 1:
            raise InvalidParameterError(f"n_test must be a positive integer; got {n_test!r}")
        p = np.clip(acc, 0.5 / n_test, 1 - 0.5 / n_test)
        floor = np.sqrt(p * (1 - p) / n_test)
    else:
        floor = np.full_like(acc, DEFAULT_MIN_STD if min_std is None else float(min_std))
    if min_std is not None:
        floor = np.maximum(floor, float(min_std))
    order = np.argsort(sigma)
    sigma, acc, std, floor = sigma[order], acc[order], std[order], floor[order]
    x = np.log10(sigma) if log else sigma
    return _Curve(sigma, x, acc, np.maximum(std, floor))


def _fall_check(c: _Curve, chance: float | None, clean_acc: float | None = None) -> tuple[str | None, float, float]:
    """Returns (reason there is no midpoint in range or None, top level, bottom level)."""
    top = float(clean_acc) if clean_acc is not None else float(np.max(c.acc[: max(2, len(c.acc) // 8)]))
    bottom = float(chance) if chance is not None else float(np.min(c.acc))
    noise = float(np.median(c.std))
    threshold = max(3 * noise, 0.02)
    if chance is not None and c.acc[0] - bottom < threshold:
        return f"accuracy is already at chance ({bottom:.3g}) at the first noise level {c.sigma[0]:.3g}", top, bottom
    if top - bottom < threshold:
        return "accuracy does not fall over the measured range", top, bottom
    half = (top + bottom) / 2
    if np.all(c.acc > half):
        return f"accuracy never falls half-way (to {half:.3g}) up to sigma {c.sigma[-1]:.3g}", top, bottom
    if c.acc[0] < half:
        return f"accuracy is already below half-way ({half:.3g}) at the first noise level {c.sigma[0]:.3g}", top, bottom
    return None, top, bottom


def _crossing(x: np.ndarray, acc: np.ndarray, level: float) -> tuple[float, float]:
    """First x where acc drops below level (linear interpolation) and the local step."""
    below = np.nonzero(acc < level)[0]
    i = int(below[0]) if len(below) else len(x) - 1
    if i == 0:
        return float(x[0]), float(x[1] - x[0])
    x0, x1, y0, y1 = x[i - 1], x[i], acc[i - 1], acc[i]
    t = (y0 - level) / (y0 - y1) if y0 != y1 else 0.5
    return float(x0 + t * (x1 - x0)), float(x1 - x0)


def _best_fit(f, c: _Curve, starts, bounds):
    best = None
    for p0 in starts:
        p0 = np.clip(p0, bounds[0], bounds[1])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                params, cov = curve_fit(
                    f, c.x, c.acc, p0=p0, sigma=c.std, absolute_sigma=True, bounds=bounds, maxfev=20000
                )
        except (RuntimeError, ValueError):
            continue
        chi2 = float(np.sum(((f(c.x, *params) - c.acc) / c.std) ** 2))
        if best is None or chi2 < best[2]:
            best = (params, cov, chi2)
    return best


def fit_midpoint(
    sigma,
    acc_mean,
    acc_std=None,
    *,
    n_test: int | None = None,
    min_std: float | None = None,
    chance: float | None = None,
    clean_acc: float | None = None,
    log: bool = False,
) -> MidpointFit:
    """Fit the logistic step to an accuracy-vs-noise curve and return its midpoint mu.

    Args:
        sigma: noise levels (any order).
        acc_mean: mean accuracy at each level, as fractions in [0, 1].
        acc_std: spread of the accuracy over repetitions at each level (None: no spread).
        n_test: test-set size; the spread is floored at the binomial standard error.
        min_std: a floor of its own on the spread (default 0.005 when ``n_test`` is None).
        chance: accuracy of guessing (1 / classes); used to tell a curve that starts
            fallen from one that never falls. Without it the lowest accuracy is the floor.
        clean_acc: accuracy without noise; tells a curve that has already fallen below
            half-way at the first level. Without it the first levels' accuracy is the top.
        log: fit in log10(sigma) instead of sigma.
    """
    c = _prepare(sigma, acc_mean, acc_std, n_test, min_std, log)
    srange = (float(c.sigma[0]), float(c.sigma[-1]))
    reason, top, bottom = _fall_check(c, chance, clean_acc)
    if reason is not None:
        return MidpointFit(math.nan, math.nan, False, reason, log=log, sigma_range=srange)

    mu0, step = _crossing(c.x, c.acc, (top + bottom) / 2)
    span = float(c.x[-1] - c.x[0])
    lo_mu, hi_mu = c.x[0] - span, c.x[-1] + span
    if not log:
        lo_mu = max(lo_mu, 0.0)
    bounds = ([0.0, 0.0, lo_mu, span * 1e-6], [1.0, 1.0, hi_mu, span * 10])
    scale = max(abs(mu0), step) if not log else step
    starts = [[bottom, top, mu0, scale * k] for k in (0.03, 0.1, 0.3, 1.0)]
    best = _best_fit(logistic, c, starts, bounds)
    dof = len(c.x) - 4
    if best is None:
        return MidpointFit(math.nan, math.nan, False, "the logistic fit did not converge", log=log, sigma_range=srange)
    params, cov, chi2 = best
    m, m_err = float(params[2]), float(math.sqrt(cov[2, 2])) if np.isfinite(cov[2, 2]) else math.inf
    mu, mu_err = (10**m, 10**m * math.log(10) * m_err) if log else (m, m_err)
    in_range = srange[0] <= mu <= srange[1]
    reason = None if in_range else f"the fitted midpoint {mu:.3g} lies outside the measured range"
    if not math.isfinite(mu_err):
        reason = "the fit gives no finite uncertainty for mu"
    return MidpointFit(
        mu=mu,
        mu_err=mu_err,
        in_range=in_range,
        reason=reason,
        a_min=float(params[0]),
        a_max=float(params[1]),
        width=float(params[3]),
        log=log,
        chi2=chi2,
        dof=dof,
        sigma_range=srange,
        params=tuple(float(p) for p in params),
    )


def fit_stacked(
    sigma,
    acc_mean,
    acc_std=None,
    *,
    n_test: int | None = None,
    min_std: float | None = None,
    chance: float | None = None,
    log: bool = True,
) -> StackedFit:
    """Fit two logistic steps, for curves that fall in two stages with a plateau between.

    Defaults to a fit in log10(sigma): two-step curves usually fall decades apart.
    """
    c = _prepare(sigma, acc_mean, acc_std, n_test, min_std, log)
    reason, top, bottom = _fall_check(c, chance)
    nan = math.nan
    if reason is not None:
        return StackedFit(nan, nan, nan, nan, nan, False, reason, log=log)
    drop = top - bottom
    span = float(c.x[-1] - c.x[0])
    starts = []
    for q1, q2 in ((0.25, 0.75), (0.15, 0.6), (0.4, 0.85)):
        m1, step = _crossing(c.x, c.acc, top - q1 * drop)
        m2, _ = _crossing(c.x, c.acc, top - q2 * drop)
        if m2 <= m1:
            m2 = m1 + span / 4
        for h1 in (0.3, 0.5, 0.7):
            w = max(step, span / 50) * 0.3
            starts.append([bottom, h1 * drop, m1, w, (1 - h1) * drop, m2, w])
    lo = [0.0, 0.0, c.x[0] - span, span * 1e-6, 0.0, c.x[0] - span, span * 1e-6]
    hi = [1.0, 1.0, c.x[-1] + span, span * 10, 1.0, c.x[-1] + span, span * 10]
    if not log:
        lo[2] = lo[5] = 0.0
    best = _best_fit(stacked_logistic, c, starts, (lo, hi))
    if best is None:
        return StackedFit(nan, nan, nan, nan, nan, False, "the stacked fit did not converge", log=log)
    params, cov, chi2 = best
    p = [float(v) for v in params]
    errs = [float(math.sqrt(cov[i, i])) if np.isfinite(cov[i, i]) else math.inf for i in range(7)]
    steps = sorted([(p[2], errs[2], p[1], 1), (p[5], errs[5], p[4], 4)])
    if log:
        steps = [(10**m, 10**m * math.log(10) * e, h, i) for m, e, h, i in steps]
    (mu1, e1, _h1, _), (mu2, e2, h2, _) = steps
    in_range = all(c.sigma[0] <= m <= c.sigma[-1] for m in (mu1, mu2))
    reason = None if in_range else "a fitted midpoint lies outside the measured range"
    return StackedFit(
        mu1=mu1,
        mu1_err=e1,
        mu2=mu2,
        mu2_err=e2,
        plateau=p[0] + h2,
        in_range=in_range,
        reason=reason,
        log=log,
        chi2=chi2,
        dof=len(c.x) - 7,
        params=tuple(p),
    )


def preserved_relative_accuracy(sigma, acc_mean, clean_acc: float | None = None) -> float:
    """``acc(sigma_max) / acc(0)``: how much accuracy survives the strongest noise measured.

    ``clean_acc`` defaults to the accuracy at the smallest noise level.
    """
    sigma = np.asarray(sigma, dtype=float)
    acc = np.asarray(acc_mean, dtype=float)
    if sigma.shape != acc.shape or sigma.size == 0:
        raise InvalidParameterError("sigma and acc_mean must be non-empty and of the same length")
    base = float(acc[np.argmin(sigma)]) if clean_acc is None else float(clean_acc)
    if base <= 0:
        raise InvalidParameterError(f"the clean accuracy must be > 0; got {base!r}")
    return float(acc[np.argmax(sigma)]) / base

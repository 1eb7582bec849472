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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import expit

from noisewalk.errors import InvalidParameterError
from noisewalk.measure.fit import DEFAULT_MIN_STD, MIN_FIT_LEVELS

CONFIDENCE = 0.95
"""Default confidence of the intervals."""

PRECISION = 0.05
"""Default target precision of μ (± 5 %) for :func:`networks_needed`."""

EXACT_BOOTSTRAP = 6
"""Up to this many networks the bootstrap enumerates every resample (weighted by its
probability) instead of drawing them: 462 resamples for 6 networks."""

RESAMPLES = 400
"""Bootstrap resamples drawn for more networks than :data:`EXACT_BOOTSTRAP`."""

PERMUTATIONS = 5000
"""Permutations drawn by the permutation test when there are more arrangements than this
(fewer are enumerated exactly)."""

MAX_NETWORKS = 10000
"""Largest answer :func:`networks_needed` gives (beyond it: "more than")."""

METHODS = ("bootstrap", "jackknife", "t", "percentile")
"""Interval methods: resampling the networks (bootstrap, jackknife) with a t quantile,
a t interval on the per-network log μ, and the plain bootstrap percentile interval."""


def _fraction(name: str, value: float) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
    if not ok:
        raise InvalidParameterError(f"{name} must be a number in (0, 1); got {value!r}")
    return float(value)


# --------------------------------------------------------------------------- batched fits


@dataclass(frozen=True)
class BatchFit:
    """Midpoints of many curves on the same levels (one entry per curve)."""

    mu: np.ndarray
    """μ, NaN where there is none."""
    in_range: np.ndarray
    reason: list[str | None]
    chi2: np.ndarray
    params: np.ndarray
    """``(a_min, a_max, mu, width)`` per curve in the fit's variable (σ or log10 σ); NaN without a fit."""


def _floor(acc: np.ndarray, n_test: int | None, min_std: float | None) -> np.ndarray:
    if n_test:
        p = np.clip(acc, 0.5 / n_test, 1 - 0.5 / n_test)
        floor = np.sqrt(p * (1 - p) / n_test)
    else:
        floor = np.full_like(acc, DEFAULT_MIN_STD if min_std is None else float(min_std))
    return floor if min_std is None else np.maximum(floor, float(min_std))


def _model(x, p):
    a, b, m, s = (p[..., i, None] for i in range(4))
    e = expit(-(x - m) / s)
    return a + (b - a) * e, e


def _lm(x, y, w, p, lo, hi, iterations=300):
    """Projected Levenberg-Marquardt on many weighted logistic fits at once (a parameter
    at a bound that the gradient pushes outwards is held there for the step). Rows
    leave the iteration once chi2 no longer changes (relative 1e-10)."""
    p = p.copy()
    chi2 = _chi2(x, y, w, p)
    lam = np.full(len(p), 1e-3)
    rows = np.arange(len(p))
    eye = np.eye(4)
    for _ in range(iterations):
        if not len(rows):
            break
        pa, ya, wa, la, ca = p[rows], y[rows], w[rows], lam[rows], chi2[rows]
        f, e = _model(x, pa)
        a, b, m, s = (pa[:, i, None] for i in range(4))
        de = e * (1 - e)
        jac = np.stack([1 - e, e, (b - a) * de / s, (b - a) * de * (x - m) / s**2], axis=1) * wa[:, None, :]
        jtj = jac @ jac.transpose(0, 2, 1)
        g = (jac @ ((f - ya) * wa)[..., None])[..., 0]
        held = ((pa <= lo) & (g > 0)) | ((pa >= hi) & (g < 0))
        free = ~held
        jtj = jtj * free[:, :, None] * free[:, None, :] + held[:, :, None] * eye
        g = g * free
        diag = np.einsum("bii->bi", jtj)
        damped = jtj + (la[:, None] * np.maximum(diag, 1e-12))[:, :, None] * eye
        try:
            step = np.linalg.solve(damped, -g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = (np.linalg.pinv(damped) @ -g[..., None])[..., 0]
        trial = np.clip(pa + np.where(np.isfinite(step), step, 0.0), lo, hi)
        new = _chi2(x, ya, wa, trial)
        better = new < ca
        p[rows] = np.where(better[:, None], trial, pa)
        chi2[rows] = np.where(better, new, ca)
        lam[rows] = np.clip(np.where(better, la / 3, la * 4), 1e-12, 1e12)
        settled = (np.abs(ca - new) <= 1e-10 * np.maximum(ca, 1e-12)) | (lam[rows] >= 1e12)
        rows = rows[~settled]
    return p, chi2


def _chi2(x, y, w, p):
    f, _ = _model(x, p)
    return np.sum(((f - y) * w) ** 2, axis=-1)


def _fit_group(
    sigma: np.ndarray,
    acc: np.ndarray,
    std: np.ndarray,
    *,
    n_test: int | None,
    min_std: float | None,
    chance: float | None,
    clean: np.ndarray,
    log: bool,
    start: np.ndarray | None = None,
) -> BatchFit:
    """Curves on the same levels (sorted, all values present)."""
    n, levels = acc.shape
    x = np.log10(sigma) if log else sigma
    std = np.maximum(std, _floor(acc, n_test, min_std))
    top = np.where(np.isfinite(clean), clean, np.max(acc[:, : max(2, levels // 8)], axis=1))
    bottom = np.full(n, float(chance)) if chance is not None else np.min(acc, axis=1)
    threshold = np.maximum(3 * np.median(std, axis=1), 0.02)
    half = (top + bottom) / 2
    at_chance = (acc[:, 0] - bottom < threshold) if chance is not None else np.zeros(n, bool)
    flat = ~at_chance & (top - bottom < threshold)
    never = ~at_chance & ~flat & np.all(acc > half[:, None], axis=1)
    fallen = ~at_chance & ~flat & ~never & (acc[:, 0] < half)
    reason: list[str | None] = [None] * n
    for i in np.nonzero(at_chance | flat | never | fallen)[0]:
        if at_chance[i]:
            reason[i] = f"accuracy is already at chance ({bottom[i]:.3g}) at the first noise level {sigma[0]:.3g}"
        elif flat[i]:
            reason[i] = "accuracy does not fall over the measured range"
        elif never[i]:
            reason[i] = f"accuracy never falls half-way (to {half[i]:.3g}) up to sigma {sigma[-1]:.3g}"
        else:
            reason[i] = f"accuracy is already below half-way ({half[i]:.3g}) at the first noise level {sigma[0]:.3g}"
    mu = np.full(n, math.nan)
    chi2 = np.full(n, math.nan)
    params = np.full((n, 4), math.nan)
    fit = ~(at_chance | flat | never | fallen)
    if fit.any():
        rows = np.nonzero(fit)[0]
        below = acc[rows] < half[rows, None]
        i = np.argmax(below, axis=1)  # first level below half-way (>= 1: the first is above)
        x0, x1, y0, y1 = x[i - 1], x[i], acc[rows, i - 1], acc[rows, i]
        t = np.where(y0 != y1, (y0 - half[rows]) / np.where(y0 != y1, y0 - y1, 1.0), 0.5)
        mu0, step = x0 + t * (x1 - x0), x1 - x0
        span = float(x[-1] - x[0])
        lo_mu, hi_mu = x[0] - span, x[-1] + span
        if not log:
            lo_mu = max(lo_mu, 0.0)
        lo = np.array([0.0, 0.0, lo_mu, span * 1e-6])
        hi = np.array([1.0, 1.0, hi_mu, span * 10])
        scale = step if log else np.maximum(np.abs(mu0), step)
        ks = (0.03, 0.1, 0.3, 1.0) if start is None else (0.3,)
        starts = np.concatenate(
            [np.stack([bottom[rows], top[rows], mu0, scale * k], axis=1) for k in ks]
        )  # start k of row j at k * len(rows) + j
        if start is not None:  # one start per curve: the given one where it is finite
            given = start[rows]
            starts = np.where(np.all(np.isfinite(given), axis=1)[:, None], given, starts)
        starts = np.clip(starts, lo, hi)
        yy, ww = np.tile(acc[rows], (len(ks), 1)), np.tile(1 / std[rows], (len(ks), 1))
        p, c2 = _lm(x, yy, ww, starts, lo, hi)
        c2 = np.where(np.isfinite(c2), c2, np.inf).reshape(len(ks), len(rows))
        best = np.argmin(c2, axis=0)
        p = p.reshape(len(ks), len(rows), 4)[best, np.arange(len(rows))]
        chi2[rows] = c2[best, np.arange(len(rows))]
        params[rows] = p
        mu[rows] = 10 ** p[:, 2] if log else p[:, 2]
    in_range = np.isfinite(mu) & (mu >= sigma[0]) & (mu <= sigma[-1])
    for i in np.nonzero(np.isfinite(mu) & ~in_range)[0]:
        reason[i] = f"the fitted midpoint {mu[i]:.3g} lies outside the measured range"
    return BatchFit(mu, in_range, reason, chi2, params)


def fit_midpoints(
    sigma,
    acc,
    std=None,
    *,
    n_test: int | None = None,
    min_std: float | None = None,
    chance: float | None = None,
    clean_acc=None,
    log: bool = False,
    start=None,
) -> BatchFit:
    """:func:`noisewalk.measure.fit.fit_midpoint` for many curves at once.

    ``acc`` (and ``std``) hold one curve per row over the levels ``sigma``; NaN marks a
    level a curve lacks (a curve then fits on its own levels). ``clean_acc`` is one
    value per curve (NaN: unknown) or a single value. Same logistic, weighting, floors,
    bounds and "no midpoint in range" verdicts as ``fit_midpoint``; a projected
    Levenberg-Marquardt from the same four starts replaces SciPy's ``curve_fit``.
    ``start`` (``a_min, a_max, mu, width`` in the fit's variable, one row per curve or
    one for all; NaN: none) replaces those starts by one, for curves known to lie close
    to a fitted one (bootstrap resamples).
    """
    sigma = np.asarray(sigma, dtype=float).ravel()
    acc = np.atleast_2d(np.asarray(acc, dtype=float))
    std = np.zeros_like(acc) if std is None else np.atleast_2d(np.asarray(std, dtype=float))
    n = len(acc)
    clean = np.full(n, math.nan) if clean_acc is None else np.broadcast_to(np.asarray(clean_acc, float), (n,))
    clean = np.where(np.isfinite(clean), clean, math.nan)
    if start is not None:
        start = np.broadcast_to(np.asarray(start, dtype=float), (n, 4))
    order = np.argsort(sigma)
    sigma, acc, std = sigma[order], acc[:, order], std[:, order]
    keep = sigma > 0 if log else np.ones(len(sigma), bool)
    sigma, acc, std = sigma[keep], acc[:, keep], std[:, keep]
    present = np.isfinite(acc)
    mu = np.full(n, math.nan)
    in_range = np.zeros(n, bool)
    reason: list[str | None] = [None] * n
    chi2 = np.full(n, math.nan)
    params = np.full((n, 4), math.nan)
    kinds, which = np.unique(present, axis=0, return_inverse=True)
    for kind, cols in enumerate(kinds):  # curves with the same levels are fitted together
        rows = np.nonzero(which.ravel() == kind)[0]
        if cols.sum() < MIN_FIT_LEVELS:
            for i in rows:
                reason[i] = f"{int(cols.sum())} noise levels measured; a fit needs at least {MIN_FIT_LEVELS}"
            continue
        g = _fit_group(
            sigma[cols],
            acc[np.ix_(rows, cols)],
            np.nan_to_num(std[np.ix_(rows, cols)]),
            n_test=n_test,
            min_std=min_std,
            chance=chance,
            clean=clean[rows],
            log=log,
            start=None if start is None else start[rows],
        )
        mu[rows], in_range[rows], chi2[rows], params[rows] = g.mu, g.in_range, g.chi2, g.params
        for i, r in zip(rows, g.reason, strict=True):
            reason[i] = r
    return BatchFit(mu, in_range, reason, chi2, params)


# --------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class NetworkMu:
    """μ of one network's own curve."""

    name: str
    mu: float
    in_range: bool
    reason: str | None = None


@dataclass(frozen=True)
class MuInterval:
    """A confidence interval for μ over networks, and what it rests on."""

    mu: float
    """The curve's μ (the fit of the mean curve), the interval's centre in log μ."""
    low: float
    high: float
    confidence: float
    method: str
    """``jackknife``, ``bootstrap``, ``t``, ``percentile``, or ``none`` (no interval; see ``note``)."""
    networks: int
    log_sd: float
    """Network-to-network spread of log μ (natural log): ``√n`` times the standard error."""
    df: int
    per_network: tuple[NetworkMu, ...] = ()
    note: str | None = None
    """Why there is no interval, or what it had to leave out or fall back on."""

    @property
    def ok(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def log_se(self) -> float:
        """Standard error of log μ."""
        return self.log_sd / math.sqrt(self.networks) if self.networks else math.nan

    @property
    def rel_half_width(self) -> float:
        """Half the interval's width over μ (``0.05``: ± 5 %)."""
        return (self.high - self.low) / (2 * self.mu) if self.ok and self.mu > 0 else math.nan

    @property
    def network_mus(self) -> list[float]:
        """The per-network μ in range."""
        return [n.mu for n in self.per_network if n.in_range]

    def needed(self, precision: float = PRECISION) -> int | None:
        """Networks for an interval of ± ``precision`` of μ at this spread (None: unknown)."""
        return networks_needed(self.log_sd, precision, self.confidence) if self.ok else None

    def text(self) -> str:
        """``0.31–0.56`` (or why there is none)."""
        if not self.ok:
            return f"— ({self.note})" if self.note else "—"
        return f"{self.low:.3g}–{self.high:.3g}"

    def to_dict(self) -> dict:
        return {
            "mu": self.mu,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "method": self.method,
            "networks": self.networks,
            "log_sd": self.log_sd,
            "rel_half_width": self.rel_half_width,
            "per_network": [n.__dict__ for n in self.per_network],
            "note": self.note,
        }


def _none(mu, confidence, per_network, note, n=0) -> MuInterval:
    nan = math.nan
    return MuInterval(mu, nan, nan, confidence, "none", n, nan, 0, tuple(per_network), note)


def _t(confidence: float, df: float) -> float:
    return float(stats.t.ppf((1 + confidence) / 2, df))


def _resamples(n: int, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap resamples of ``n`` networks as counts per network, and their weights."""
    if n <= EXACT_BOOTSTRAP:
        counts = np.array(
            [np.bincount(c, minlength=n) for c in itertools.combinations_with_replacement(range(n), n)], dtype=float
        )
        w = np.exp(stats.multinomial.logpmf(counts, n, np.full(n, 1 / n)))
        return counts, w / w.sum()
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1 / n), size=resamples).astype(float)
    return counts, np.full(resamples, 1 / resamples)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][min(np.searchsorted(cum, q * cum[-1]), len(values) - 1)])


def resampled_log_mu(sigma, acc, counts, *, fit_kw: dict, start=None) -> np.ndarray:
    """log μ of the mean curve of resampled networks: ``counts`` (resamples, networks)
    says how often each network is drawn. ``acc`` is one study (networks, levels) or
    several of as many networks (studies, networks, levels); the result has a row of
    resamples per study, NaN where a resample's curve has no μ in range. Each
    resample's curve is the mean over its networks with their spread (population
    standard deviation), as a study's curve is; ``start`` seeds the fits (one set of
    parameters per study: the full curve's fit)."""
    acc = np.asarray(acc, dtype=float)
    single = acc.ndim == 2
    acc = acc[None] if single else acc
    studies, _, levels = acc.shape
    present = np.isfinite(acc).astype(float)
    vals = np.nan_to_num(acc)
    k = np.einsum("rn,snl->srl", counts, present)  # networks behind each level of each resample
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.einsum("rn,snl->srl", counts, vals) / k
        var = np.einsum("rn,snl->srl", counts, vals**2) / k - mean**2
    std = np.sqrt(np.maximum(np.nan_to_num(var), 0.0))
    mean = np.where(k > 0, mean, math.nan)
    if start is not None:
        start = np.repeat(np.broadcast_to(np.asarray(start, float), (studies, 4)), len(counts), axis=0)
    fit = fit_midpoints(sigma, mean.reshape(-1, levels), std.reshape(-1, levels), start=start, **fit_kw)
    logs = np.where(fit.in_range, np.log(np.where(fit.in_range, fit.mu, 1.0)), math.nan).reshape(studies, -1)
    return logs[0] if single else logs


def mu_intervals(
    sigma,
    acc,
    *,
    mu=None,
    names: Sequence[str] | None = None,
    n_test: int | None = None,
    chance: float | None = None,
    clean_acc=None,
    log: bool = False,
    confidence: float = CONFIDENCE,
    method: str = "bootstrap",
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[MuInterval]:
    """:func:`mu_interval` for several studies of as many networks each, fitted together:
    ``acc`` is (studies, networks, levels); ``mu`` one value per study or None;
    ``clean_acc`` one per study and network, or None."""
    _fraction("confidence", confidence)
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    sigma = np.asarray(sigma, dtype=float)
    acc = np.asarray(acc, dtype=float)
    if acc.ndim != 3 or acc.shape[2] != len(sigma):
        raise InvalidParameterError(
            f"acc must be (studies, networks, levels) with {len(sigma)} levels; got shape {acc.shape}"
        )
    studies, n, levels = acc.shape
    names = list(names) if names is not None else [f"network {i + 1}" for i in range(n)]
    fit_kw = {"n_test": n_test, "chance": chance, "log": log}
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a level no network has
        mean, std = np.nanmean(acc, axis=1), np.nanstd(acc, axis=1)
    whole = fit_midpoints(sigma, mean, std, **fit_kw)
    mus = (
        np.where(whole.in_range, whole.mu, math.nan)
        if mu is None
        else np.broadcast_to(np.asarray(mu, float), (studies,))
    )
    clean = None if clean_acc is None else np.broadcast_to(np.asarray(clean_acc, float), (studies, n)).ravel()
    own = fit_midpoints(sigma, acc.reshape(-1, levels), None, clean_acc=clean, **fit_kw)
    own_mu, own_ok = own.mu.reshape(studies, n), own.in_range.reshape(studies, n)
    jack = boot = None
    if n >= 2 and method == "jackknife":
        jack = resampled_log_mu(sigma, acc, 1.0 - np.eye(n), fit_kw=fit_kw, start=whole.params)
    if n >= 2 and method in ("bootstrap", "percentile") or (jack is not None and not np.isfinite(jack).all()):
        counts, weights = _resamples(n, resamples, seed)
        boot = resampled_log_mu(sigma, acc, counts, fit_kw=fit_kw, start=whole.params)
    out = []
    for s in range(studies):
        per = tuple(
            NetworkMu(names[i], float(own_mu[s, i]), bool(own_ok[s, i]), own.reason[s * n + i]) for i in range(n)
        )
        fitted = int(own_ok[s].sum())
        missing = f"{n - fitted} of {n} networks have no μ of their own" if fitted < n else None
        m = float(mus[s])
        if not (math.isfinite(m) and m > 0):
            out.append(_none(m, confidence, per, "the curve has no μ in range", n))
        elif n < 2:
            out.append(_none(m, confidence, per, f"{n} network; an interval over networks needs at least 2", n))
        elif method == "t":
            if missing:
                out.append(_none(m, confidence, per, missing, n))
                continue
            sd = float(np.std(np.log(own_mu[s]), ddof=1))
            h = _t(confidence, n - 1) * sd / math.sqrt(n)
            out.append(MuInterval(m, m * math.exp(-h), m * math.exp(h), confidence, "t", n, sd, n - 1, per, missing))
        elif jack is not None and np.isfinite(jack[s]).all():
            se = math.sqrt((n - 1) / n * float(np.sum((jack[s] - jack[s].mean()) ** 2)))
            h = _t(confidence, n - 1) * se
            iv = MuInterval(
                m, m * math.exp(-h), m * math.exp(h), confidence, "jackknife", n, se * math.sqrt(n), n - 1, per, missing
            )
            out.append(iv)
        else:
            fallback = "a leave-one-out curve has no μ in range: bootstrap" if method == "jackknife" else None
            notes = "; ".join(t for t in (missing, fallback) if t) or None
            out.append(_from_bootstrap(m, boot[s], weights, confidence, method, n, per, notes))
    return out


def _from_bootstrap(mu, logs, w, confidence, method, n, per, note) -> MuInterval:
    ok = np.isfinite(logs)
    lost = float(w[~ok].sum())
    if lost > (1 - confidence) / 2:
        why = f"{100 * lost:.0f}% of the resampled curves have no μ in range"
        return _none(mu, confidence, per, f"{note}; {why}" if note else why, n)
    logs, w = logs[ok], w[ok] / w[ok].sum()
    if lost > 0:
        left = f"{100 * lost:.1f}% of the resampled curves have no μ in range and are left out"
        note = f"{note}; {left}" if note else left
    se = float(np.sqrt(np.sum(w * (logs - np.sum(w * logs)) ** 2))) * math.sqrt(n / (n - 1))
    if method == "percentile":
        a = (1 - confidence) / 2
        low, high = math.exp(_weighted_quantile(logs, w, a)), math.exp(_weighted_quantile(logs, w, 1 - a))
    else:
        h = _t(confidence, n - 1) * se
        low, high = mu * math.exp(-h), mu * math.exp(h)
    name = "percentile" if method == "percentile" else "bootstrap"
    return MuInterval(mu, low, high, confidence, name, n, se * math.sqrt(n), n - 1, per, note)


def mu_interval(
    sigma,
    acc,
    *,
    mu: float | None = None,
    names: Sequence[str] | None = None,
    n_test: int | None = None,
    chance: float | None = None,
    clean_acc=None,
    log: bool = False,
    confidence: float = CONFIDENCE,
    method: str = "bootstrap",
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> MuInterval:
    """A ``confidence`` interval for μ over the networks whose curves are the rows of ``acc``.

    Args:
        sigma: the levels (columns of ``acc``).
        acc: each network's accuracy per level (NaN where a network lacks a level).
        mu: the curve's μ, the interval's centre (default: the fit of the mean curve).
        names: the networks' names (for the per-network μ).
        n_test, chance, log: as for :func:`noisewalk.measure.fit.fit_midpoint`.
        clean_acc: each network's noise-free accuracy (or one value for all, or None).
        method: how the standard error of log μ is found, the interval being
            ``μ · exp(± t(n−1) · se)``: ``bootstrap`` (the default: resample the
            networks with replacement, refit the mean curve), ``jackknife`` (leave each
            network out, refit; the bootstrap where a leave-one-out curve has no μ),
            ``t`` (the per-network log μ; needs a μ for every network). ``percentile``
            is the plain bootstrap percentile interval, too narrow with few networks
            (kept to show that).
        resamples, seed: bootstrap resamples drawn above :data:`EXACT_BOOTSTRAP` networks.
    """
    acc = np.atleast_2d(np.asarray(acc, dtype=float))
    clean = None if clean_acc is None else np.broadcast_to(np.asarray(clean_acc, float), (len(acc),))[None]
    return mu_intervals(
        sigma,
        acc[None],
        mu=mu,
        names=names,
        n_test=n_test,
        chance=chance,
        clean_acc=clean,
        log=log,
        confidence=confidence,
        method=method,
        resamples=resamples,
        seed=seed,
    )[0]


def networks_needed(log_sd: float, precision: float = PRECISION, confidence: float = CONFIDENCE) -> int | None:
    """Fewest networks whose ``confidence`` interval for μ is at most ± ``precision`` of μ,
    for a network-to-network spread ``log_sd`` of log μ: the smallest n ≥ 2 with
    ``sinh(t(n−1) · log_sd / √n) <= precision`` (the interval's half-width over μ). None
    when the spread is unknown; :data:`MAX_NETWORKS` + 1 when more than that would do."""
    _fraction("precision", precision)
    _fraction("confidence", confidence)
    if not (math.isfinite(log_sd) and log_sd >= 0):
        return None
    target = math.asinh(precision)

    def enough(n: int) -> bool:
        return _t(confidence, n - 1) * log_sd / math.sqrt(n) <= target

    if enough(2):
        return 2
    if not enough(MAX_NETWORKS):
        return MAX_NETWORKS + 1
    lo, hi = 2, MAX_NETWORKS  # not enough(lo), enough(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


def needed_text(n: int | None) -> str:
    if n is None:
        return "—"
    return f"more than {MAX_NETWORKS}" if n > MAX_NETWORKS else str(n)


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
    _fraction("level", level)
    nan = math.nan
    if not (a.ok and b.ok):
        return Comparison(a.mu, b.mu, nan, nan, nan, nan, level, note="no interval over networks on both sides")
    d = math.log(b.mu) - math.log(a.mu)
    va, vb = a.log_se**2, b.log_se**2
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / a.df + vb**2 / b.df) if va + vb > 0 else float(a.df + b.df)
    h = _t(1 - level, df) * se
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
        return _none(fit.mu, confidence, (), "two-step curve: intervals are for single-step fits")
    if log is None:
        single = getattr(fit, "single", fit)
        log = bool(getattr(single, "log", False))
    names, acc, clean = repetition_matrix(curve)
    mu = None
    if fit is not None:
        mu = fit.mu if fit.in_range and math.isfinite(fit.mu) else math.nan
    if not names:
        return _none(math.nan if mu is None else mu, confidence, (), "no repetitions recorded")
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

"""Intervals for μ over networks: each network's μ, resampled fits, and how many networks a
target precision needs (see ``noisewalk.analysis.uncertainty``)."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from noisewalk.analysis.batchfit import fit_midpoints
from noisewalk.errors import InvalidParameterError

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


def fraction(name: str, value: float) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
    if not ok:
        raise InvalidParameterError(f"{name} must be a number in (0, 1); got {value!r}")
    return float(value)


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


def none(mu, confidence, per_network, note, n=0) -> MuInterval:
    nan = math.nan
    return MuInterval(mu, nan, nan, confidence, "none", n, nan, 0, tuple(per_network), note)


def t(confidence: float, df: float) -> float:
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
    fraction("confidence", confidence)
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
            out.append(none(m, confidence, per, "the curve has no μ in range", n))
        elif n < 2:
            out.append(none(m, confidence, per, f"{n} network; an interval over networks needs at least 2", n))
        elif method == "t":
            if missing:
                out.append(none(m, confidence, per, missing, n))
                continue
            sd = float(np.std(np.log(own_mu[s]), ddof=1))
            h = t(confidence, n - 1) * sd / math.sqrt(n)
            out.append(MuInterval(m, m * math.exp(-h), m * math.exp(h), confidence, "t", n, sd, n - 1, per, missing))
        elif jack is not None and np.isfinite(jack[s]).all():
            se = math.sqrt((n - 1) / n * float(np.sum((jack[s] - jack[s].mean()) ** 2)))
            h = t(confidence, n - 1) * se
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
        return none(mu, confidence, per, f"{note}; {why}" if note else why, n)
    logs, w = logs[ok], w[ok] / w[ok].sum()
    if lost > 0:
        left = f"{100 * lost:.1f}% of the resampled curves have no μ in range and are left out"
        note = f"{note}; {left}" if note else left
    se = float(np.sqrt(np.sum(w * (logs - np.sum(w * logs)) ** 2))) * math.sqrt(n / (n - 1))
    if method == "percentile":
        a = (1 - confidence) / 2
        low, high = math.exp(_weighted_quantile(logs, w, a)), math.exp(_weighted_quantile(logs, w, 1 - a))
    else:
        h = t(confidence, n - 1) * se
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
    fraction("precision", precision)
    fraction("confidence", confidence)
    if not (math.isfinite(log_sd) and log_sd >= 0):
        return None
    target = math.asinh(precision)

    def enough(n: int) -> bool:
        return t(confidence, n - 1) * log_sd / math.sqrt(n) <= target

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

"""Many logistic fits at once: the midpoint of every resampled set of networks, vectorized
(Levenberg-Marquardt over a batch of curves)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from noisewalk.measure.fit import DEFAULT_MIN_STD, MIN_FIT_LEVELS

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

import math

import numpy as np
import pytest

from noisewalk import fit_midpoint, fit_stacked, preserved_relative_accuracy
from noisewalk.errors import InvalidParameterError
from noisewalk.measure.fit import logistic, stacked_logistic


def _synthetic(mu, width, *, lo=0.1, hi=0.95, spread=0.01, seed=0, sigma=None, log=False):
    rng = np.random.default_rng(seed)
    sigma = np.logspace(-2, 2, 17) if sigma is None else np.asarray(sigma)
    x = np.log10(sigma) if log else sigma
    true = logistic(x, lo, hi, np.log10(mu) if log else mu, width)
    std = np.full_like(true, spread)
    return sigma, np.clip(true + rng.normal(0, spread, size=true.shape), 0, 1), std


@pytest.mark.parametrize("mu", [0.05, 0.3, 2.0, 20.0])
def test_recovers_known_mu_within_reported_uncertainty(mu):
    sigma, acc, std = _synthetic(mu, mu / 5)
    fit = fit_midpoint(sigma, acc, std, chance=0.1)
    assert fit.in_range and fit.reason is None
    assert abs(fit.mu - mu) <= 3 * fit.mu_err
    assert 0 < fit.mu_err < mu  # a real, finite uncertainty


def test_uncertainty_has_honest_coverage():
    # over many noisy realisations the 1-sigma interval must cover the truth about 68 % of the time
    mu, hits, n = 1.0, 0, 200
    sigma = np.logspace(-1, 1, 25)
    for seed in range(n):
        s, acc, std = _synthetic(mu, 0.3, spread=0.02, seed=seed, sigma=sigma)
        fit = fit_midpoint(s, acc, std, chance=0.1)
        hits += abs(fit.mu - mu) <= fit.mu_err
    assert 0.55 <= hits / n <= 0.80


def test_log_fit_recovers_mu_over_decades():
    sigma, acc, std = _synthetic(3.0, 0.3, log=True, sigma=np.logspace(-2, 4, 19))
    fit = fit_midpoint(sigma, acc, std, log=True, chance=0.1)
    assert fit.in_range and fit.log
    assert abs(fit.mu - 3.0) <= 3 * fit.mu_err
    assert fit.predict([fit.mu])[0] == pytest.approx((fit.a_min + fit.a_max) / 2, abs=1e-9)


def test_zero_spread_gets_a_floor():
    sigma = np.logspace(-2, 2, 17)
    acc = logistic(sigma, 0.1, 0.95, 0.5, 0.1)
    fit = fit_midpoint(sigma, acc, np.zeros_like(acc), n_test=1000)
    assert fit.in_range and math.isfinite(fit.mu_err) and fit.mu_err > 0
    assert fit.mu == pytest.approx(0.5, rel=0.02)
    unknown_n = fit_midpoint(sigma, acc, None)
    assert math.isfinite(unknown_n.mu_err) and unknown_n.mu_err > 0


def test_curve_that_never_falls_has_no_midpoint():
    sigma = np.logspace(-2, 2, 13)
    acc = np.full(13, 0.93)
    fit = fit_midpoint(sigma, acc, np.full(13, 0.01), chance=0.1)
    assert not fit.in_range and math.isnan(fit.mu)
    assert "never falls" in fit.reason
    assert "no midpoint" in str(fit)
    # without the chance level a flat curve is reported too
    flat = fit_midpoint(sigma, acc, np.full(13, 0.01))
    assert not flat.in_range and "does not fall" in flat.reason


def test_curve_that_falls_only_partly_has_no_midpoint():
    sigma = np.logspace(-2, 2, 13)
    acc = np.linspace(0.95, 0.7, 13)
    fit = fit_midpoint(sigma, acc, np.full(13, 0.01), chance=0.1)
    assert not fit.in_range and "half-way" in fit.reason


def test_curve_already_fallen_at_first_sigma():
    sigma = np.logspace(-2, 2, 13)
    acc = np.full(13, 0.1) + np.random.default_rng(0).normal(0, 0.003, 13)
    fit = fit_midpoint(sigma, acc, np.full(13, 0.01), chance=0.1)
    assert not fit.in_range and "already at chance" in fit.reason


def test_curve_below_half_at_first_sigma():
    sigma = np.logspace(-2, 2, 13)
    acc = logistic(sigma, 0.1, 0.95, 0.003, 0.001)  # fell long before sigma = 0.01
    acc[0] = 0.3
    fit = fit_midpoint(sigma, acc, np.full(13, 0.01), chance=0.1, clean_acc=0.95)
    assert not fit.in_range and "already below half-way" in fit.reason


def test_midpoint_outside_range_is_flagged():
    sigma = np.linspace(0.0, 1.0, 11)
    acc = logistic(sigma, 0.1, 0.9, 0.9, 0.2)  # midpoint near the end: fit may land past it
    acc[-1] = 0.45
    fit = fit_midpoint(sigma, acc, np.full(11, 0.01), chance=0.1)
    assert fit.in_range == (0.0 <= fit.mu <= 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigma": [1, 2, 3], "acc_mean": [0.9, 0.5, 0.1]}, "at least 5"),
        ({"sigma": [0, 1, 2, 3, 4], "acc_mean": [0.9, 0.5, 0.1, 0.1]}, "same length"),
        ({"sigma": [-1, 1, 2, 3, 4], "acc_mean": [0.9] * 5}, ">= 0"),
        ({"sigma": [0, 1, 2, 3, float("nan")], "acc_mean": [0.9] * 5}, "finite"),
        ({"sigma": [0, 1, 2, 3, 4], "acc_mean": [90, 80, 50, 20, 10]}, r"fractions in \[0, 1\]"),
        ({"sigma": [0, 1, 2, 3, 4], "acc_mean": [0.9] * 5, "log": True}, "> 0 for a fit in log"),
        ({"sigma": [1, 2, 3, 4, 5], "acc_mean": [0.9] * 5, "n_test": 0}, "n_test"),
    ],
)
def test_bad_inputs(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        fit_midpoint(**kwargs)


def test_stacked_fit_finds_both_steps():
    sigma = np.logspace(-2, 4, 25)
    x = np.log10(sigma)
    true = stacked_logistic(x, 0.1, 0.4, np.log10(0.1), 0.15, 0.45, np.log10(100.0), 0.15)
    rng = np.random.default_rng(3)
    acc = true + rng.normal(0, 0.005, true.shape)
    fit = fit_stacked(sigma, acc, np.full_like(acc, 0.005), chance=0.1)
    assert fit.in_range
    assert abs(fit.mu1 - 0.1) <= 3 * fit.mu1_err
    assert abs(fit.mu2 - 100.0) <= 3 * fit.mu2_err
    assert fit.plateau == pytest.approx(0.55, abs=0.03)
    single = fit_midpoint(sigma, acc, np.full_like(acc, 0.005), chance=0.1, log=True)
    assert fit.chi2 < single.chi2 / 5  # two steps describe it far better than one


def test_preserved_relative_accuracy():
    assert preserved_relative_accuracy([0, 1, 1e10], [0.9, 0.8, 0.45]) == pytest.approx(0.5)
    assert preserved_relative_accuracy([1e10, 1], [0.3, 0.6], clean_acc=0.9) == pytest.approx(1 / 3)
    with pytest.raises(InvalidParameterError):
        preserved_relative_accuracy([1, 2], [0.0, 0.0])


def test_str_and_dict():
    sigma, acc, std = _synthetic(0.3, 0.06)
    fit = fit_midpoint(sigma, acc, std, chance=0.1)
    assert str(fit).startswith(f"{fit.mu:.4g} (±")
    d = fit.to_dict()
    assert d["mu"] == fit.mu and d["in_range"] is True and len(d["params"]) == 4

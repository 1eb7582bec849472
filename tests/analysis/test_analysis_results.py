"""Analyses over results: curves per configuration, μ, two-step fits, per-site μ, Pareto, mismatch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit
from synthetic import LEVELS, accuracy, networks

from noisewalk.analysis import (
    build_curves,
    configurations,
    fit_curve,
    fit_curves,
    mismatch_matrix,
    pareto_front,
    preserved_accuracy,
    site_midpoints,
)
from noisewalk.analysis.curves import Curve
from noisewalk.errors import InvalidParameterError
from noisewalk.results import Evaluation


def test_configurations_group_repetitions_and_label_by_what_differs(synthetic_study):
    confs = configurations(synthetic_study.networks)
    assert [c.label for c in confs] == [
        "model=mlp, train_noise=none",
        "model=mlp, train_noise=matched",
        "model=lenet5, train_noise=none",
        "model=lenet5, train_noise=matched",
    ]
    assert [len(c.networks) for c in confs] == [3, 26, 3, 26]
    assert "seed" not in confs[0].config and confs[0].config["model"] == "mlp"


def test_curve_statistics_are_over_networks_of_their_mean_draws():
    nets = networks({"model": "mlp"}, 0.3, spread=0.05)
    (curve,) = build_curves(configurations(nets)[0])
    i = 4
    per_net = [n.evaluations[i].mean for n in nets]
    assert curve.sigma[i] == pytest.approx(LEVELS[i])
    assert curve.mean[i] == pytest.approx(np.mean(per_net))
    assert curve.std[i] == pytest.approx(np.std(per_net))
    assert curve.networks == 3 and curve.clean_acc == pytest.approx(0.95) and curve.chance == pytest.approx(0.1)


def test_matched_networks_count_only_at_their_own_level_and_give_the_mismatch_matrix():
    nets = networks({"model": "mlp"}, 3.0, matched=True, seeds=(0, 1), off_diagonal=True, spread=0.0)
    conf = configurations(nets)[0]
    (curve,) = build_curves(conf)
    assert curve.trained_with_noise and curve.clean_acc is None
    np.testing.assert_allclose(curve.mean, accuracy(np.array(LEVELS), 3.0), atol=1e-9)
    m = mismatch_matrix(conf)
    assert m is not None and m.sigma_train == m.sigma_inf == pytest.approx(LEVELS)
    acc = np.array(m.acc)
    np.testing.assert_allclose(np.diag(acc), accuracy(np.array(LEVELS), 3.0), atol=1e-9)
    assert acc[0, 5] == pytest.approx(accuracy(LEVELS[5], 3.0) - 0.05)
    # without off-diagonal evaluations there is no matrix
    assert mismatch_matrix(configurations(networks({"model": "mlp"}, 3.0, matched=True))[0]) is None


def test_unfinished_networks_and_evaluations_are_left_out():
    nets = networks({"model": "mlp"}, 0.3, seeds=(0, 1)) + networks({"model": "mlp"}, 0.3, seeds=(2,), status="running")
    nets[0].evaluations[3] = Evaluation(LEVELS[3], [], status="failed", error="boom")
    (curve,) = build_curves(configurations(nets)[0])
    assert curve.networks == 2
    assert [len(a) for a in curve.acc][3] == 1


def test_fit_recovers_mu_of_one_step():
    nets = networks({"model": "mlp"}, 0.3, spread=0.01)
    (curve,) = build_curves(configurations(nets)[0])
    fit = fit_curve(curve, log=True)
    assert not fit.use_stacked and fit.in_range and fit.stacked is None
    assert fit.mu == pytest.approx(0.3, rel=0.1)
    assert fit.mu_err < 0.1 * fit.mu


def _curve(sigma, mean, std=0.01):
    sigma = np.asarray(sigma, dtype=float)
    mean = np.asarray(mean, dtype=float)
    return Curve("c", {}, "all", sigma, mean, np.full_like(mean, std), [[m] for m in mean], n_test=1000, num_classes=10)


def test_two_step_curve_gets_the_stacked_fit_with_both_midpoints():
    sigma = np.logspace(-3, 5, 25)
    x = np.log10(sigma)
    mean = 0.1 + 0.4 * expit(-(x - np.log10(0.05)) / 0.15) + 0.45 * expit(-(x - np.log10(200.0)) / 0.15)
    fit = fit_curve(_curve(sigma, mean))
    assert fit.use_stacked and fit.p_value < 1e-6
    assert fit.stacked.mu1 == pytest.approx(0.05, rel=0.1) and fit.stacked.mu2 == pytest.approx(200, rel=0.1)
    # the plateau (0.55) lies above half-way (0.525): the second step crosses half-way, mu is its midpoint
    assert fit.stacked.plateau == pytest.approx(0.55, abs=0.01)
    assert fit.mu == pytest.approx(fit.stacked.mu2)
    assert "two steps" in fit.describe()
    assert not fit_curve(_curve(sigma, mean), stacked=False).use_stacked
    np.testing.assert_allclose(fit.predict(sigma), mean, atol=0.02)


def test_one_step_curve_keeps_the_single_fit_even_with_many_levels():
    sigma = np.logspace(-3, 3, 25)
    mean = 0.1 + 0.85 * expit(-(np.log10(sigma) - np.log10(0.7)) / 0.2)
    rng = np.random.default_rng(1)
    fit = fit_curve(_curve(sigma, np.clip(mean + 0.01 * rng.standard_normal(25), 0, 1)), log=True)
    assert not fit.use_stacked and fit.stacked is None  # one step fits: two are not tried
    assert fit.mu == pytest.approx(0.7, rel=0.1)
    forced = fit_curve(_curve(sigma, np.clip(mean + 0.01 * rng.standard_normal(25), 0, 1)), log=True, stacked=True)
    assert forced.stacked is not None and not forced.use_stacked  # tried, but its two steps are not real


def test_too_few_levels_say_so():
    fit = fit_curve(_curve([0.1, 1, 10], [0.9, 0.5, 0.1]))
    assert math.isnan(fit.mu) and "at least 5" in fit.reason
    with pytest.raises(InvalidParameterError, match="alpha"):
        fit_curve(_curve([0.1, 1, 10], [0.9, 0.5, 0.1]), alpha=0)


def test_per_site_mu_from_walking_noise_in_site_order():
    truth = {"fc1": 0.2, "relu1": 2.0, "fc2": 0.6}
    nets = networks({"model": "mlp", "walk": True}, truth)
    fits = fit_curves([c for conf in configurations(nets) for c in build_curves(conf)], log=True)
    per_site = site_midpoints(fits, site_order=["input", "fc1", "relu1", "fc2"])
    (label,) = per_site
    assert list(per_site[label]) == ["fc1", "relu1", "fc2"]
    for site, mu in truth.items():
        assert per_site[label][site].mu == pytest.approx(mu, rel=0.1)


def test_preserved_relative_accuracy_uses_clean_accuracy_where_known():
    nets = networks({"model": "mlp"}, 1e6, spread=0.0)  # never falls over the grid
    (curve,) = build_curves(configurations(nets)[0])
    assert preserved_accuracy(curve) == pytest.approx(curve.mean[-1] / 0.95)
    curve.clean_acc = None
    assert preserved_accuracy(curve) == pytest.approx(curve.mean[-1] / curve.mean[0])


def test_pareto_front():
    points = [(0.9, 1.0), (0.8, 3.0), (0.85, 2.0), (0.7, 2.5), (0.9, 0.5), (math.nan, 9.0), (0.6, 3.0)]
    assert pareto_front(points) == [0, 2, 1]
    assert pareto_front([]) == []
    assert pareto_front([(0.5, 1.0), (0.5, 1.0)]) == [0, 1]

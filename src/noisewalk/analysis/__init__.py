"""Analyses of studies and trained models (WN, HN and VANT's figures and tables).

Over results (a :class:`noisewalk.results.Study`): curves per configuration and site
(:mod:`.curves`), μ with the two-step fit where one step does not fit and per-site μ
(:mod:`.midpoints`), the Pareto front of peak accuracy against μ (:mod:`.pareto`),
tables in the papers' layouts (:mod:`.tables`), μ's uncertainty over networks: per-network
μ, intervals, comparisons, networks needed (:mod:`.uncertainty`). Over trained models:
mean |w| per layer (:mod:`.weights`), activation histograms per site
(:mod:`.activations`), the self-binarization test (:mod:`.binarize`).
"""

from __future__ import annotations

from noisewalk.analysis.activations import ActivationHistogram, activation_histograms, site_hooks
from noisewalk.analysis.binarize import BinarizationResult, level_centers, self_binarization_test, to_levels
from noisewalk.analysis.curves import Configuration, Curve, build_curves, configurations, mismatch_matrix
from noisewalk.analysis.midpoints import CurveFit, fit_curve, fit_curves, preserved_accuracy, site_midpoints
from noisewalk.analysis.pareto import pareto_front
from noisewalk.analysis.tables import (
    Table,
    comparison_table,
    mu_by_noise_table,
    noisy_training_table,
    qat_table,
    site_table,
    summary_table,
)
from noisewalk.analysis.uncertainty import (
    Comparison,
    MuInterval,
    NetworkMu,
    compare,
    curve_interval,
    mu_interval,
    networks_needed,
)
from noisewalk.analysis.weights import average_weights, mean_abs_weights, weight_ratio

__all__ = [
    "ActivationHistogram",
    "BinarizationResult",
    "Comparison",
    "Configuration",
    "Curve",
    "CurveFit",
    "MuInterval",
    "NetworkMu",
    "Table",
    "activation_histograms",
    "average_weights",
    "build_curves",
    "compare",
    "comparison_table",
    "configurations",
    "curve_interval",
    "fit_curve",
    "fit_curves",
    "level_centers",
    "mean_abs_weights",
    "mismatch_matrix",
    "mu_by_noise_table",
    "mu_interval",
    "networks_needed",
    "noisy_training_table",
    "pareto_front",
    "preserved_accuracy",
    "qat_table",
    "self_binarization_test",
    "site_hooks",
    "site_midpoints",
    "site_table",
    "summary_table",
    "to_levels",
    "weight_ratio",
]

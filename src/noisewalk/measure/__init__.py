"""Measuring robustness: the midpoint fit, accuracy-vs-noise curves, mismatch and fluctuating noise."""

from __future__ import annotations

from noisewalk.measure.fit import MidpointFit, StackedFit, fit_midpoint, fit_stacked, preserved_relative_accuracy

__all__ = ["MidpointFit", "StackedFit", "fit_midpoint", "fit_stacked", "preserved_relative_accuracy"]

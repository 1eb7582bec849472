"""From stored trials to accuracy-vs-noise curves and their midpoints mu.

A curve collects the trials that differ only in noise level and repetition (same
``curve_id``). At each level, the mean accuracy of every repetition (over its noise
draws) gives one value; mean and spread over the repetitions give the point, as
and :func:`noisewalk.measure.fit.fit_midpoint` gives mu.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from noisewalk.measure.fit import MIN_FIT_LEVELS, MidpointFit, fit_midpoint

Levels = dict[float, list[float]]
"""Accuracy of each finished repetition at each noise level."""


def fit_levels(
    levels: Levels, *, n_test: int | None, chance: float | None, clean_acc: float | None = None, log: bool = False
) -> MidpointFit:
    """Fit the midpoint of a curve given as accuracies per level (levels without any value are skipped).

    The one way noisewalk fits μ to a study's curve: status, summaries, exports, the
    adaptive search and the report's analyses all call it. The point at each level is the
    mean over the networks (each network's accuracy averaged over its noise draws), the
    spread their population standard deviation; ``clean_acc`` (networks trained without
    noise) anchors the curve's top."""
    sigma = sorted(s for s, accs in levels.items() if accs)
    if len(sigma) < MIN_FIT_LEVELS:
        return MidpointFit(math.nan, math.nan, False, f"a fit needs at least {MIN_FIT_LEVELS} noise levels")
    if log and sigma[0] <= 0:
        sigma = [s for s in sigma if s > 0]
    mean = [float(np.mean(levels[s])) for s in sigma]
    std = [float(np.std(levels[s])) for s in sigma]
    return fit_midpoint(sigma, mean, std, n_test=n_test, chance=chance, clean_acc=clean_acc, log=log)


@dataclass
class StudyCurve:
    """One accuracy-vs-noise curve of a study and its fit."""

    curve_id: str
    selection: str
    train_noise: str
    model: str
    dataset: str
    noise: str
    sigma: list[float]
    mean: list[float]
    std: list[float]
    repetitions: list[int]
    """Finished repetitions at each level."""
    fit: MidpointFit
    clean_accuracy: float
    """Mean accuracy without noise of the networks of this curve."""
    num_classes: int | None = None
    kind: str = "activation"
    """What the curve's level is: ``activation`` or ``weights`` noise (``noisewalk.sweep.device``)."""

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "fit"}
        d["fit"] = self.fit.to_dict()
        return d


def curve_levels(rows: Iterable[dict[str, Any]]) -> Levels:
    """Accuracies per level from finished trial rows (as :meth:`Store.rows` gives them)."""
    levels: Levels = defaultdict(list)
    for r in rows:
        if r["status"] == "done" and r["accuracy"] is not None:
            levels[float(r["sigma"])].append(float(r["accuracy"]))
    return dict(levels)


def study_curves(rows: list[dict[str, Any]], *, log: bool = False, weights_log: bool = True) -> list[StudyCurve]:
    """Every accuracy-vs-noise curve in ``rows``, in the order their first trial appears;
    weight noise curves fitted in log sigma unless ``weights_log`` is False. Accuracy over
    inference time (``kind`` drift) has no midpoint and is left out."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("kind", "activation") != "drift":
            groups[r["curve_id"]].append(r)
    curves = []
    for curve_id, members in groups.items():
        first = members[0]
        levels = curve_levels(members)
        done = [r for r in members if r["status"] == "done"]
        n_test = next((int(r["n_test"]) for r in done if r["n_test"]), None)
        classes = next((int(r["num_classes"]) for r in done if r["num_classes"]), None)
        sigma = sorted(levels)
        clean = {r["job_id"]: r["clean_accuracy"] for r in done if r["clean_accuracy"] is not None}
        clean_acc = float(np.mean(list(clean.values()))) if clean else math.nan
        kind = first.get("kind") or "activation"
        trained_clean = bool(done) and all(not r["train_sigma"] for r in done) and kind == "activation"
        curves.append(
            StudyCurve(
                curve_id=curve_id,
                selection=first["selection"],
                train_noise=first["train_noise"],
                model=first["model"],
                dataset=first["dataset"],
                noise=first["noise"],
                sigma=sigma,
                mean=[float(np.mean(levels[s])) for s in sigma],
                std=[float(np.std(levels[s])) for s in sigma],
                repetitions=[len(levels[s]) for s in sigma],
                fit=fit_levels(
                    levels,
                    n_test=n_test,
                    chance=1.0 / classes if classes else None,
                    clean_acc=clean_acc if trained_clean and clean else None,
                    log=weights_log if kind == "weights" else log,
                ),
                clean_accuracy=clean_acc,
                num_classes=classes,
                kind=kind,
            )
        )
    return curves

"""Measurements on analog layers: accuracy over inference time, weight noise curves, walking weight noise.

* :func:`accuracy_over_time`: test accuracy at inference times ``t`` after programming
  (drift), with and without global drift compensation, over several programming draws.
  Each draw programs the chip once and follows it through all times, as one chip ages.
* :func:`weight_noise_curve`: accuracy vs the level of a level-knob weight noise at the
  chosen layers (others noise-free), a fresh programming draw per repetition.
* :func:`walk_weight_noise`: that curve for every analog layer in turn, with its
  midpoint ``mu`` (``noisewalk.measure.fit_midpoint``): walking noise for weights.

Activation noise stays at the level ``sigma`` given (0 by default) at every activation
site of a model from ``noisewalk.inject``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from noisewalk.data import TensorData
from noisewalk.device.analog import AnalogLayers
from noisewalk.errors import InvalidParameterError
from noisewalk.measure.fit import MIN_FIT_LEVELS, MidpointFit, fit_midpoint
from noisewalk.sites import SiteSelector
from noisewalk.train.loop import EvalCurve, evaluate, resolve_device
from noisewalk.validate import check_positive_int, check_range, check_sigma

YEAR = 365.25 * 86400.0
TIMES: dict[str, float] = {
    "1 s": 1.0,
    "1 h": 3600.0,
    "1 day": 86400.0,
    "1 month": YEAR / 12,
    "1 year": YEAR,
    "10 years": 10 * YEAR,
}
"""The inference times of SPEC §10, by label (seconds since programming)."""


def time_label(t: float) -> str:
    """A readable label for ``t`` seconds (the nearest of :data:`TIMES` when within 1 %)."""
    for label, value in TIMES.items():
        if abs(t - value) <= 0.01 * value:
            return label
    for unit, size in (("years", YEAR), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if t >= size:
            return f"{t / size:.3g} {unit}"
    return f"{t:.3g} s"


@dataclass
class DriftCurve:
    """Accuracy at inference times ``times`` for each compensation setting."""

    times: list[float]
    """Seconds since programming."""
    compensation: list[bool]
    acc: list[list[list[float]]]
    """Accuracy per compensation setting, time and programming draw."""
    n_test: int
    clean_accuracy: float
    """Accuracy of the digital model (no weight noise, no drift, converters kept)."""
    labels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = [time_label(t) for t in self.times]

    def mean(self, compensated: bool) -> list[float]:
        return np.mean(self._rows(compensated), axis=1).tolist()

    def std(self, compensated: bool) -> list[float]:
        return np.std(self._rows(compensated), axis=1).tolist()

    def _rows(self, compensated: bool) -> np.ndarray:
        if compensated not in self.compensation:
            raise InvalidParameterError(
                f"compensated={compensated!r} was not measured; "
                f"this curve has compensation settings {self.compensation}"
            )
        return np.asarray(self.acc[self.compensation.index(compensated)])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _accuracy(model: nn.Module, data: TensorData, sigma: float, device: torch.device) -> float:
    return evaluate(model, data, [sigma], device=device).mean[0]


def accuracy_over_time(
    model: nn.Module,
    data: TensorData,
    times: Sequence[float] = tuple(TIMES.values()),
    *,
    draws: int = 5,
    compensation: Sequence[bool] = (False, True),
    sigma: float = 0.0,
    seed: int = 0,
    device: str | torch.device = "auto",
) -> DriftCurve:
    """Test accuracy of ``model`` (with drifting analog layers) at each inference time.

    Args:
        model: a model from ``to_analog`` with PCM weights.
        data: the test split.
        times: seconds since programming.
        draws: programming draws (independent chips), each followed through all times.
        compensation: the compensation settings measured at every time.
        sigma: activation noise level at every activation site (models from ``inject``).
        seed: seeds the programming draws (``seed``, ``seed + 1``, ...) and, through torch's
            global generator, the read and activation noise of each.
    The model's time, compensation and programming are restored to a fresh state afterwards:
    its next forward pass in evaluation draws a new programming.
    """
    layers = AnalogLayers(model)
    times = [check_range("times", t, low=0.0) for t in times]
    if not times:
        raise InvalidParameterError("times must hold at least one inference time")
    check_positive_int("draws", draws)
    compensation = [bool(c) for c in compensation]
    if not compensation:
        raise InvalidParameterError("compensation must hold at least one setting (False, True)")
    sigma = float(check_sigma("sigma", sigma))
    dev = resolve_device(device)
    model.to(dev)
    saved_time, saved_comp = layers.time, [t.compensation for t in layers.tiles]
    acc = np.zeros((len(compensation), len(times), draws))
    try:
        layers.set_noise_mode(in_eval=False)
        clean = _accuracy(model, data, sigma, dev)
        layers.set_noise_mode(in_eval=True)
        for d in range(draws):
            torch.manual_seed(seed + d)  # read noise and activation noise
            layers.program(seed + d)
            for j, t in enumerate(times):
                layers.set_time(t)
                for c, comp in enumerate(compensation):
                    layers.set_compensation(comp)
                    acc[c, j, d] = _accuracy(model, data, sigma, dev)
    finally:
        layers.set_noise_mode(in_eval=True)
        layers.set_time(saved_time)
        for tile, comp in zip(layers.tiles, saved_comp, strict=True):
            tile.compensation = comp
            if tile.weights is not None:
                tile.weights.forget()
    return DriftCurve(
        times=[float(t) for t in times],
        compensation=compensation,
        acc=acc.tolist(),
        n_test=len(data),
        clean_accuracy=clean,
    )


def weight_noise_curve(
    model: nn.Module,
    data: TensorData,
    sigmas: Sequence[float],
    *,
    layers: SiteSelector = None,
    draws: int = 3,
    sigma: float = 0.0,
    seed: int = 0,
    device: str | torch.device = "auto",
) -> EvalCurve:
    """Accuracy at each weight noise level in ``sigmas`` at the chosen analog layers (all by
    default; the others noise-free), ``draws`` programming draws each. The levels are
    restored afterwards."""
    analog = AnalogLayers(model)
    sigmas = [float(check_sigma("sigmas", s)) for s in sigmas]
    if not sigmas:
        raise InvalidParameterError("sigmas must hold at least one weight noise level")
    check_positive_int("draws", draws)
    act_sigma = float(check_sigma("sigma", sigma))
    dev = resolve_device(device)
    model.to(dev)
    chosen = analog.select(layers)
    saved = analog.sigmas
    acc = np.zeros((len(sigmas), draws))
    try:
        for k, level in enumerate(sigmas):
            analog.set_sigma(level, chosen, others=0.0)
            for d in range(draws):
                torch.manual_seed(seed + d)  # read noise and activation noise
                analog.program(seed + d)
                acc[k, d] = _accuracy(model, data, act_sigma, dev)
    finally:
        for name, level in saved.items():
            if level is not None:
                analog.set_sigma(level, name)
    return EvalCurve(
        sigma=sigmas,
        mean=acc.mean(1).tolist(),
        std=(acc.std(1) if draws > 1 else np.zeros(len(sigmas))).tolist(),
        acc=acc.tolist(),
        n_test=len(data),
    )


@dataclass
class LayerWalk:
    """Walking weight noise at one layer: its accuracy curve and midpoint."""

    index: int
    name: str
    curve: EvalCurve
    fit: MidpointFit

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "curve": self.curve.to_dict(), "fit": self.fit.to_dict()}


def walk_weight_noise(
    model: nn.Module,
    data: TensorData,
    sigmas: Sequence[float],
    *,
    layers: SiteSelector = None,
    draws: int = 3,
    sigma: float = 0.0,
    seed: int = 0,
    log: bool = False,
    device: str | torch.device = "auto",
) -> list[LayerWalk]:
    """Walking weight noise: :func:`weight_noise_curve` at each chosen layer alone (all
    analog layers by default), and the midpoint ``mu`` of each curve (``log`` fits in
    log sigma). The clean accuracy (no weight noise) anchors every fit."""
    analog = AnalogLayers(model)
    dev = resolve_device(device)
    model.to(dev)
    saved = analog.sigmas
    analog.set_sigma(0.0)
    clean = _accuracy(model, data, float(check_sigma("sigma", sigma)), dev)
    for name, level in saved.items():
        analog.set_sigma(level, name)
    num_classes = int(data.num_classes)
    walks = []
    for i in analog.select(layers):
        curve = weight_noise_curve(model, data, sigmas, layers=i, draws=draws, sigma=sigma, seed=seed, device=dev)
        if len(curve.sigma) >= MIN_FIT_LEVELS:
            chance = 1.0 / num_classes
            fit = fit_midpoint(
                curve.sigma, curve.mean, curve.std, n_test=curve.n_test, chance=chance, clean_acc=clean, log=log
            )
        else:
            fit = MidpointFit(math.nan, math.nan, False, f"a fit needs at least {MIN_FIT_LEVELS} levels")
        walks.append(LayerWalk(i, analog.sites[i].name, curve, fit))
    return walks

"""An accuracy-vs-noise curve and its midpoint: the unit of a robustness measurement.

``run_curve`` trains ``repeats`` independent networks (seeds ``seed``, ``seed + 1``,
...) and measures accuracy at every noise level of the grid:

* ``train_noise="none"``: each network is trained without noise once and evaluated at
  every level;
* ``train_noise="matched"``: for every level, networks are trained at that level and
  evaluated at it (sigma_train = sigma_inf);
* ``train_noise="vant"`` / ``"vant-epoch"``: as matched, but trained with variance-aware
  noisy training around that level (per image / per epoch; ``noisewalk.train.vant``).

``quant_bits`` makes every network a Brevitas fake-quantized one (``noisewalk.models.quant``),
trained with quantization (QAT) and, where asked, with noise.

Mean and spread over the repetitions give the curve; ``fit_midpoint`` gives mu.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from noisewalk.data import DataSplits, create_dataset
from noisewalk.errors import InvalidParameterError
from noisewalk.measure.fit import MIN_FIT_LEVELS, MidpointFit, fit_midpoint
from noisewalk.models.build import noisy_network
from noisewalk.models.quant import check_quant_args
from noisewalk.sites import NoisyModel
from noisewalk.train.loop import TrainConfig, evaluate, resolve_device, seed_everything, train
from noisewalk.train.vant import VANT_ALPHA
from noisewalk.validate import check_choice, check_positive_int, check_sigma

TRAIN_NOISES = ("none", "matched", "vant", "vant-epoch")
"""How the networks of a curve are trained: clean, at the evaluated level, or with VANT around it."""

Progress = Callable[[int, int, str], None]
"""Called as ``progress(done, total, what)`` after each trained network."""


@dataclass
class CurveSpec:
    """One accuracy-vs-noise measurement."""

    model: str = "mlp"
    dataset: str = "digits"
    noise: str = "additive"
    sigmas: list[float] = field(default_factory=lambda: list(np.logspace(-2, 2, 13)))
    """Inference noise levels (the grid)."""
    train_noise: Literal["none", "matched", "vant", "vant-epoch"] = "none"
    repeats: int = 3
    """Independently trained networks per point."""
    eval_repeats: int = 2
    """Fresh noise draws per evaluation, averaged within one network."""
    sites: Any = None
    """Sites carrying the noise (None: all), as in ``NoisyModel.select``."""
    batchnorm: bool = False
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 128
    warmup_epochs: int = 0
    clamp_weights: bool = False
    class_weighted: bool = False
    """Weight each class's loss by its inverse frequency (keyword spotting)."""
    seed: int = 0
    data_root: str | None = None
    vant_alpha: float = VANT_ALPHA
    """VANT: the share of the training level every image gets."""
    vant_theta: float | None = None
    """VANT: the scale of the random part (None: the authors' value for each level)."""
    quant_bits: int | None = None
    """Bit width of weights and activations for quantization-aware training (None: float)."""
    act_scaling: Literal["dynamic", "constant"] = "dynamic"
    """Activation scaling of the quantized model."""
    scale: float | None = None
    """The fixed activation step s of constant scaling."""

    def __post_init__(self) -> None:
        check_choice("train_noise", self.train_noise, TRAIN_NOISES)
        if self.quant_bits is not None:
            check_quant_args(self.quant_bits, self.act_scaling, self.scale)
        elif self.scale is not None or self.act_scaling != "dynamic":
            raise InvalidParameterError("act_scaling and scale apply to quantized models; set quant_bits too")
        check_positive_int("repeats", self.repeats)
        check_positive_int("eval_repeats", self.eval_repeats)
        self.sigmas = sorted(float(check_sigma("sigmas", s)) for s in self.sigmas)
        if not self.sigmas:
            raise InvalidParameterError("sigmas must hold at least one noise level")

    def train_config(self, sigma: float, seed: int) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            sigma=sigma,
            sites=self.sites,
            warmup_epochs=self.warmup_epochs,
            clamp_weights=self.clamp_weights,
            seed=seed,
            class_weighted=self.class_weighted,
            noise_mode=self.train_noise if self.train_noise.startswith("vant") else "fixed",
            vant_alpha=self.vant_alpha,
            vant_theta=self.vant_theta,
        )

    def make_model(self, data: DataSplits, seed: int) -> NoisyModel:
        """A freshly initialized network (seeded), quantized if asked, with noise sites."""
        seed_everything(seed)
        return noisy_network(self.model, data, batchnorm=self.batchnorm, noise=self.noise, quant=self.quant)

    @property
    def quant(self) -> dict[str, Any] | None:
        """The quantization settings (``QUANT_KEYS``), or None for a float model."""
        if self.quant_bits is None:
            return None
        return {"quant_bits": self.quant_bits, "act_scaling": self.act_scaling, "scale": self.scale}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CurveResult:
    sigma: list[float]
    mean: list[float]
    std: list[float]
    acc: list[list[float]]
    """Accuracy per level (rows) and repetition (columns)."""
    fit: MidpointFit
    clean_accuracy: float
    """Mean accuracy of the repetitions at no inference noise, at the end of training."""
    n_test: int
    trainings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fit"] = self.fit.to_dict()
        return d


def run_curve(
    spec: CurveSpec,
    *,
    data: DataSplits | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> CurveResult:
    """Train and evaluate as ``spec`` says; return the curve and its midpoint fit."""
    dev = resolve_device(device)
    data = data or create_dataset(spec.dataset, root=spec.data_root)
    grid = spec.sigmas
    acc = np.zeros((len(grid), spec.repeats))
    clean: list[float] = []
    trainings: list[dict[str, Any]] = []
    total = spec.repeats * (1 if spec.train_noise == "none" else len(grid))
    done = 0

    for r in range(spec.repeats):
        seed = spec.seed + r
        train_levels = [0.0] if spec.train_noise == "none" else grid
        for level in train_levels:
            model = spec.make_model(data, seed)
            result = train(model, data, spec.train_config(level, seed), device=dev)
            eval_levels = grid if spec.train_noise == "none" else [level]
            curve = evaluate(
                model,
                data.test,
                [0.0, *eval_levels],
                repeats=spec.eval_repeats,
                sites=spec.sites,
                device=dev,
                seed=seed,
            )
            clean.append(curve.mean[0])
            for s, m in zip(eval_levels, curve.mean[1:], strict=True):
                acc[grid.index(s), r] = m
            trainings.append(
                {
                    "seed": seed,
                    "train_sigma": level,
                    "accuracy": result.accuracy,
                    "nonfinite_steps": result.nonfinite_steps,
                    "seconds": result.seconds,
                    "history": result.history,
                }
            )
            done += 1
            if progress is not None:
                progress(done, total, f"seed {seed}, train sigma {level:.3g}")
    mean, std = acc.mean(1), acc.std(1)
    n_test = len(data.test)
    if len(grid) >= MIN_FIT_LEVELS:
        clean_acc = float(np.mean(clean)) if spec.train_noise == "none" else None
        fit = fit_midpoint(grid, mean, std, n_test=n_test, chance=1.0 / data.num_classes, clean_acc=clean_acc)
    else:
        fit = MidpointFit(math.nan, math.nan, False, f"a fit needs at least {MIN_FIT_LEVELS} noise levels")
    return CurveResult(
        sigma=list(grid),
        mean=mean.tolist(),
        std=std.tolist(),
        acc=acc.tolist(),
        fit=fit,
        clean_accuracy=float(np.mean(clean)) if clean else math.nan,
        n_test=n_test,
        trainings=trainings,
    )

"""Robustness when the inference noise differs from the training noise.

Two measurements, for networks trained at levels ``sigma_train`` (noisy training, VANT or
none) and tested at levels ``sigma_inf``:

* the **mismatch matrix**: accuracy for every pair (sigma_train, sigma_inf), every sample
  at the same level;
* **fluctuating noise**: accuracy when each test sample meets its own level around a mean
  ``sigma_inf``, ``sigma_i = sigma_inf * |1 + spread * z_i|`` (``noisewalk.train.vant.fluctuating_sigma``).

The **robustness score** for fluctuating noise is the accuracy under fluctuating noise
relative to the same network's noise-free accuracy,

    R(sigma_inf, spread) = acc(fluctuating around sigma_inf) / acc(no noise),

computed per network and averaged over the repetitions: 1 (100 %) means the fluctuating
noise costs nothing, 0.1 on ten classes means it leaves chance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from noisewalk.data import DataSplits, TensorData, create_dataset
from noisewalk.data.prepare import prepare
from noisewalk.errors import InvalidParameterError
from noisewalk.sites import NoisyModel, SiteSelector
from noisewalk.train.device import job_threads
from noisewalk.train.loop import evaluate, resolve_device, seed_everything, train
from noisewalk.validate import check_positive_int, check_range, check_sigma

if TYPE_CHECKING:
    from noisewalk.sweep.spec import Spec

Progress = Callable[[int, int, str], None]
"""Called as ``progress(done, total, what)`` after each trained network."""


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_spread(spread: float, sigma_inf: Sequence[float], *, option: str = "spread") -> float:
    """A relative spread whose fluctuating levels stay finite: ``sigma_inf * |1 + spread * z|``
    in float32, for draws ``|z|`` up to 10, at the highest of ``sigma_inf``."""
    check_range(option, spread, low=0.0)
    top = max((abs(float(s)) for s in sigma_inf), default=0.0)
    if top > 0:
        limit = (FLOAT32_MAX / top - 1.0) / 10.0
        if spread > limit:
            given = f"{option} {spread:g}" if option.startswith("--") else f"{option}={spread!r}"
            raise InvalidParameterError(
                f"{given} is too large: the fluctuating level sigma_inf * |1 + spread * z| would"
                f" overflow at sigma_inf = {top:g}; the spread must be at most {limit:.3g}"
            )
    return float(spread)


def robustness_score(fluctuating_acc: float, clean_acc: float) -> float:
    """Accuracy under fluctuating noise relative to noise-free accuracy."""
    return fluctuating_acc / clean_acc if clean_acc > 0 else float("nan")


@dataclass
class NetworkRobustness:
    """One trained network tested at fixed and fluctuating levels."""

    clean_acc: float
    fixed_acc: list[float]
    """Accuracy at each ``sigma_inf``, every sample at that level."""
    fluctuating_acc: list[float]
    """Accuracy with levels fluctuating around each ``sigma_inf``."""

    @property
    def robustness(self) -> list[float]:
        return [robustness_score(a, self.clean_acc) for a in self.fluctuating_acc]


def measure_robustness(
    model: NoisyModel,
    data: TensorData,
    sigma_inf: Sequence[float],
    *,
    spread: float,
    repeats: int = 1,
    sites: SiteSelector = None,
    device: str = "auto",
    seed: int | None = None,
) -> NetworkRobustness:
    """Noise-free accuracy, accuracy at each fixed ``sigma_inf`` and under noise fluctuating
    around it with relative ``spread`` (each a mean over ``repeats`` noise draws)."""
    fixed = evaluate(model, data, [0.0, *sigma_inf], repeats=repeats, sites=sites, device=device, seed=seed)
    fluct = evaluate(model, data, sigma_inf, repeats=repeats, sites=sites, device=device, spread=spread)
    return NetworkRobustness(fixed.mean[0], fixed.mean[1:], fluct.mean)


@dataclass
class MismatchResult:
    """Accuracy of networks trained at ``sigma_train`` (rows) tested at ``sigma_inf`` (columns)."""

    train_noise: str
    sigma_train: list[float]
    sigma_inf: list[float]
    spread: float
    acc: list[list[float]]
    """Mean accuracy over repetitions, every sample at ``sigma_inf``."""
    acc_std: list[list[float]]
    fluctuating_acc: list[list[float]]
    """Mean accuracy over repetitions with levels fluctuating around ``sigma_inf``."""
    fluctuating_std: list[list[float]]
    robustness: list[list[float]]
    """Mean robustness score (fluctuating / noise-free accuracy) over repetitions."""
    clean_acc: list[float]
    trainings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_mismatch(
    spec: Spec,
    sigma_train: Sequence[float],
    sigma_inf: Sequence[float],
    *,
    spread: float = 0.3,
    data: DataSplits | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: Progress | None = None,
) -> MismatchResult:
    """Train ``spec``'s repetitions at each level of ``sigma_train`` as ``spec.training.noise``
    says (``none``: one clean network per repetition, the row ``sigma_train = 0``), each
    network as :func:`noisewalk.sweep.plan.job_recipe` describes it, and test each at
    every ``sigma_inf``, fixed and fluctuating, at the spec's chosen sites. ``threads``:
    torch threads (None: chosen for the model, see :func:`noisewalk.train.device.job_threads`)."""
    from noisewalk.models.build import network_for
    from noisewalk.sweep.plan import job_recipe
    from noisewalk.sweep.spec import check_sites, selected_sites

    sigma_inf = [float(check_sigma("sigma_inf", s)) for s in sigma_inf]
    check_spread(spread, sigma_inf)
    check_positive_int("number of sigma_inf levels", len(sigma_inf))
    dev = str(resolve_device(device))
    data = prepare(data or create_dataset(spec.data.name, root=spec.data.root), spec.data)
    mode = spec.training.noise.value
    sites = None if spec.noise.sites == "all" else [s.name for s in selected_sites(spec, check_sites(spec))]
    rows = [0.0] if mode == "none" else [float(check_sigma("sigma_train", s)) for s in sigma_train]
    results: list[list[NetworkRobustness]] = [[] for _ in rows]
    trainings: list[dict[str, Any]] = []
    total, done = len(spec.seed_list) * len(rows), 0
    for seed in spec.seed_list:
        for i, level in enumerate(rows):
            recipe = job_recipe(spec, seed, level, sites)
            seed_everything(seed)
            model = network_for(recipe, data)
            torch.set_num_threads(job_threads(threads, model))
            trained = train(model, data, recipe.training.train_config(), device=dev)
            results[i].append(
                measure_robustness(
                    model,
                    data.test,
                    sigma_inf,
                    spread=spread,
                    repeats=spec.evaluation.repeats,
                    sites=sites,
                    device=dev,
                    seed=seed,
                )
            )
            trainings.append(
                {
                    "seed": seed,
                    "train_sigma": level,
                    "accuracy": trained.accuracy,
                    "nonfinite_steps": trained.nonfinite_steps,
                    "seconds": trained.seconds,
                }
            )
            done += 1
            if progress is not None:
                progress(done, total, f"seed {seed}, train sigma {level:.3g}")

    def stat(get, fn) -> list[list[float]]:
        return [fn(np.array([get(n) for n in row]), axis=0).tolist() for row in results]

    return MismatchResult(
        train_noise=mode,
        sigma_train=rows,
        sigma_inf=sigma_inf,
        spread=float(spread),
        acc=stat(lambda n: n.fixed_acc, np.mean),
        acc_std=stat(lambda n: n.fixed_acc, np.std),
        fluctuating_acc=stat(lambda n: n.fluctuating_acc, np.mean),
        fluctuating_std=stat(lambda n: n.fluctuating_acc, np.std),
        robustness=stat(lambda n: n.robustness, np.mean),
        clean_acc=[float(np.mean([n.clean_acc for n in row])) for row in results],
        trainings=trainings,
    )

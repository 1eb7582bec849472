"""Expanding a spec into trials and the training jobs that serve them.

A *trial* is one point of a study: a trained network (model, data, training recipe,
training noise, seed) evaluated with noise at one site selection and one level. Its ID
is a hash of its fully resolved configuration, so the same point gets the same ID in
every run and in every study that asks for it.

A *training job* trains one network and evaluates it for every trial it serves.
Trials that differ only in their inference noise share a job: without noisy training
one network per repetition serves every site selection and level (walking noise
included); with matched training every (selection, level) needs its own network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from noisewalk.errors import InvalidParameterError
from noisewalk.recipe import DataRecipe, NetworkNoise, NetworkTraining, QuantRecipe, Recipe, TrainNoise
from noisewalk.sites import Site
from noisewalk.sweep.device import device_evaluations, evaluation_kind, walked_layers
from noisewalk.sweep.spec import Spec, canonical_sigma, selected_sites

ID_LENGTH = 16
"""Hex digits of a trial or job ID (64 bits)."""


def stable_id(config: dict[str, Any]) -> str:
    """Hash of a configuration: the same dict always gives the same ID."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


@dataclass(frozen=True)
class Selection:
    """The sites one curve puts noise on: ``sites=None`` means every site."""

    label: str
    sites: tuple[str, ...] | None


@dataclass(frozen=True)
class Point:
    """A requested trial: a selection, a level, a repetition index and a model variant
    (``None``: the float model; else a quantization setting from ``Spec.variants``)."""

    selection: Selection
    sigma: float
    repetition: int
    variant: tuple[tuple[str, Any], ...] | None = None


def variant_key(variant: dict[str, Any] | None) -> tuple[tuple[str, Any], ...] | None:
    """A hashable form of a variant, for :class:`Point`."""
    return None if variant is None else tuple(sorted(variant.items()))


@dataclass(frozen=True)
class Trial:
    trial_id: str
    job_id: str
    curve_id: str
    """Trials of one accuracy-vs-noise curve share this (they differ in level and seed)."""
    selection: Selection
    sigma: float
    repetition: int
    seed: int
    config: dict[str, Any] = field(repr=False, compare=False)


@dataclass
class TrainingJob:
    job_id: str
    seed: int
    repetition: int
    config: dict[str, Any] = field(repr=False)
    trials: list[Trial] = field(default_factory=list)


def selections(spec: Spec, sites: tuple[Site, ...]) -> list[Selection]:
    """The curves of a study: one for all chosen sites together, or one per site when walking."""
    chosen = selected_sites(spec, sites)
    if spec.noise.walk:
        return [Selection(s.name, (s.name,)) for s in chosen]
    if spec.noise.sites == "all":
        return [Selection("all", None)]
    names = tuple(s.name for s in chosen)
    return [Selection(",".join(names), names)]


def _train_noise(spec: Spec, selection: Selection, sigma: float) -> tuple[float, list[str] | None]:
    """Training noise level and sites of the network serving (selection, sigma)."""
    mode = spec.training.noise
    if mode is TrainNoise.NONE:
        return 0.0, None
    if mode in (TrainNoise.MATCHED, TrainNoise.VANT, TrainNoise.VANT_EPOCH):
        return sigma, None if selection.sites is None else list(selection.sites)
    raise InvalidParameterError(f"training.noise={mode.value!r} has no training plan")  # pragma: no cover


def job_recipe(
    spec: Spec,
    seed: int,
    train_sigma: float,
    train_sites: list[str] | None,
    variant: tuple[tuple[str, Any], ...] | None = None,
) -> Recipe:
    """The recipe of the network that a training job trains."""
    return Recipe(
        model=spec.model,
        data=DataRecipe(**spec.data.model_dump(exclude={"root"})),
        noise=NetworkNoise(type=spec.noise.type, at_batchnorm=spec.noise.at_batchnorm, options=spec.noise.options),
        training=NetworkTraining(
            **spec.training.model_dump(), sigma=canonical_sigma(train_sigma), sites=train_sites, seed=seed
        ),
        quant=None if variant is None else QuantRecipe(**dict(variant)),
        analog=None if spec.device is None else spec.device.network(),
    )


def job_config(
    spec: Spec,
    seed: int,
    train_sigma: float,
    train_sites: list[str] | None,
    variant: tuple[tuple[str, Any], ...] | None = None,
) -> dict[str, Any]:
    """Everything that decides what a training job produces (the data's location does not):
    the identity of its :class:`~noisewalk.recipe.Recipe`, as stored."""
    return job_recipe(spec, seed, train_sigma, train_sites, variant).identity()


def trial_config(job: dict[str, Any], selection: Selection, sigma: float, repeats: int) -> dict[str, Any]:
    sites = None if selection.sites is None else list(selection.sites)
    return {**job, "evaluation": {"sites": sites, "sigma": canonical_sigma(sigma), "repeats": repeats}}


def curve_config(trial: dict[str, Any]) -> dict[str, Any]:
    """A trial's configuration without what varies along its curve (level and seed; for
    device trials, which are measured on each network, time or weight noise level and seed)."""
    device = evaluation_kind(trial["evaluation"]) != "activation"
    training = {k: v for k, v in trial["training"].items() if k not in (("seed",) if device else ("sigma", "seed"))}
    evaluation = {k: v for k, v in trial["evaluation"].items() if k not in ("sigma", "t")}
    return {**trial, "training": training, "evaluation": evaluation}


def plan_jobs(spec: Spec, points: Iterable[Point]) -> list[TrainingJob]:
    """Group the trials of ``points`` by the network that serves them (order kept)."""
    seeds = spec.seed_list
    jobs: dict[str, TrainingJob] = {}
    seen: set[str] = set()
    for p in points:
        if not 0 <= p.repetition < len(seeds):
            raise InvalidParameterError(f"repetition {p.repetition} is out of range 0..{len(seeds) - 1}")
        seed = seeds[p.repetition]
        sigma = canonical_sigma(p.sigma)
        jcfg = job_config(spec, seed, *_train_noise(spec, p.selection, sigma), p.variant)
        job_id = stable_id(jcfg)
        job = jobs.setdefault(job_id, TrainingJob(job_id, seed, p.repetition, jcfg))
        tcfg = trial_config(jcfg, p.selection, sigma, spec.evaluation.repeats)
        trial_id = stable_id(tcfg)
        if trial_id in seen:
            continue
        seen.add(trial_id)
        job.trials.append(
            Trial(trial_id, job_id, stable_id(curve_config(tcfg)), p.selection, sigma, p.repetition, seed, tcfg)
        )
    _add_device_trials(spec, jobs.values(), seen)
    return list(jobs.values())


def _add_device_trials(spec: Spec, jobs: Iterable[TrainingJob], seen: set[str]) -> None:
    """Every network of a study with ``[device]`` measurements gets its device trials."""
    if spec.device is None or (spec.device.drift is None and spec.device.walk is None):
        return
    evaluations = device_evaluations(spec.device, walked_layers(spec) if spec.device.walk else [])
    for job in jobs:
        for label, level, evaluation in evaluations:
            tcfg = {**job.config, "evaluation": evaluation}
            trial_id = stable_id(tcfg)
            if trial_id not in seen:
                seen.add(trial_id)
                curve = stable_id(curve_config(tcfg))
                job.trials.append(
                    Trial(trial_id, job.job_id, curve, Selection(label, None), level, job.repetition, job.seed, tcfg)
                )


def grid_points(spec: Spec, sites: tuple[Site, ...], levels: list[float] | None = None) -> list[Point]:
    """Every (selection, level, repetition) of a fixed grid."""
    levels = spec.sigma.levels() if levels is None else levels
    return [
        Point(sel, sigma, r, variant_key(v))
        for r in range(len(spec.seed_list))
        for v in spec.variants
        for sel in selections(spec, sites)
        for sigma in levels
    ]

"""Experiment specs: one TOML file describes a whole noise study.

A spec names the model, the dataset, the noise type and where it sits (all sites at
once, walking over the sites one at a time, or a chosen subset), the grid of noise
levels, how the networks are trained (without noise or with matched noise), how many
independently trained repetitions each point gets and their seeds. ``load_spec``
rejects a bad spec before any work starts, listing every problem with its field path::

    spec digits.toml has 3 problems:
      training.epochs: Input should be a valid integer (got 'ten')
      sigma.start: must be > 0 for a log grid; got -1.0
      model.name: unknown model 'mpl'. Did you mean 'mlp'? ...
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from noisewalk.data import create_dataset
from noisewalk.device.spec import AnalogSpec
from noisewalk.errors import InvalidParameterError, NoisewalkError
from noisewalk.models import create_model
from noisewalk.recipe import (
    DataRecipe,
    EvaluationRecipe,
    ModelRecipe,
    NoiseRecipe,
    RecipeError,
    RecipePart,
    TrainingRecipe,
    validation_problems,
)
from noisewalk.sites import Site, inject, select_sites
from noisewalk.sweep.checks import MAX_LEVELS, MAX_SEED, MAX_TRIALS, cross_field_problems, order_problem, seed_problem
from noisewalk.sweep.device import device_problems

SIGMA_DIGITS = 12
"""Noise levels are rounded to this many significant digits, so that the same level
computed two ways (a grid point, a midpoint) is the same level."""


def canonical_sigma(value: float) -> float:
    """``value`` rounded to :data:`SIGMA_DIGITS` significant digits."""
    return float(f"{float(value):.{SIGMA_DIGITS}g}")


class SpecError(RecipeError):
    """A spec with problems; ``problems`` lists them as (field path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(f"spec {source}", problems)
        self.source = source


_Section = RecipePart


def _finite_nonnegative(values: list[float]) -> list[float]:
    for v in values:
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"noise levels must be finite and >= 0; got {v!r}")
    return values


class ExplicitGrid(_Section):
    kind: Literal["explicit"]
    values: Annotated[list[float], Field(min_length=1, max_length=MAX_LEVELS)]
    """The noise levels, each finite and >= 0."""

    @field_validator("values")
    @classmethod
    def _valid(cls, values: list[float]) -> list[float]:
        return _finite_nonnegative(values)

    def levels(self) -> list[float]:
        return sorted({canonical_sigma(v) for v in self.values})


class _RangeGrid(_Section):
    start: float
    stop: float
    count: Annotated[int, Field(ge=1, le=MAX_LEVELS)]
    """Levels from ``start`` to ``stop``, both included."""

    @model_validator(mode="after")
    def _ordered(self) -> _RangeGrid:
        _finite_nonnegative([self.start, self.stop])
        problem = order_problem(self.start, self.stop) if self.count > 1 else None
        if problem:
            raise ValueError(problem)
        return self


class LogGrid(_RangeGrid):
    kind: Literal["log"]

    @field_validator("start", "stop")
    @classmethod
    def _positive(cls, v: float) -> float:
        if not v > 0:
            raise ValueError(f"must be > 0 for a log grid; got {v!r}")
        return v

    def levels(self) -> list[float]:
        return sorted({canonical_sigma(v) for v in np.logspace(np.log10(self.start), np.log10(self.stop), self.count)})


class LinearGrid(_RangeGrid):
    kind: Literal["linear"]

    def levels(self) -> list[float]:
        return sorted({canonical_sigma(v) for v in np.linspace(self.start, self.stop, self.count)})


class AdaptiveGrid(_Section):
    """Adaptive midpoint search (see :mod:`noisewalk.sweep.adaptive`)."""

    kind: Literal["adaptive"]
    start: float
    """Lowest level of the coarse first grid (> 0)."""
    stop: float
    """Highest level of the coarse first grid."""
    initial: Annotated[int, Field(ge=3)] = 5
    """Levels of the coarse first grid, log-spaced from start to stop."""
    explore_repetitions: Annotated[int, Field(ge=1)] = 1
    """Repetitions at coarse levels that only locate the fall (capped at the study's repetitions)."""
    target: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """Stop when the fit uncertainty of mu, relative to mu, is at most this."""
    max_gap: Annotated[float, Field(gt=0)] = 0.25
    """...and the levels around the half-way crossing are at most this many decades apart."""
    max_levels: Annotated[int, Field(ge=3, le=MAX_LEVELS)] = 12
    """Give up refining after this many levels per curve."""
    network_target: Annotated[float, Field(gt=0, lt=1)] | None = None
    """Also stop only when the 95 % interval of mu over networks is at most this (relative,
    0.05: ±5 %), adding repetitions (up to the study's) while it is wider; None: off."""
    min_repetitions: Annotated[int, Field(ge=2)] = 3
    """With network_target: repetitions the search starts with at its full levels."""

    @field_validator("start", "stop")
    @classmethod
    def _positive(cls, v: float) -> float:
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"must be finite and > 0; got {v!r}")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> AdaptiveGrid:
        problem = order_problem(self.start, self.stop)
        if problem:
            raise ValueError(problem)
        if self.max_levels < self.initial:
            raise ValueError(f"max_levels ({self.max_levels}) must be at least initial ({self.initial})")
        return self


SigmaGrid = Annotated[ExplicitGrid | LogGrid | LinearGrid | AdaptiveGrid, Field(discriminator="kind")]


class QuantSpec(_Section):
    """Quantization-aware training (Brevitas): every combination below is one configuration."""

    bits: Annotated[list[Annotated[int, Field(ge=2, le=16)]], Field(min_length=1)]
    """Bit widths of weights and activations (the papers use 4, 8, 16)."""
    act_scaling: Annotated[list[Literal["dynamic", "constant"]], Field(min_length=1)] = ["dynamic"]
    """Activation scaling: dynamic (learned steps) and/or constant (the fixed steps in ``scale``)."""
    scale: list[Annotated[float, Field(gt=0)]] = []
    """Fixed activation steps s for constant scaling."""
    include_float: bool = True
    """Also train the float (fp32) model as the baseline."""

    @model_validator(mode="after")
    def _scales(self) -> QuantSpec:
        if "constant" in self.act_scaling and not self.scale:
            raise ValueError("constant scaling needs at least one step in scale")
        if self.scale and "constant" not in self.act_scaling:
            raise ValueError("scale is only used with act_scaling including 'constant'")
        return self

    def variants(self) -> list[dict[str, Any] | None]:
        """The configurations: None for the float baseline, else quant_bits/act_scaling/scale."""
        out: list[dict[str, Any] | None] = [None] if self.include_float else []
        for bits in dict.fromkeys(self.bits):
            for scaling in dict.fromkeys(self.act_scaling):
                steps = dict.fromkeys(self.scale) if scaling == "constant" else [None]
                out += [{"quant_bits": bits, "act_scaling": scaling, "scale": s} for s in steps]
        return out


class RaySettings(_Section):
    address: str | None = None
    """An existing cluster (``"auto"``, ``"ray://host:10001"``); none starts a local one."""
    cpus_per_trial: Annotated[float, Field(gt=0)] = 1.0
    gpus_per_trial: Annotated[float, Field(ge=0)] = 0.0
    retries: Annotated[int, Field(ge=0)] = 3
    """Times a job whose worker process or node died runs again (from its last epoch checkpoint)."""
    dashboard: bool = False
    """Start the local cluster with Ray's dashboard (on 127.0.0.1); an existing cluster keeps its own setting."""


class SlurmSettings(_Section):
    cluster: Literal["slurm", "local"] = "slurm"
    """``local`` runs the jobs through submitit as local processes (to try a setup)."""
    partition: str | None = None
    timeout_min: Annotated[int, Field(ge=1)] = 60
    cpus_per_task: Annotated[int, Field(ge=1)] = 1
    gpus_per_node: Annotated[int, Field(ge=0)] = 0
    mem_gb: Annotated[float, Field(gt=0)] | None = None
    additional: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Further ``#SBATCH`` parameters (``account``, ``qos``, ...)."""
    retries: Annotated[int, Field(ge=0)] = 3
    """Times a job that ended without a result (cancelled, killed at its time limit, its node
    lost) is submitted again; it continues from its last epoch checkpoint."""


class ExecutorSettings(_Section):
    ray: RaySettings = RaySettings()
    slurm: SlurmSettings = SlurmSettings()


class Spec(_Section):
    """A whole study. Sections and fields not listed here are errors."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)]
    """Names the study (and its default output folder)."""
    description: str = ""
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    """Seed of the first repetition; repetition r uses seed + r."""
    repetitions: Annotated[int, Field(ge=1, le=MAX_LEVELS)] = 3
    """Independently trained networks per point."""
    seeds: (
        Annotated[list[Annotated[int, Field(ge=0, le=MAX_SEED)]], Field(min_length=1, max_length=MAX_LEVELS)] | None
    ) = None
    """Explicit seeds, one per repetition (instead of seed and repetitions)."""
    model: ModelRecipe = ModelRecipe()
    data: DataRecipe = DataRecipe()
    noise: NoiseRecipe = NoiseRecipe()
    sigma: SigmaGrid
    training: TrainingRecipe = TrainingRecipe()
    quant: QuantSpec | None = None
    """Quantization-aware training; absent: float models only."""
    evaluation: EvaluationRecipe = EvaluationRecipe()
    device: AnalogSpec | None = None
    """The analog device of every network (in training and evaluation) and what is measured on it."""
    executor: ExecutorSettings = ExecutorSettings()

    @model_validator(mode="after")
    def _seeds(self) -> Spec:
        given = "repetitions" in self.model_fields_set
        problem = seed_problem(self.seeds, self.repetitions, self.seed, repetitions_given=given)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def seed_list(self) -> list[int]:
        """The seed of every repetition."""
        return list(self.seeds) if self.seeds is not None else [self.seed + r for r in range(self.repetitions)]

    @property
    def adaptive(self) -> bool:
        return isinstance(self.sigma, AdaptiveGrid)

    @property
    def variants(self) -> list[dict[str, Any] | None]:
        """The model configurations of the study: ``[None]`` (float) unless ``quant`` asks for more."""
        return [None] if self.quant is None else self.quant.variants()


# --- reading and checking ----------------------------------------------------------------


def parse_spec(data: dict[str, Any], *, source: str = "<spec>") -> Spec:
    """Validate a spec given as a dict (as read from TOML); raises :class:`SpecError`."""
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, Spec, data)
        cross = dict((message, path) for path, message in cross_field_problems(data))
        problems = [(cross.get(message, path) if not path else path, message) for path, message in problems]
        problems += [(path, message) for message, path in cross.items() if (path, message) not in problems]
        raise SpecError(source, problems) from None


def read_spec(path: str | Path) -> Spec:
    """Read and validate a TOML spec (names checked against the registries)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidParameterError(f"cannot read spec {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            str(path),
            [("", f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save it as UTF-8")],
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), [("", f"not valid TOML: {exc}")]) from None
    return parse_spec(data, source=str(path))


def load_spec(path: str | Path) -> tuple[Spec, tuple[Site, ...]]:
    """Read a spec, check it, and check its site choice against the model's actual sites.

    Returns the spec and the model's sites. Loads the dataset once (for the model's
    input shape and classes).
    """
    spec = read_spec(path)
    return spec, check_sites(spec, source=str(path))


def model_sites(spec: Spec, *, source: str = "<spec>") -> tuple[Site, ...]:
    """The noise sites of the spec's model on the spec's dataset."""
    data = create_dataset(spec.data.name, root=spec.data.root)
    try:
        net = create_model(
            spec.model.source,
            num_classes=data.num_classes,
            input_shape=data.input_shape,
            batchnorm=spec.model.batchnorm,
            **spec.model.options,
        )
        return inject(net, spec.noise.type, batchnorm=spec.noise.at_batchnorm, **spec.noise.options).sites
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:
        if isinstance(exc, NoisewalkError):
            raise
        size = "x".join(map(str, data.input_shape))
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SpecError(
            source, [("model.name", f"{spec.model.name} cannot take {spec.data.name}'s input of {size}: {first}")]
        ) from None


def check_sites(spec: Spec, sites: tuple[Site, ...] | None = None, *, source: str = "<spec>") -> tuple[Site, ...]:
    """Check ``noise.sites`` against the model's sites; every bad entry is one problem."""
    sites = model_sites(spec, source=source) if sites is None else sites
    if spec.device is not None and (problems := device_problems(spec)):
        raise SpecError(source, problems)
    if spec.noise.sites == "all":
        _check_size(spec, sites, source)
        return sites
    problems = []
    for i, item in enumerate(spec.noise.sites):
        try:
            select_sites(sites, item)
        except (InvalidParameterError, KeyError) as exc:
            problems.append((f"noise.sites[{i}]", str(exc)))
    if problems:
        raise SpecError(source, problems)
    _check_size(spec, sites, source)
    return sites


def _check_size(spec: Spec, sites: tuple[Site, ...], source: str) -> None:
    """A study of more than :data:`MAX_TRIALS` trials is refused before it is planned."""
    levels = spec.sigma.max_levels if isinstance(spec.sigma, AdaptiveGrid) else len(spec.sigma.levels())
    walked = len(selected_sites(spec, sites)) if spec.noise.walk else 1
    trials = levels * len(spec.seed_list) * len(spec.variants) * walked
    if trials > MAX_TRIALS:
        raise SpecError(
            source,
            [
                (
                    "",
                    f"the study would plan {trials:,} trials (levels x repetitions x site selections x variants);"
                    f" at most {MAX_TRIALS:,} are allowed: use fewer levels, repetitions or sites",
                )
            ],
        )


def selected_sites(spec: Spec, sites: tuple[Site, ...]) -> list[Site]:
    """The sites the spec chooses, in site order."""
    if spec.noise.sites == "all":
        return list(sites)
    return [sites[i] for i in select_sites(sites, spec.noise.sites)]

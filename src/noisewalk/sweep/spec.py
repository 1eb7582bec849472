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

import difflib
import math
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from noisewalk.data import DATASETS, create_dataset
from noisewalk.errors import InvalidParameterError
from noisewalk.models import MODELS, create_model
from noisewalk.noise.types import NOISES
from noisewalk.registry import Registry
from noisewalk.sites import Site, inject, select_sites
from noisewalk.train.vant import VANT_ALPHA
from noisewalk.validate import unknown_name

SIGMA_DIGITS = 12
"""Noise levels are rounded to this many significant digits, so that the same level
computed two ways (a grid point, a midpoint) is the same level."""


def canonical_sigma(value: float) -> float:
    """``value`` rounded to :data:`SIGMA_DIGITS` significant digits."""
    return float(f"{float(value):.{SIGMA_DIGITS}g}")


class SpecError(InvalidParameterError):
    """A spec with problems; ``problems`` lists them as (field path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        lines = [f"  {path or '(top level)'}: {message}" for path, message in problems]
        super().__init__(f"spec {source} has {count}:\n" + "\n".join(lines))


class TrainNoise(StrEnum):
    """How the networks of a study are trained."""

    NONE = "none"
    """Without noise: one network per repetition serves every site selection and level."""
    MATCHED = "matched"
    """With the noise inference will see (same sites, same level): one network per point."""
    VANT = "vant"
    """Variance-aware noisy training around the inference level: a level per image."""
    VANT_EPOCH = "vant-epoch"
    """Variance-aware noisy training with one level drawn per epoch."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _registered(registry: Registry) -> AfterValidator:
    """Checks a name against ``registry``; an unknown one lists the valid names."""

    def check(name: str) -> str:
        if name not in registry:
            raise ValueError(str(unknown_name(registry.kind, name, registry.names())))
        return name

    return AfterValidator(check)


class ModelSpec(_Section):
    name: Annotated[str, _registered(MODELS)] = "mlp"
    """A registered model (``noisewalk models``)."""
    batchnorm: bool = False
    """Build the model with batch-norm."""


class DataSpec(_Section):
    name: Annotated[str, _registered(DATASETS)] = "digits"
    """A registered dataset."""
    root: str | None = None
    """Folder holding the dataset files (not part of a trial's identity)."""


class NoiseSpec(_Section):
    type: Annotated[str, _registered(NOISES)] = "additive"
    """A registered noise type (additive, multiplicative, combined, ...)."""
    sites: Literal["all"] | Annotated[list[int | str], Field(min_length=1)] = "all"
    """Sites carrying the noise: ``"all"`` or a list of site names, indices, operation types or globs."""
    walk: bool = False
    """Walking noise: one selected site at a time, each its own curve."""
    at_batchnorm: bool = False
    """Whether batch-norm outputs are sites."""
    options: dict[str, float | bool] = Field(default_factory=dict)
    """Extra arguments of the noise type (``ratio`` for combined, ``straight_through``)."""

    @field_validator("sites", mode="before")
    @classmethod
    def _selector(cls, value: Any) -> Any:
        items_ok = (
            isinstance(value, list)
            and value
            and all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in value)
        )
        if value != "all" and not items_ok:
            raise ValueError(
                f'must be "all" or a non-empty list of site names, indices, operation types or globs; got {value!r}'
            )
        return value

    @model_validator(mode="after")
    def _options_fit(self) -> NoiseSpec:
        if self.type in NOISES and self.options:
            try:
                NOISES.create(self.type, **self.options)
            except (TypeError, InvalidParameterError) as exc:
                raise ValueError(f"options {self.options} do not fit noise type {self.type!r}: {exc}") from None
        return self


def _finite_nonnegative(values: list[float]) -> list[float]:
    for v in values:
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"noise levels must be finite and >= 0; got {v!r}")
    return values


class ExplicitGrid(_Section):
    kind: Literal["explicit"]
    values: Annotated[list[float], Field(min_length=1)]
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
    count: Annotated[int, Field(ge=1)]
    """Levels from ``start`` to ``stop``, both included."""

    @model_validator(mode="after")
    def _ordered(self) -> _RangeGrid:
        _finite_nonnegative([self.start, self.stop])
        if self.count > 1 and self.stop <= self.start:
            raise ValueError(f"stop must be greater than start; got start={self.start!r}, stop={self.stop!r}")
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
    max_levels: Annotated[int, Field(ge=3)] = 12
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
        if self.stop <= self.start:
            raise ValueError(f"stop must be greater than start; got start={self.start!r}, stop={self.stop!r}")
        if self.max_levels < self.initial:
            raise ValueError(f"max_levels ({self.max_levels}) must be at least initial ({self.initial})")
        return self


SigmaGrid = Annotated[ExplicitGrid | LogGrid | LinearGrid | AdaptiveGrid, Field(discriminator="kind")]
GRID_KINDS = ("explicit", "log", "linear", "adaptive")


class TrainingSpec(_Section):
    noise: Annotated[TrainNoise, Field(strict=False)] = TrainNoise.NONE
    """none: train without noise; matched: train with the inference noise (level and sites)."""
    epochs: Annotated[int, Field(ge=1)] = 20
    lr: Annotated[float, Field(gt=0)] = 1e-3
    batch_size: Annotated[int, Field(ge=1)] = 128
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    warmup_epochs: Annotated[int, Field(ge=0)] = 0
    clamp_weights: bool = False
    class_weighted: bool = False
    """Weight each class's loss by its inverse frequency (keyword spotting)."""
    augment: bool = True
    last_epochs: Annotated[int, Field(ge=1)] = 5
    vant_alpha: Annotated[float, Field(ge=0)] = VANT_ALPHA
    """VANT: sigma_i = alpha * sigma_train + theta * |z_i| (used by the vant modes only)."""
    vant_theta: Annotated[float, Field(ge=0)] | None = None
    """VANT's theta; None takes the authors' value for the training level."""


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


class EvaluationSpec(_Section):
    repeats: Annotated[int, Field(ge=1)] = 2
    """Fresh noise draws per (network, level), averaged."""
    log_fit: bool = False
    """Fit the logistic in log10(sigma) instead of sigma (analysis only, not part of a trial)."""


class RaySettings(_Section):
    address: str | None = None
    """An existing cluster (``"auto"``, ``"ray://host:10001"``); none starts a local one."""
    cpus_per_trial: Annotated[float, Field(gt=0)] = 1.0
    gpus_per_trial: Annotated[float, Field(ge=0)] = 0.0


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


class ExecutorSettings(_Section):
    ray: RaySettings = RaySettings()
    slurm: SlurmSettings = SlurmSettings()


class Spec(_Section):
    """A whole study. Sections and fields not listed here are errors."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)]
    """Names the study (and its default output folder)."""
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 0
    """Seed of the first repetition; repetition r uses seed + r."""
    repetitions: Annotated[int, Field(ge=1)] = 3
    """Independently trained networks per point."""
    seeds: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] | None = None
    """Explicit seeds, one per repetition (instead of seed and repetitions)."""
    model: ModelSpec = ModelSpec()
    data: DataSpec = DataSpec()
    noise: NoiseSpec = NoiseSpec()
    sigma: SigmaGrid
    training: TrainingSpec = TrainingSpec()
    quant: QuantSpec | None = None
    """Quantization-aware training; absent: float models only."""
    evaluation: EvaluationSpec = EvaluationSpec()
    executor: ExecutorSettings = ExecutorSettings()

    @model_validator(mode="after")
    def _seeds(self) -> Spec:
        if self.seeds is not None:
            if "repetitions" in self.model_fields_set and self.repetitions != len(self.seeds):
                raise ValueError(
                    f"repetitions ({self.repetitions}) differs from the number of seeds ({len(self.seeds)})"
                )
            if len(set(self.seeds)) != len(self.seeds):
                raise ValueError(f"seeds must differ from each other; got {self.seeds}")
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


def _path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif i == 1 and loc[0] == "sigma" and item in GRID_KINDS:
            continue  # the discriminator's own tag
        elif item in ("function-after", "function-before") or str(item).startswith(("literal[", "list[")):
            continue  # pydantic's names for union members
        else:
            parts.append(str(item))
    return ".".join(parts)


def _section_fields(loc: tuple[Any, ...], data: dict[str, Any]) -> list[str]:
    """Field names allowed at the section ``loc`` points into (for unknown-field hints)."""
    model: type[BaseModel] = Spec
    node: Any = data
    for key in loc[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if key == "sigma":
            kinds = {"explicit": ExplicitGrid, "log": LogGrid, "linear": LinearGrid, "adaptive": AdaptiveGrid}
            model = kinds.get(node.get("kind") if isinstance(node, dict) else None, ExplicitGrid)
            continue
        if key in GRID_KINDS:
            continue
        field = model.model_fields.get(str(key))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return list(model.model_fields)


def _problems(exc: ValidationError, data: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = _path(loc)
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] == "extra_forbidden":
            allowed = _section_fields(loc, data)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            msg = f"unknown field.{hint} Allowed here: {', '.join(allowed)}" if allowed else "unknown field"
        elif err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
            msg = f"kind must be one of {', '.join(map(repr, GRID_KINDS))}"
            path = f"{path}.kind" if path else "kind"
        elif err["type"] not in ("missing", "value_error") and "input" in err and not isinstance(err["input"], dict):
            msg = f"{msg} (got {err['input']!r})"
        problems.append((path, msg))
    # one problem per path and message (unions report each member)
    return list(dict.fromkeys(problems))


def parse_spec(data: dict[str, Any], *, source: str = "<spec>") -> Spec:
    """Validate a spec given as a dict (as read from TOML); raises :class:`SpecError`."""
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(source, _problems(exc, data)) from None


def read_spec(path: str | Path) -> Spec:
    """Read and validate a TOML spec (names checked against the registries)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidParameterError(f"cannot read spec {path}: {exc.strerror}") from None
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


def model_sites(spec: Spec) -> tuple[Site, ...]:
    """The noise sites of the spec's model on the spec's dataset."""
    data = create_dataset(spec.data.name, root=spec.data.root)
    net = create_model(
        spec.model.name, num_classes=data.num_classes, input_shape=data.input_shape, batchnorm=spec.model.batchnorm
    )
    return inject(net, spec.noise.type, batchnorm=spec.noise.at_batchnorm, **spec.noise.options).sites


def check_sites(spec: Spec, sites: tuple[Site, ...] | None = None, *, source: str = "<spec>") -> tuple[Site, ...]:
    """Check ``noise.sites`` against the model's sites; every bad entry is one problem."""
    sites = model_sites(spec) if sites is None else sites
    if spec.noise.sites == "all":
        return sites
    problems = []
    for i, item in enumerate(spec.noise.sites):
        try:
            select_sites(sites, item)
        except (InvalidParameterError, KeyError) as exc:
            problems.append((f"noise.sites[{i}]", str(exc)))
    if problems:
        raise SpecError(source, problems)
    return sites


def selected_sites(spec: Spec, sites: tuple[Site, ...]) -> list[Site]:
    """The sites the spec chooses, in site order."""
    if spec.noise.sites == "all":
        return list(sites)
    return [sites[i] for i in select_sites(sites, spec.noise.sites)]

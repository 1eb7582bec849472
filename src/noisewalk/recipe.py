"""The recipe: one typed definition of how a network is built, trained and measured.

Every part is a pydantic model, and everything else derives from these classes: the
sections of a study spec (``noisewalk.sweep.spec``) are these parts, the options of
``noisewalk train`` are generated from their fields (``noisewalk.cli.options``), a
training job's stored configuration is a :class:`Recipe` dumped to JSON, and the worker
validates it back into a :class:`Recipe` (nothing is rebuilt by hand from a dict).
``TrainConfig``, the argument of :func:`noisewalk.train.train`, is the training part
plus what differs from network to network (level, sites, seed).

A field's docstring is its help text. Fields added after the first store version carry
``since=2`` (or later) in their extra metadata; at their default value they stay out of
a job's identity, so that studies stored before keep their trial IDs.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from noisewalk.analog_recipe import AnalogRecipe
from noisewalk.errors import InvalidParameterError
from noisewalk.fieldpaths import GRID_KINDS, field_path, validation_problems  # noqa: F401  (re-exported)
from noisewalk.model_recipe import ModelRecipe
from noisewalk.registry import Registry
from noisewalk.validate import unknown_name

VANT_ALPHA = 0.45
"""VANT's share of the training level that every image gets (the authors' value)."""


class RecipeError(InvalidParameterError):
    """A recipe or spec with problems; ``problems`` lists them as (field path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        lines = [f"  {path or '(top level)'}: {message}" for path, message in problems]
        super().__init__(f"{source} has {count}:\n" + "\n".join(lines))


class RecipePart(BaseModel):
    """Base of every recipe part: unknown fields are errors, values are not coerced, and a
    field's docstring is its description."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)


def registered(registry: Registry) -> AfterValidator:
    """Checks a name against ``registry``; an unknown one lists the valid names."""

    def check(name: str) -> str:
        if name not in registry:
            raise ValueError(str(unknown_name(registry.kind, name, registry.names())))
        return name

    return AfterValidator(check)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be finite; got {value!r}")
    return value


Level = Annotated[float, Field(ge=0), AfterValidator(_finite)]
"""A noise level: finite and >= 0."""


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


TRAIN_NOISES = tuple(m.value for m in TrainNoise)
NOISE_MODES = ("fixed", "vant", "vant-epoch")  # every image at the training level, or VANT around it


def noise_mode(train_noise: str) -> str:
    """The :class:`TrainConfig` noise mode a study's training-noise setting trains with."""
    return train_noise if train_noise in ("vant", "vant-epoch") else "fixed"


SiteChoice = Literal["all"] | Annotated[list[int | str], Field(min_length=1)]


class TrainingOptions(RecipePart):
    """How a network is trained, whatever its noise level and seed."""

    epochs: Annotated[int, Field(ge=1)] = 20
    """Passes over the training set."""
    lr: Annotated[float, Field(gt=0)] = 1e-3
    """Adam's learning rate at the start of the cosine decay."""
    batch_size: Annotated[int, Field(ge=1)] = 128
    """Samples per optimizer step."""
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    """Adam's L2 penalty (the papers use none)."""
    warmup_epochs: Annotated[int, Field(ge=0, json_schema_extra={"cli": "--warmup"})] = 0
    """Epochs over which the training noise rises linearly from 0 to its level."""
    clamp_weights: Annotated[bool, Field(json_schema_extra={"cli": "--clamp"})] = False
    """Clamp every weight to [-1, 1] after each optimizer step."""
    class_weighted: Annotated[bool, Field(json_schema_extra={"since": 2})] = False
    """Weight each class's loss by its inverse frequency in the training split (keyword spotting)."""
    augment: bool = True
    """Use the dataset's usual augmentation (crop and flip for images)."""
    last_epochs: Annotated[int, Field(ge=1)] = 5
    """The reported training accuracy is the mean test accuracy over this many final epochs."""
    vant_alpha: Annotated[float, Field(ge=0, json_schema_extra={"since": 2})] = VANT_ALPHA
    """VANT: the share of the training level every image gets (alpha * sigma + theta * |z|)."""
    vant_theta: Annotated[float | None, Field(ge=0, json_schema_extra={"since": 2})] = None
    """VANT: the scale of the random part; None takes the authors' value for the level."""
    schedule: Annotated[Literal["cosine", "cosine-epoch", "constant"], Field(json_schema_extra={"since": 2})] = "cosine"
    """Learning-rate schedule: cosine decay every step over all epochs; cosine-epoch: stepped
    once per epoch with T_max = epochs (the authors' CosineAnnealingLR); constant."""
    lr_min: Annotated[float, Field(ge=0, json_schema_extra={"since": 2})] = 0.0
    """The floor of the cosine decay (eta_min)."""
    test_every_epoch: Annotated[bool, Field(json_schema_extra={"since": 2})] = True
    """Test after every epoch (the history's test accuracy); otherwise only in the last_epochs
    that the reported accuracy averages."""


class TrainingRecipe(TrainingOptions):
    """The ``[training]`` section of a study: the options, and how the noise is trained."""

    noise: Annotated[TrainNoise, Field(strict=False, json_schema_extra={"cli": "--train-noise"})] = TrainNoise.NONE
    """none: train clean; matched: train at each evaluated level; vant, vant-epoch: VANT around it."""


class NetworkTraining(TrainingRecipe):
    """The training of one network: the study's training recipe at one level, sites and seed."""

    sigma: Level = 0.0
    """Training noise level (0: trained without noise)."""
    sites: list[str] | None = None
    """Sites that carry the training noise (None: all)."""
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    """Seeds the initialization, the batch order and the noise draws."""

    def train_config(self) -> TrainConfig:
        """The :class:`TrainConfig` that trains this network."""
        options = {k: getattr(self, k) for k in TrainingOptions.model_fields}
        return TrainConfig(
            **options, sigma=self.sigma, sites=self.sites, seed=self.seed, noise_mode=noise_mode(self.noise)
        )


class TrainConfig(TrainingOptions):
    """How :func:`noisewalk.train.train` trains one network: the training options plus its
    level, sites and seed. Defaults follow the papers' recipe (Adam, cosine decay, batch 128)."""

    sigma: Level = 0.0
    """Training noise level at the chosen sites; 0 trains without noise."""
    sites: int | str | list[int | str] | None = None
    """Sites that carry the training noise (None: all sites)."""
    noise_mode: Literal["fixed", "vant", "vant-epoch"] = "fixed"
    """``fixed`` (every image at ``sigma``), ``vant`` (per-image levels drawn around it every
    mini-batch) or ``vant-epoch`` (one level drawn per epoch); see ``noisewalk.train.vant``."""
    channels_last: bool | None = None
    """Lay out image batches and convolution weights channels-last (NHWC), which oneDNN's CPU
    convolutions run faster on. None: on the CPU, for models with 2-D convolutions
    (Brevitas-quantized ones excepted)."""
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    """Seeds the batch order and the noise draws."""

    def __init__(self, **data: Any) -> None:
        """Bad values raise :class:`RecipeError` listing every problem (not nested anywhere,
        so pydantic's nested validation never goes through this)."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise RecipeError("TrainConfig", validation_problems(exc, TrainConfig, data)) from None

    def sigma_at(self, epoch: int) -> float:
        """Training noise level in ``epoch`` (0-based), after the warm-up ramp."""
        if self.warmup_epochs and epoch < self.warmup_epochs:
            return self.sigma * (epoch + 1) / (self.warmup_epochs + 1)
        return self.sigma

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


Channels = Annotated[list[float], Field(min_length=1)]


class DataRecipe(RecipePart):
    """The data a network sees: the dataset, its normalization and augmentation.

    Fields left unset take the dataset's defaults: for the papers' datasets the authors'
    configuration (``noisewalk.data.prepare.PAPER_DATA``), filled in when the recipe is
    read, so they are part of the stored recipe; for other datasets the loader's own
    (training-split statistics, its usual augmentation)."""

    name: str = "digits"
    """A registered dataset (``noisewalk datasets``)."""
    root: Annotated[str | None, Field(json_schema_extra={"identity": False})] = None
    """Folder holding the dataset files (not part of a trial's identity)."""
    mean: Annotated[Channels | None, Field(json_schema_extra={"since": 2})] = None
    """Normalization mean per channel, of pixels scaled to [0, 1] (one value: every channel)."""
    std: Annotated[Channels | None, Field(json_schema_extra={"since": 2})] = None
    """Normalization standard deviation per channel (one value: every channel)."""
    split_statistics: Annotated[bool, Field(json_schema_extra={"since": 2})] = False
    """Normalize with the training split's own statistics instead of the dataset's constants."""
    crop_padding: Annotated[int | None, Field(ge=0, json_schema_extra={"since": 2})] = None
    """Random crop: pad by this many pixels and crop back at a random offset (0: no crop)."""
    crop_fill: Annotated[Literal["zero", "mean"] | None, Field(json_schema_extra={"since": 2})] = None
    """What the crop pads with: zero pixels (black, as torchvision) or the mean (0 after normalization)."""
    flip: Annotated[bool | None, Field(json_schema_extra={"since": 2})] = None
    """Random horizontal flip (probability 1/2)."""
    train_subset: Annotated[int | None, Field(ge=1, json_schema_extra={"since": 2})] = None
    """Train on this many training images (a fixed random subset; the test split stays whole)."""

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from noisewalk.data import DATASETS

        return registered(DATASETS).func(name)

    @model_validator(mode="before")
    @classmethod
    def _dataset_defaults(cls, data: Any) -> Any:
        """Unset preprocessing fields take the authors' values for the papers' datasets."""
        from noisewalk.data.prepare import PAPER_DATA

        if not isinstance(data, dict) or data.get("name") not in PAPER_DATA:
            return data
        filled = dict(data)
        own_normalization = data.get("split_statistics") or data.get("mean") is not None or data.get("std") is not None
        for key, value in PAPER_DATA[data["name"]].items():
            if key in ("mean", "std") and own_normalization:
                continue
            if filled.get(key) is None:
                filled[key] = list(value) if isinstance(value, tuple) else value
        return filled

    @model_validator(mode="after")
    def _normalization(self) -> DataRecipe:
        if (self.mean is None) != (self.std is None):
            raise ValueError("mean and std go together")
        if self.split_statistics and self.mean is not None:
            raise ValueError("split_statistics replaces mean and std: give one or the other")
        if self.std is not None and any(not (v > 0 and math.isfinite(v)) for v in self.std):
            raise ValueError(f"std must be finite and > 0; got {self.std}")
        if self.mean is not None and len(self.mean) != len(self.std or []):
            raise ValueError(f"mean and std need as many values; got {len(self.mean)} and {len(self.std or [])}")
        return self


class NetworkNoise(RecipePart):
    """The noise a network carries: its type and options, and which operations are sites."""

    type: str = "additive"
    """A registered noise type (additive, multiplicative, combined, ...)."""
    at_batchnorm: bool = False
    """Whether normalization outputs (batch-norm, layer-norm) are noise sites."""
    options: dict[str, bool | int | float | str] = Field(default_factory=dict)
    """Further arguments of the noise type: ratio (combined), straight_through, executions, draws."""

    @field_validator("type")
    @classmethod
    def _known(cls, name: str) -> str:
        from noisewalk.noise import NOISES

        return registered(NOISES).func(name)

    @model_validator(mode="after")
    def _options_fit(self) -> NetworkNoise:
        from noisewalk.noise import NOISES

        if self.type in NOISES and self.options:
            try:
                NOISES.create(self.type, **self.options)
            except (TypeError, InvalidParameterError) as exc:
                raise ValueError(f"options {self.options} do not fit noise type {self.type!r}: {exc}") from None
        return self


class NoiseRecipe(NetworkNoise):
    """The ``[noise]`` section of a study: the network's noise, and where inference puts it."""

    sites: SiteChoice = "all"
    """Sites carrying the noise: "all" or a list of site names, indices, operation types or globs."""
    walk: bool = False
    """Walking noise: one selected site at a time, each its own curve."""

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


class QuantRecipe(RecipePart):
    """One quantization setting of a network (Brevitas QAT)."""

    quant_bits: Annotated[int, Field(ge=2, le=16)]
    """Bit width of weights and activations."""
    act_scaling: Literal["dynamic", "constant"] = "dynamic"
    """Activation scaling: learned steps (dynamic) or the fixed step ``scale`` (constant)."""
    scale: Annotated[float, Field(gt=0)] | None = None
    """The fixed activation step s of constant scaling."""

    @model_validator(mode="after")
    def _scale(self) -> QuantRecipe:
        if (self.act_scaling == "constant") != (self.scale is not None):
            raise ValueError("constant scaling needs scale, and scale is only used with constant scaling")
        return self


class EvaluationRecipe(RecipePart):
    repeats: Annotated[int, Field(ge=1, json_schema_extra={"cli": "--eval-repeats"})] = 2
    """Fresh noise draws per (network, level), averaged."""
    log_fit: Annotated[bool, Field(json_schema_extra={"identity": False})] = False
    """Fit the logistic in log10(sigma) instead of sigma (analysis only, not part of a trial)."""


class Recipe(RecipePart):
    """Everything that decides what one trained network is: a training job's configuration."""

    model: ModelRecipe = ModelRecipe()
    data: DataRecipe = DataRecipe()
    noise: NetworkNoise = NetworkNoise()
    training: NetworkTraining = NetworkTraining()
    quant: QuantRecipe | None = None
    analog: Annotated[AnalogRecipe | None, Field(json_schema_extra={"since": 2})] = None
    """The analog device of the convolution and linear layers, in training and evaluation (None: digital)."""

    def identity(self) -> dict[str, Any]:
        """The configuration that names the job: every field, except those that are not part
        of its identity and those added later at their default (see the module docstring)."""
        out = _identity(self)
        if self.training.noise in (TrainNoise.VANT, TrainNoise.VANT_EPOCH):  # VANT's own knobs always count
            out["training"].update(vant_alpha=self.training.vant_alpha, vant_theta=self.training.vant_theta)
        return out


def _identity(part: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in type(part).model_fields.items():
        value = getattr(part, name)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("identity") is False or (name == "quant" and value is None):
            continue
        if extra.get("since") and value == field.get_default(call_default_factory=True):
            continue
        if isinstance(value, BaseModel):
            out[name] = _identity(value)
        else:
            out[name] = value.value if isinstance(value, StrEnum) else value
    return out

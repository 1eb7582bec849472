"""Typed settings of device noise, for study specs: what ``[device]`` sections hold.

Sections in the style of the study spec (pydantic, unknown fields rejected, no silent
type coercion, frozen), so that a spec can embed them as they are:

* :class:`AnalogSpec` (``[device]``): weight noise, DAC, ADC, compensation, which layers,
  and the measurements below; :meth:`AnalogSpec.to_analog_kwargs` gives the arguments of
  ``to_analog`` (and of ``noisewalk.models.build.noisy_network(analog=...)``);
* :class:`DriftSpec` (``[device.drift]``): accuracy over inference time;
* :class:`WeightWalkSpec` (``[device.walk]``): walking weight noise and its midpoints.

Settings that do not fit together are errors with the field named: a level ``sigma`` on
PCM weights, PCM constants on additive noise, compensation without drifting weights, a
drift study without PCM weights.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from noisewalk.device.converters import ADC, DAC, Converter
from noisewalk.device.evaluate import TIMES
from noisewalk.device.pcm import PCMModel
from noisewalk.device.weights import WEIGHT_NOISES, WeightNoise, list_weight_noises
from noisewalk.errors import InvalidParameterError
from noisewalk.validate import unknown_name


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _weight_noise_name(name: str) -> str:
    valid = list_weight_noises()
    if name not in valid:
        raise ValueError(str(unknown_name(WEIGHT_NOISES.kind, name, valid)))
    return name


LEVEL_FIELDS = ("sigma", "per", "straight_through")
PCM_FIELDS = ("t", "read", "pcm")


class WeightNoiseSpec(_Section):
    type: Annotated[str, AfterValidator(_weight_noise_name)] = "additive"
    """A registered weight noise type: ``additive``, ``multiplicative`` (level ``sigma``) or ``pcm``."""
    sigma: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Level of the additive (std ``sigma * w_max``) or multiplicative noise."""
    per: Literal["draw", "forward"] = "draw"
    """Level types: drawn once per programming (programming noise) or at every forward pass (read noise)."""
    straight_through: bool = True
    """Level types: straight-through backward pass (False: the plain gradient)."""
    t: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    """PCM: seconds since programming in training and by default (None: ``t_c``, 20 s)."""
    read: Literal["forward", "draw"] = "forward"
    """PCM: read noise at every forward pass, or once per time and programming (aihwkit)."""
    pcm: dict[str, float | bool | list[float]] = Field(default_factory=dict)
    """PCM: constants of the model (fields of ``noisewalk.device.PCMModel``), e.g. ``drift_scale``."""
    in_train: bool = True
    """Apply the weight noise in training (hardware-aware training)."""
    in_eval: bool = True
    """Apply the weight noise in evaluation."""

    @model_validator(mode="after")
    def _fields_fit_the_type(self) -> WeightNoiseSpec:
        given = self.model_fields_set
        if self.type == "pcm":
            wrong = [f for f in LEVEL_FIELDS if f in given]
            if wrong:
                raise ValueError(
                    f"{', '.join(wrong)} apply to the additive and multiplicative types; "
                    "pcm weights are set by t, read and the pcm constants"
                )
            try:
                PCMModel(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.pcm.items()})
            except TypeError as exc:
                known = ", ".join(sorted(PCMModel.__dataclass_fields__))
                raise ValueError(f"pcm: {exc}; the constants are: {known}") from None
            except InvalidParameterError as exc:
                raise ValueError(f"pcm: {exc}") from None
        else:
            wrong = [f for f in PCM_FIELDS if f in given]
            if wrong:
                raise ValueError(f"{', '.join(wrong)} apply to pcm weights, not to {self.type!r}")
        return self

    def build(self) -> WeightNoise:
        """The weight noise module these settings describe."""
        from noisewalk.device.weights import create_weight_noise

        modes = {"in_train": self.in_train, "in_eval": self.in_eval}
        if self.type == "pcm":
            constants = {k: tuple(v) if isinstance(v, list) else v for k, v in self.pcm.items()}
            return create_weight_noise("pcm", t=self.t, read=self.read, **modes, **constants)
        return create_weight_noise(
            self.type, sigma=self.sigma, per=self.per, straight_through=self.straight_through, **modes
        )


class ConverterSpec(_Section):
    bits: Annotated[int, Field(ge=2, le=24)] = 8
    """Bit width."""
    range: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """Clipping range; None calibrates it on training images."""
    signed: bool | None = None
    """Signed range; None lets calibration decide (unsigned where every value was >= 0)."""
    noise: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Gaussian noise before quantization, std relative to the range."""
    percentile: Annotated[float, Field(gt=0, le=100)] = 100.0
    """Calibration: the percentile of ``|x|`` that sets the range (100: the largest)."""
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.1
    """Training: how fast a range that is not fixed follows the batches."""

    def build(self, cls: type[Converter] = Converter) -> Converter:
        return cls(
            self.bits,
            range=self.range,
            signed=self.signed,
            noise=self.noise,
            percentile=self.percentile,
            momentum=self.momentum,
        )


Selector = Literal["all"] | Annotated[list[int | str], Field(min_length=1)]


def _time(value: float | str) -> float:
    if isinstance(value, str):
        if value not in TIMES:
            raise ValueError(str(unknown_name("inference time", value, list(TIMES))))
        return TIMES[value]
    if not value >= 0 or value != value or value == float("inf"):
        raise ValueError(f"inference times must be finite seconds >= 0; got {value!r}")
    return float(value)


class DriftSpec(_Section):
    times: Annotated[list[float | str], Field(min_length=1)] = Field(default_factory=lambda: list(TIMES))
    """Inference times: seconds since programming, or labels (``"1 s"``, ``"1 h"``, ``"1 day"``,
    ``"1 month"``, ``"1 year"``, ``"10 years"``)."""
    draws: Annotated[int, Field(ge=1)] = 5
    """Programming draws per time, each followed through all times."""
    compensation: Annotated[list[bool], Field(min_length=1, max_length=2)] = [False, True]
    """The compensation settings measured at every time."""

    @field_validator("times")
    @classmethod
    def _times(cls, values: list[float | str]) -> list[float | str]:
        for v in values:
            _time(v)
        return values

    @field_validator("compensation")
    @classmethod
    def _distinct(cls, values: list[bool]) -> list[bool]:
        if len(set(values)) != len(values):
            raise ValueError(f"each compensation setting once; got {values!r}")
        return values

    def seconds(self) -> list[float]:
        return [_time(v) for v in self.times]


class WeightWalkSpec(_Section):
    sigmas: Annotated[list[Annotated[float, Field(gt=0, allow_inf_nan=False)]], Field(min_length=5)]
    """Weight noise levels (>= 5 for the midpoint fit)."""
    draws: Annotated[int, Field(ge=1)] = 3
    """Programming draws per level and layer."""
    log: bool = True
    """Fit the midpoint in log sigma."""
    layers: Selector = "all"
    """The analog layers walked over."""


class AnalogSpec(_Section):
    weights: WeightNoiseSpec | None = None
    """The noise of the stored weights (None: ideal weights)."""
    dac: ConverterSpec | None = None
    """The converter at every analog layer's input."""
    adc: ConverterSpec | None = None
    """The converter at every analog layer's output."""
    compensation: bool = False
    """Global drift compensation (needs pcm weights)."""
    layers: Selector = "all"
    """Which convolution and linear layers are analog: names, indices, ``conv``/``linear``, globs."""
    exclude: list[int | str] = Field(default_factory=list)
    """Layers left digital."""
    calibration_samples: Annotated[int, Field(ge=1)] = 2048
    """Training images that calibrate the converters' ranges."""
    drift: DriftSpec | None = None
    """Measure accuracy over inference time (needs pcm weights)."""
    walk: WeightWalkSpec | None = None
    """Walk weight noise over the layers (needs a level type: additive or multiplicative)."""

    @field_validator("layers", "exclude", mode="before")
    @classmethod
    def _selector(cls, value: Any) -> Any:
        if isinstance(value, list) and any(isinstance(v, bool) or not isinstance(v, (int, str)) for v in value):
            raise ValueError(f"must list layer names, indices, operation types or globs; got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AnalogSpec:
        if self.weights is None and self.dac is None and self.adc is None:
            raise ValueError("nothing is analog: give weights, dac or adc")
        if self.compensation and not self.drifts:
            raise ValueError("compensation corrects conductance drift; it needs pcm weights")
        if self.drift is not None and not self.drifts:
            raise ValueError("drift: accuracy over time needs pcm weights (weights.type = 'pcm')")
        if self.walk is not None and (self.weights is None or self.drifts):
            raise ValueError("walk: walking weight noise needs a level: weights.type 'additive' or 'multiplicative'")
        return self

    @property
    def drifts(self) -> bool:
        return self.weights is not None and self.weights.type == "pcm"

    @property
    def needs_calibration(self) -> bool:
        return any(c is not None and c.range is None for c in (self.dac, self.adc))

    def to_analog_kwargs(self) -> dict[str, Any]:
        """The arguments of ``noisewalk.device.to_analog`` (and of ``noisy_network(analog=...)``)."""
        return {
            "weights": None if self.weights is None else self.weights.build(),
            "dac": None if self.dac is None else self.dac.build(DAC),
            "adc": None if self.adc is None else self.adc.build(ADC),
            "compensation": self.compensation,
            "layers": None if self.layers == "all" else list(self.layers),
            "exclude": list(self.exclude) or None,
        }

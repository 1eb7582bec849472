"""The analog part of the recipe: the device a network's matmul layers run on.

What changes the network itself, and therefore belongs to a trained network's recipe
(``noisewalk.recipe.Recipe.analog``): the noise of the stored weights, the DAC and ADC,
global drift compensation and which layers are analog. With weight noise in training
(``in_train``, the default) every training forward pass sees the device: hardware-aware
training. The measurements a study makes on such a network (accuracy over time, walking
weight noise) are in ``noisewalk.device.spec``.

The device models are imported only when a section is checked or built, so that the
recipe does not depend on ``noisewalk.device``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from noisewalk.errors import InvalidParameterError
from noisewalk.validate import unknown_name


class DeviceSection(BaseModel):
    """Base of the device sections: unknown fields are errors, values are not coerced, and
    a field's docstring is its description."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)


def _weight_noise_name(name: str) -> str:
    from noisewalk.device.weights import WEIGHT_NOISES, list_weight_noises

    valid = list_weight_noises()
    if name not in valid:
        raise ValueError(str(unknown_name(WEIGHT_NOISES.kind, name, valid)))
    return name


LEVEL_FIELDS = ("sigma", "per", "straight_through")
PCM_FIELDS = ("t", "read", "pcm")


class WeightNoiseSpec(DeviceSection):
    type: Annotated[str, AfterValidator(_weight_noise_name)] = "additive"
    """A registered weight noise type: additive, multiplicative (level sigma) or pcm."""
    sigma: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Level of the additive (std sigma * w_max) or multiplicative noise."""
    per: Literal["draw", "forward"] = "draw"
    """Level types: drawn once per programming (programming noise) or at every forward pass (read noise)."""
    straight_through: bool = True
    """Level types: straight-through backward pass (False: the plain gradient)."""
    t: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    """PCM: seconds since programming in training and by default (None: t_c, 20 s)."""
    read: Literal["forward", "draw"] = "forward"
    """PCM: read noise at every forward pass, or once per time and programming (aihwkit)."""
    pcm: dict[str, float | bool | list[float]] = Field(default_factory=dict)
    """PCM: constants of the model (fields of noisewalk.device.PCMModel), e.g. drift_scale."""
    in_train: bool = True
    """Apply the weight noise in training (hardware-aware training)."""
    in_eval: bool = True
    """Apply the weight noise in evaluation."""

    @model_validator(mode="after")
    def _fields_fit_the_type(self) -> WeightNoiseSpec:
        defaults = {k: f.get_default(call_default_factory=True) for k, f in type(self).model_fields.items()}
        given = [f for f in self.model_fields_set if getattr(self, f) != defaults[f]]
        if self.type == "pcm":
            wrong = [f for f in LEVEL_FIELDS if f in given]
            if wrong:
                raise ValueError(
                    f"{', '.join(wrong)} apply to the additive and multiplicative types; "
                    "pcm weights are set by t, read and the pcm constants"
                )
            from noisewalk.device.pcm import PCMModel

            try:
                PCMModel(**self.pcm_constants())
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

    def pcm_constants(self) -> dict[str, Any]:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in self.pcm.items()}

    def build(self):
        """The weight noise module these settings describe (a ``noisewalk.device.WeightNoise``)."""
        from noisewalk.device.weights import create_weight_noise

        modes = {"in_train": self.in_train, "in_eval": self.in_eval}
        if self.type == "pcm":
            return create_weight_noise("pcm", t=self.t, read=self.read, **modes, **self.pcm_constants())
        return create_weight_noise(
            self.type, sigma=self.sigma, per=self.per, straight_through=self.straight_through, **modes
        )


class ConverterSpec(DeviceSection):
    bits: Annotated[int, Field(ge=2, le=24)] = 8
    """Bit width."""
    range: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """Clipping range; None calibrates it on training images."""
    signed: bool | None = None
    """Signed range; None lets calibration decide (unsigned where every value was >= 0)."""
    noise: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Gaussian noise before quantization, std relative to the range."""
    percentile: Annotated[float, Field(gt=0, le=100)] = 100.0
    """Calibration: the percentile of |x| that sets the range (100: the largest)."""
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.1
    """Training: how fast a range that is not fixed follows the batches."""

    def build(self, cls: type | None = None):
        """The converter (``cls``: ``DAC``, ``ADC`` or the plain ``Converter``)."""
        from noisewalk.device.converters import Converter

        return (cls or Converter)(
            self.bits,
            range=self.range,
            signed=self.signed,
            noise=self.noise,
            percentile=self.percentile,
            momentum=self.momentum,
        )


Selector = Literal["all"] | Annotated[list[int | str], Field(min_length=1)]


def check_selector(value: Any) -> Any:
    if isinstance(value, list) and any(isinstance(v, bool) or not isinstance(v, (int, str)) for v in value):
        raise ValueError(f"must list layer names, indices, operation types or globs; got {value!r}")
    return value


class AnalogRecipe(DeviceSection):
    """The analog device of a network's matmul layers (a spec's ``[device]`` section, less
    its measurements)."""

    weights: WeightNoiseSpec | None = None
    """The noise of the stored weights (None: ideal weights)."""
    dac: ConverterSpec | None = None
    """The converter at every analog layer's input."""
    adc: ConverterSpec | None = None
    """The converter at every analog layer's output."""
    compensation: bool = False
    """Global drift compensation (needs pcm weights)."""
    layers: Selector = "all"
    """Which convolution and linear layers are analog: names, indices, conv/linear, globs."""
    exclude: list[int | str] = Field(default_factory=list)
    """Layers left digital."""
    calibration_samples: Annotated[int, Field(ge=1)] = 2048
    """Training images that calibrate the converters' ranges."""

    @field_validator("layers", "exclude", mode="before")
    @classmethod
    def _selector(cls, value: Any) -> Any:
        return check_selector(value)

    @model_validator(mode="after")
    def _consistent(self) -> AnalogRecipe:
        if self.weights is None and self.dac is None and self.adc is None:
            raise ValueError("nothing is analog: give weights, dac or adc")
        if self.compensation and not self.drifts:
            raise ValueError("compensation corrects conductance drift; it needs pcm weights")
        return self

    @property
    def drifts(self) -> bool:
        return self.weights is not None and self.weights.type == "pcm"

    @property
    def needs_calibration(self) -> bool:
        return any(c is not None and c.range is None for c in (self.dac, self.adc))

    def network(self) -> AnalogRecipe:
        """The part that changes the network (for a section that also holds measurements)."""
        return AnalogRecipe(**{k: getattr(self, k) for k in AnalogRecipe.model_fields})

    def to_analog_kwargs(self) -> dict[str, Any]:
        """The arguments of ``noisewalk.device.to_analog`` (and of ``noisy_network(analog=...)``)."""
        from noisewalk.device.converters import ADC, DAC

        return {
            "weights": None if self.weights is None else self.weights.build(),
            "dac": None if self.dac is None else self.dac.build(DAC),
            "adc": None if self.adc is None else self.adc.build(ADC),
            "compensation": self.compensation,
            "layers": None if self.layers == "all" else list(self.layers),
            "exclude": list(self.exclude) or None,
        }

"""Typed settings of device noise, for study specs: what ``[device]`` sections hold.

Sections in the style of the study spec (pydantic, unknown fields rejected, no silent
type coercion, frozen), so that a spec embeds them as they are:

* :class:`AnalogSpec` (``[device]``): weight noise, DAC, ADC, compensation, which layers
  (the network's part, :class:`noisewalk.analog_recipe.AnalogRecipe`, which enters the
  recipe of every network the study trains), and the measurements below;
  :meth:`AnalogSpec.to_analog_kwargs` gives the arguments of ``to_analog`` (and of
  ``noisewalk.models.build.noisy_network(analog=...)``);
* :class:`DriftSpec` (``[device.drift]``): accuracy over inference time;
* :class:`WeightWalkSpec` (``[device.walk]``): walking weight noise and its midpoints.

Settings that do not fit together are errors with the field named: a level ``sigma`` on
PCM weights, PCM constants on additive noise, compensation without drifting weights, a
drift study without PCM weights.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from noisewalk.analog_recipe import (  # noqa: F401  (re-exported)
    LEVEL_FIELDS,
    PCM_FIELDS,
    AnalogRecipe,
    ConverterSpec,
    DeviceSection,
    Selector,
    WeightNoiseSpec,
    check_selector,
)
from noisewalk.device.evaluate import TIMES
from noisewalk.validate import unknown_name

_Section = DeviceSection


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
    """The analog layers walked over, one at a time (each its own curve and midpoint)."""
    all_layers: bool = True
    """Also one curve with the noise at all of those layers at once (global weight noise)."""
    type: Literal["additive", "multiplicative"] | None = None
    """The weight noise walked (programming noise, one draw per evaluation); None: the
    network's own level type. Needed to walk a network with pcm weights, whose weights
    then carry this noise alone (no drift) while the walk runs."""

    @field_validator("layers", mode="before")
    @classmethod
    def _selector(cls, value):
        return check_selector(value)


class AnalogSpec(AnalogRecipe):
    """A study's ``[device]`` section: the analog device of its networks and what is measured on it."""

    drift: DriftSpec | None = None
    """Measure accuracy over inference time (needs pcm weights)."""
    walk: WeightWalkSpec | None = None
    """Walk weight noise over the layers (needs a level type: additive or multiplicative)."""

    @model_validator(mode="after")
    def _measurements_fit(self) -> AnalogSpec:
        if self.drift is not None and not self.drifts:
            raise ValueError("drift: accuracy over time needs pcm weights (weights.type = 'pcm')")
        level = self.weights is not None and not self.drifts
        if self.walk is not None and self.walk.type is None and not level:
            raise ValueError(
                "walk: walking weight noise needs a level: weights.type 'additive' or 'multiplicative',"
                " or walk.type for the walk alone"
            )
        return self

"""Device noise beyond activations: noise in the stored weights, drift, converters.

What analog simulators (IBM's aihwkit, Sandia's CrossSim) model, on any PyTorch model and
beside activation noise (:mod:`noisewalk.sites`):

* :mod:`~noisewalk.device.weights`: weight noise types with a level knob (additive,
  multiplicative; programming or read noise);
* :mod:`~noisewalk.device.pcm`: the PCM statistical model (programming noise, drift,
  1/f read noise, differential pairs);
* :mod:`~noisewalk.device.converters`: DAC and ADC;
* :mod:`~noisewalk.device.tile`: one analog matmul layer (weights, converters, global
  drift compensation), attached to a layer without replacing it;
* :mod:`~noisewalk.device.analog`: ``to_analog`` and the :class:`AnalogLayers` handle;
* :mod:`~noisewalk.device.evaluate`: accuracy over inference time, weight noise curves
  and walking weight noise;
* :mod:`~noisewalk.device.plots`: their plots;
* :mod:`~noisewalk.device.spec`: the same settings as typed sections for study specs.
"""

from __future__ import annotations

from noisewalk.device.analog import AnalogLayers, analog_layers, calibrate, to_analog
from noisewalk.device.converters import ADC, DAC, Converter
from noisewalk.device.pcm import PCMModel, PCMWeights, from_pair, to_pair
from noisewalk.device.tile import AnalogTile
from noisewalk.device.weights import (
    WEIGHT_NOISES,
    AdditiveWeightNoise,
    LevelWeightNoise,
    MultiplicativeWeightNoise,
    WeightNoise,
    create_weight_noise,
    list_weight_noises,
)

__all__ = [
    "ADC",
    "DAC",
    "WEIGHT_NOISES",
    "AdditiveWeightNoise",
    "AnalogLayers",
    "AnalogTile",
    "Converter",
    "LevelWeightNoise",
    "MultiplicativeWeightNoise",
    "PCMModel",
    "PCMWeights",
    "WeightNoise",
    "analog_layers",
    "calibrate",
    "create_weight_noise",
    "from_pair",
    "list_weight_noises",
    "to_analog",
    "to_pair",
]

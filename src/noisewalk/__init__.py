"""noisewalk: noise injection, robustness measurement and hardening for PyTorch models."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from noisewalk.device import analog_layers, to_analog
from noisewalk.errors import (
    DatasetError,
    InvalidParameterError,
    MissingDependencyError,
    NoisewalkError,
    TraceError,
    UnknownNameError,
)
from noisewalk.measure.fit import MidpointFit, StackedFit, fit_midpoint, fit_stacked, preserved_relative_accuracy
from noisewalk.models import create_model, list_models, register_model
from noisewalk.models.quant import quantize
from noisewalk.models.save import export_weights, load, save
from noisewalk.noise.types import AdditiveNoise, CombinedNoise, MultiplicativeNoise, Noise, create_noise, list_noises
from noisewalk.sites import OP_TYPES, NoisyModel, Site, inject, register_site_module

try:
    __version__ = version("noisewalk")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+src"

__all__ = [
    "OP_TYPES",
    "AdditiveNoise",
    "CombinedNoise",
    "DatasetError",
    "InvalidParameterError",
    "MidpointFit",
    "MissingDependencyError",
    "MultiplicativeNoise",
    "Noise",
    "NoisewalkError",
    "NoisyModel",
    "Site",
    "StackedFit",
    "TraceError",
    "UnknownNameError",
    "__version__",
    "analog_layers",
    "create_model",
    "create_noise",
    "fit_midpoint",
    "fit_stacked",
    "export_weights",
    "inject",
    "list_models",
    "list_noises",
    "load",
    "preserved_relative_accuracy",
    "quantize",
    "register_model",
    "register_site_module",
    "save",
    "to_analog",
]

"""Noise types (modules with one level knob ``sigma``) and how their Gaussian draws are made."""

from __future__ import annotations

from noisewalk.noise.draws import DRAWS, ExactDraws, NormalDraws, PooledDraws, make_draws
from noisewalk.noise.types import (
    NOISES,
    AdditiveNoise,
    CombinedNoise,
    MultiplicativeNoise,
    Noise,
    create_noise,
    list_noises,
)

__all__ = [
    "DRAWS",
    "NOISES",
    "AdditiveNoise",
    "CombinedNoise",
    "ExactDraws",
    "MultiplicativeNoise",
    "Noise",
    "NormalDraws",
    "PooledDraws",
    "create_noise",
    "list_noises",
    "make_draws",
]

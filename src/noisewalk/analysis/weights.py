"""Weight magnitude per layer: mean |w|, and its ratio between two trainings.

WN compares networks trained with additive noise with and without weight clamping:
without batch-norm they barely grow their weights, with batch-norm up to ~50x.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from torch import Tensor, nn

from noisewalk.errors import InvalidParameterError

_WRAPPER_PREFIX = "module."
"""What :class:`noisewalk.sites.NoisyModel` puts before the wrapped model's names."""


def mean_abs_weights(model: nn.Module | Mapping[str, Tensor], *, include_norm: bool = False) -> dict[str, float]:
    """Mean |w| of every layer's weight, by layer name (``fc1``, ``layer1.0.conv1``).

    Takes a model or a state dict (e.g. from a checkpoint). Layers are the weights of
    two or more dimensions (convolutions, linear layers); ``include_norm`` adds the
    one-dimensional weights of normalization layers.
    """
    state = model.state_dict() if isinstance(model, nn.Module) else model
    out = {}
    for key, value in state.items():
        if not key.endswith(".weight") or not isinstance(value, Tensor) or not value.is_floating_point():
            continue
        if value.dim() >= 2 or (include_norm and value.dim() == 1):
            name = key.removesuffix(".weight").removeprefix(_WRAPPER_PREFIX)
            out[name] = float(value.detach().abs().mean())
    return out


def average_weights(per_model: list[dict[str, float]]) -> dict[str, float]:
    """Mean over several models of their per-layer mean |w| (layers all of them have)."""
    if not per_model:
        return {}
    names = [n for n in per_model[0] if all(n in m for m in per_model)]
    return {n: sum(m[n] for m in per_model) / len(per_model) for n in names}


def weight_ratio(numerator: Mapping[str, float], denominator: Mapping[str, float]) -> dict[str, float]:
    """Per-layer ratio of mean |w| (e.g. unclamped over clamped), over the layers both have."""
    common = [n for n in numerator if n in denominator]
    if not common:
        raise InvalidParameterError(
            f"the two weight tables share no layer; first has {sorted(numerator)[:5]}, second {sorted(denominator)[:5]}"
        )
    return {n: numerator[n] / denominator[n] if denominator[n] else math.inf for n in common}

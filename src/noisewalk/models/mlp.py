"""MLP: three hidden fully-connected layers of 64 units, ReLU, optional batch-norm."""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn

from noisewalk.models.registry import register_model


class MLP(nn.Sequential):
    """``flatten, (fc_i, [bn_i], relu_i) for each hidden width, classifier``."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: tuple[int, ...] = (64, 64, 64),
        batchnorm: bool = False,
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        width = in_features
        for i, h in enumerate(hidden, start=1):
            layers[f"fc{i}"] = nn.Linear(width, h)
            if batchnorm:
                layers[f"bn{i}"] = nn.BatchNorm1d(h)
            layers[f"relu{i}"] = nn.ReLU()
            width = h
        layers["classifier"] = nn.Linear(width, num_classes)
        super().__init__(layers)


@register_model("mlp")
def mlp(*, num_classes: int, input_shape: tuple[int, int, int], batchnorm: bool | None, hidden=(64, 64, 64)):
    return MLP(math.prod(input_shape), num_classes, tuple(hidden), bool(batchnorm))

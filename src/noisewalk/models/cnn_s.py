"""CNN-S: the small keyword-spotting CNN of "Hello Edge" (Zhang et al., 2017), for MFCCs.

conv 28@10x4 (stride 1), ReLU, conv 30@10x4 (stride 2 in time), ReLU, a linear
bottleneck of 16 units (no activation), FC 128, ReLU, FC classes; "valid" convolutions
as in the original. On 49 frames x 10 coefficients (``speech_commands``) the second
convolution gives 30x16x4. Batch-norm after each convolution and the FC layer is
optional (off by default).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from noisewalk.errors import InvalidParameterError
from noisewalk.models.registry import register_model


class CNNS(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, batchnorm: bool = False) -> None:
        super().__init__()
        c, h, w = input_shape
        if h < 19 or w < 7:
            raise InvalidParameterError(
                f"cnn_s needs inputs of at least 19x7 (time x coefficients); got input_shape={input_shape!r}"
            )
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (cin, cout, stride) in enumerate(((c, 28, (1, 1)), (28, 30, (2, 1))), start=1):
            layers[f"conv{i}"] = nn.Conv2d(cin, cout, (10, 4), stride=stride)
            if batchnorm:
                layers[f"bn{i}"] = nn.BatchNorm2d(cout)
            layers[f"relu{i}"] = nn.ReLU()
        self.features = nn.Sequential(layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *input_shape)).numel()
        head: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten(), linear=nn.Linear(flat, 16))
        head["fc1"] = nn.Linear(16, 128)
        if batchnorm:
            head["bn3"] = nn.BatchNorm1d(128)
        head["relu3"] = nn.ReLU()
        head["fc2"] = nn.Linear(128, num_classes)
        self.classifier = nn.Sequential(head)

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model("cnn_s", example_input=(1, 49, 10))
def cnn_s(*, num_classes: int, input_shape: tuple[int, int, int], batchnorm: bool | None) -> nn.Module:
    return CNNS(input_shape, num_classes, bool(batchnorm))

"""LeNet-5 for any input shape: conv 6@5x5, pool, conv 16@5x5, pool, FC 120, 84, classes.

The first convolution is padded by 2 for inputs smaller than 32x32 (as LeNet-5 is
usually run on 28x28 MNIST), the second where its input is smaller than 10x10, so
MNIST and CIFAR-10 both give the classic 16x5x5 feature map and 8x8 digits still work.
``pooling`` is ``"max"`` (the classic network, WN and HN) or ``"avg"`` (VANT's LeNet-5).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from noisewalk.models.registry import register_model
from noisewalk.validate import check_choice


class LeNet5(nn.Module):
    def __init__(
        self, input_shape: tuple[int, int, int], num_classes: int, batchnorm: bool = False, pooling: str = "max"
    ) -> None:
        super().__init__()
        check_choice("pooling", pooling, ("max", "avg"))
        pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
        c, h, w = input_shape
        pad1 = 2 if min(h, w) < 32 else 0
        pad2 = 2 if (min(h, w) + 2 * pad1 - 4) // 2 < 10 else 0

        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (cin, cout, pad) in enumerate(((c, 6, pad1), (6, 16, pad2)), start=1):
            layers[f"conv{i}"] = nn.Conv2d(cin, cout, 5, padding=pad)
            if batchnorm:
                layers[f"bn{i}"] = nn.BatchNorm2d(cout)
            layers[f"relu{i}"] = nn.ReLU()
            layers[f"pool{i}"] = pool(2)
        self.features = nn.Sequential(layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *input_shape)).numel()
        head: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        for i, (fin, fout) in enumerate(((flat, 120), (120, 84)), start=1):
            j = i + 2  # ReLUs and norms are numbered on from the convolutional part
            head[f"fc{i}"] = nn.Linear(fin, fout)
            if batchnorm:
                head[f"bn{j}"] = nn.BatchNorm1d(fout)
            head[f"relu{j}"] = nn.ReLU()
        head["fc3"] = nn.Linear(84, num_classes)
        self.classifier = nn.Sequential(head)

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model("lenet5")
def lenet5(*, num_classes: int, input_shape: tuple[int, int, int], batchnorm: bool | None, pooling: str = "max"):
    return LeNet5(input_shape, num_classes, bool(batchnorm), pooling)

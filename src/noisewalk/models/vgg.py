"""VGG-11: torchvision's ``vgg11`` (``vgg11_bn`` with ``batchnorm=True``), dropout 0.5.

``small_input=True`` drops the adaptive average pooling to 7x7 (which, on a 32x32
image, copies the 1x1 feature map 49 times) and sizes the first classifier layer to the
feature map as it is: 512 inputs for CIFAR-10 instead of 25,088. The first convolution
is already 3x3 with stride 1. Other channel counts than 3 replace the first convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from noisewalk.models.registry import register_model
from noisewalk.models.torchvision_models import with_in_channels


@register_model("vgg11")
def vgg11(
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    batchnorm: bool | None,
    small_input: bool = False,
    dropout: float = 0.5,
) -> nn.Module:
    import torchvision

    build = torchvision.models.vgg11_bn if batchnorm else torchvision.models.vgg11
    model = build(weights=None, num_classes=num_classes, dropout=dropout)
    model.features[0] = with_in_channels(model.features[0], input_shape[0])
    if small_input:
        with torch.no_grad():
            flat = model.features(torch.zeros(1, *input_shape)).numel()
        model.avgpool = nn.Identity()
        first = model.classifier[0]
        model.classifier[0] = nn.Linear(flat, first.out_features)
        nn.init.normal_(model.classifier[0].weight, 0, 0.01)  # torchvision's initialization of linear layers
        nn.init.zeros_(model.classifier[0].bias)
    return model

"""ResNet-18 and ResNet-50: torchvision's, with options.

* ``batchnorm=False`` replaces every batch-norm layer by identity (as HN trains them);
  ``None`` or ``True`` keeps torchvision's.
* ``small_input=True`` swaps torchvision's ImageNet stem (7x7 stride-2 convolution, then
  3x3 stride-2 max-pool) for a 3x3 stride-1 convolution without max-pool, the usual
  stem for 32x32 images; the max-pool becomes identity (no site).
* Other channel counts than 3 replace the first convolution.
"""

from __future__ import annotations

from torch import nn

from noisewalk.models.registry import register_model
from noisewalk.models.torchvision_models import remove_batchnorm, with_in_channels


def _resnet(
    name: str, num_classes: int, input_shape: tuple[int, int, int], batchnorm: bool | None, small_input: bool
) -> nn.Module:
    import torchvision

    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    if small_input:
        model.conv1 = nn.Conv2d(input_shape[0], model.conv1.out_channels, 3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
        model.maxpool = nn.Identity()
    else:
        model.conv1 = with_in_channels(model.conv1, input_shape[0])
    if batchnorm is False:
        remove_batchnorm(model)
    return model


@register_model("resnet18")
def resnet18(
    *, num_classes: int, input_shape: tuple[int, int, int], batchnorm: bool | None, small_input: bool = False
) -> nn.Module:
    return _resnet("resnet18", num_classes, input_shape, batchnorm, small_input)


@register_model("resnet50")
def resnet50(
    *, num_classes: int, input_shape: tuple[int, int, int], batchnorm: bool | None, small_input: bool = False
) -> nn.Module:
    return _resnet("resnet50", num_classes, input_shape, batchnorm, small_input)

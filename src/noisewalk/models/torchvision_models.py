"""Every torchvision classification model by name, randomly initialized (no downloads)."""

from __future__ import annotations

import functools

from torch import nn

from noisewalk.errors import InvalidParameterError
from noisewalk.models.registry import MODELS


def with_in_channels(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """``conv`` itself, or a fresh convolution like it that takes ``in_channels`` channels."""
    if conv.in_channels == in_channels:
        return conv
    return nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )


def remove_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every batch-norm layer by identity, in place."""
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(model, name, nn.Identity())
        else:
            remove_batchnorm(child)
    return model


@functools.cache
def _classification_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _torchvision_factory(name: str):
    def factory(*, num_classes: int, input_shape: tuple[int, int, int], batchnorm: bool | None, **kwargs):
        import torchvision

        if input_shape[0] != 3:
            raise InvalidParameterError(
                f"torchvision model {name!r} expects 3 input channels; got input_shape={input_shape!r}"
            )
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)
        if batchnorm is False:
            remove_batchnorm(model)
        return model

    return factory


MODELS.add_fallback(_classification_names, _torchvision_factory)

"""``timm:NAME``: any timm model, randomly initialized, for any input size (optional extra ``timm``)."""

from __future__ import annotations

from noisewalk.errors import InvalidParameterError, require
from noisewalk.models.registry import MODELS
from noisewalk.models.torchvision_models import remove_batchnorm
from noisewalk.validate import unknown_name


def _timm_factory(name: str):
    timm = require("timm", "timm", f"the model 'timm:{name}'")
    if not timm.is_model(name):
        raise unknown_name("timm model", name, timm.list_models()) from None

    def factory(*, num_classes: int, input_shape: tuple[int, ...], batchnorm: bool | None, **kwargs):
        if len(input_shape) != 3:
            raise InvalidParameterError(
                f"timm model {name!r} takes images: input_shape must be (channels, height, width); got {input_shape!r}"
            )
        c, h, w = input_shape
        build = dict(pretrained=False, num_classes=num_classes, in_chans=c, **kwargs)
        try:  # transformers and MLP-mixers are built for one image size
            model = timm.create_model(name, img_size=(h, w), **build)
        except TypeError:
            model = timm.create_model(name, **build)
        if batchnorm is False:
            remove_batchnorm(model)
        return model

    return factory


MODELS.add_prefix("timm", _timm_factory)

"""Model registry: ``create_model(name, **kw)`` and ``list_models()``.

Every factory takes the same keywords: ``num_classes``, ``input_shape`` (one sample's
shape: channels, height, width for images; sequence length for token models) and
``batchnorm``. noisewalk's own models are registered by name; every torchvision
classification model name is served too, and with the optional extras ``timm:NAME``
(any timm model) and ``hf:NAME`` (a Hugging Face transformers model type or cached
model id), all randomly initialized without downloads. The model comes with the example
input ``inject`` runs it on to choose its sites (``noisewalk.sites.values.ExampleInput``).
"""

from __future__ import annotations

from torch import nn

from noisewalk.errors import InvalidParameterError
from noisewalk.registry import Registry
from noisewalk.sites.values import EXAMPLE_ATTRIBUTE, ExampleInput
from noisewalk.validate import check_positive_int

MODELS: Registry[nn.Module] = Registry("model")
_EXAMPLE_INPUTS: dict[str, tuple[int, int, int]] = {}


def register_model(name: str | None = None, *, example_input: tuple[int, int, int] = (3, 32, 32)):
    """Decorator: add a factory ``f(*, num_classes, input_shape, batchnorm, **kw)``.

    ``example_input`` is an input shape the model is built for (tests and ``noisewalk
    sites --all`` use it).
    """
    register = MODELS.register(name)

    def decorator(factory):
        _EXAMPLE_INPUTS[name or factory.__name__] = tuple(example_input)
        return register(factory)

    return decorator


def example_input(name: str) -> tuple[int, int, int]:
    """An input shape (channels, height, width) the model ``name`` is built for."""
    MODELS.get(name)  # unknown names list the valid ones
    return _EXAMPLE_INPUTS.get(name, (3, 32, 32))


def create_model(
    name: str,
    *,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    batchnorm: bool | None = None,
    **kwargs,
) -> nn.Module:
    """Create a registered model with random weights.

    ``batchnorm=None`` keeps the model's own default; ``False`` removes normalization
    (replaced by identity), ``True`` adds it where the model offers it.
    """
    factory = MODELS.get(name)
    check_positive_int("num_classes", num_classes, minimum=2)
    if not input_shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape):
        raise InvalidParameterError(
            "input_shape must be positive integers, one sample's shape (channels, height, width for images, "
            f"sequence length for token models); got {input_shape!r}"
        )
    model = factory(num_classes=num_classes, input_shape=tuple(input_shape), batchnorm=batchnorm, **kwargs)
    if not isinstance(getattr(model, EXAMPLE_ATTRIBUTE, None), ExampleInput):
        setattr(model, EXAMPLE_ATTRIBUTE, ExampleInput(tuple(input_shape)))
    return model


def list_models(own: bool = False) -> list[str]:
    """All model names (noisewalk's own first); ``own=True`` lists only noisewalk's."""
    return MODELS.own_names() if own else MODELS.names()


from noisewalk.models import (  # noqa: E402,F401  (registration)
    cnn_s,
    hf_models,
    lenet,
    mlp,
    resnet,
    timm_models,
    torchvision_models,
    vgg,
)

__all__ = ["MODELS", "create_model", "example_input", "list_models", "register_model"]

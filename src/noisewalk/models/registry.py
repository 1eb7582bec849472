"""The model registry: names to factories with one signature, and how to build them."""

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
    # how to build it again: ``noisewalk.save`` writes this instead of pickling the model
    model._noisewalk_recipe = {
        "name": name,
        "num_classes": num_classes,
        "input_shape": list(input_shape),
        "batchnorm": batchnorm,
        "kwargs": dict(kwargs),
    }
    return model


def model_options(name: str) -> list[str] | None:
    """The keyword options a registered model's factory takes beyond the common ones
    (``num_classes``, ``input_shape``, ``batchnorm``), e.g. ``pooling`` for ``lenet5``;
    None when it passes any keyword on (torchvision's models)."""
    import inspect

    factory = MODELS.get(name)
    common = {"num_classes", "input_shape", "batchnorm"}
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover (a factory without a signature)
        return []
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in common]


def list_models(own: bool = False) -> list[str]:
    """All model names (noisewalk's own first); ``own=True`` lists only noisewalk's."""
    return MODELS.own_names() if own else MODELS.names()

"""Model registry: ``create_model(name, **kw)`` and ``list_models()``.

Every factory takes the same keywords: ``num_classes``, ``input_shape`` (channels,
height, width) and ``batchnorm``. noisewalk's own models are registered by name;
every torchvision classification model name is served too (random initialization,
no downloads).
"""

from __future__ import annotations

from noisewalk.models import cnn_s, lenet, mlp, resnet, torchvision_models, vgg  # noqa: F401  (registration)
from noisewalk.models.registry import (
    MODELS,
    create_model,
    example_input,
    list_models,
    model_options,
    register_model,
)

__all__ = ["MODELS", "create_model", "example_input", "list_models", "model_options", "register_model"]

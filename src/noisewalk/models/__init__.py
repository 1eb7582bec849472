"""Model registry: ``create_model(name, **kw)`` and ``list_models()``.

Every factory takes the same keywords: ``num_classes``, ``input_shape`` (one sample's
shape: channels, height, width for images; sequence length for token models) and
``batchnorm``. noisewalk's own models are registered by name; every torchvision
classification model name is served too, and with the optional extras ``timm:NAME``
(any timm model) and ``hf:NAME`` (a Hugging Face transformers model type or cached
model id), all randomly initialized without downloads; ``path/to/file.py:ClassName``
builds a class from a file of your own (``noisewalk.models.from_file``). The model comes with the example
input ``inject`` runs it on to choose its sites (``noisewalk.sites.values.ExampleInput``).
"""

from __future__ import annotations

from noisewalk.models import (  # noqa: F401  (registration)
    cnn_s,
    from_file,
    hf_models,
    lenet,
    mlp,
    resnet,
    timm_models,
    torchvision_models,
    vgg,
)
from noisewalk.models.registry import (
    MODELS,
    create_model,
    example_input,
    list_models,
    model_options,
    register_model,
)

__all__ = ["MODELS", "create_model", "example_input", "list_models", "model_options", "register_model"]

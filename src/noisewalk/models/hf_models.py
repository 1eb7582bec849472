"""``hf:NAME``: Hugging Face transformers models (optional extra ``hf``).

``NAME`` is a model type (``bert``, ``gpt2``, ``vit``, ...: built from the library's
default configuration with random weights, nothing downloaded) or a model id
(``org/name``) whose files are in the local Hugging Face cache (its pretrained weights).
Text models get a sequence-classification head and take token ids of shape
``(batch, input_shape[0])``; vision models get an image-classification head and take
images ``(batch, *input_shape)``. The model returns the logits tensor.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from noisewalk.errors import InvalidParameterError, require
from noisewalk.models.registry import MODELS
from noisewalk.sites.values import EXAMPLE_ATTRIBUTE, ExampleInput
from noisewalk.validate import unknown_name


class Logits(nn.Module):
    """A Hugging Face model called with one input tensor, returning its logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.input_name = model.main_input_name

    def forward(self, x: Tensor) -> Tensor:
        return self.model(**{self.input_name: x}).logits


def _config(transformers: Any, name: str, overrides: dict[str, Any]):
    if "/" in name:
        try:
            return transformers.AutoConfig.from_pretrained(name, local_files_only=True, **overrides), True
        except OSError as exc:
            raise InvalidParameterError(
                f"the Hugging Face model {name!r} is not in the local cache ({exc.__class__.__name__}); "
                f"download it once with transformers, or use a model type such as 'hf:bert' (random weights)"
            ) from None
    from transformers import CONFIG_MAPPING

    if name not in CONFIG_MAPPING:
        raise unknown_name("Hugging Face model type", name, list(CONFIG_MAPPING.keys()))
    return transformers.AutoConfig.for_model(name, **overrides), False


def _hf_factory(name: str):
    transformers = require("transformers", "hf", f"the model 'hf:{name}'")

    def factory(
        *, num_classes: int, input_shape: tuple[int, ...], batchnorm: bool | None, config: dict | None = None
    ) -> nn.Module:
        cfg, cached = _config(transformers, name, dict(config or {}))
        cfg.num_labels = num_classes
        vision = type(cfg) in transformers.AutoModelForImageClassification._model_mapping
        auto = (
            transformers.AutoModelForImageClassification if vision else transformers.AutoModelForSequenceClassification
        )
        if type(cfg) not in auto._model_mapping:
            raise InvalidParameterError(
                f"Hugging Face model type {name!r} has no classification head in transformers; "
                "build the model yourself and pass it to noisewalk.inject(model, example_inputs=...)"
            )
        if not vision and getattr(cfg, "pad_token_id", None) is None:
            cfg.pad_token_id = 0  # sequence classification finds the last token by padding
        model = auto.from_pretrained(name, config=cfg, local_files_only=True) if cached else auto.from_config(cfg)
        wrapped = Logits(model)
        if vision:
            if len(input_shape) != 3:
                raise InvalidParameterError(
                    f"'hf:{name}' takes images: input_shape must be (channels, height, width); got {input_shape!r}"
                )
            setattr(wrapped, EXAMPLE_ATTRIBUTE, ExampleInput(tuple(input_shape)))
        else:
            if len(input_shape) != 1:
                raise InvalidParameterError(
                    f"'hf:{name}' takes token ids: input_shape must be one integer, the sequence length "
                    f"(--input-shape 16); got {input_shape!r}"
                )
            high = min(int(getattr(cfg, "vocab_size", 2) or 2), 1000)
            setattr(wrapped, EXAMPLE_ATTRIBUTE, ExampleInput(tuple(input_shape), torch.long, high))
        return wrapped

    return factory


MODELS.add_prefix("hf", _hf_factory)

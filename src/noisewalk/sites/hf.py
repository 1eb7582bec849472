"""Attention sites in Hugging Face transformers models.

Their attention layers call the function that ``config._attn_implementation`` names in
transformers' ``AttentionInterface``. noisewalk registers one more, ``noisewalk``, that
runs a :class:`~noisewalk.sites.layers.NoisyAttention` held by the calling layer: while
none of its sites is noisy it calls the model's own implementation (``sdpa``, ``eager``,
...), so σ = 0 changes nothing; otherwise it computes the scores, softmax and weighted
sum step by step with noise at each. The layers that call it are found on the example
input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from torch import nn

from noisewalk.sites.layers import NoisyAttention

NAME = "noisewalk"
LAYER = "noisewalk_attention"
_on_call: Callable[[nn.Module, NoisyAttention], None] | None = None  # set while the example runs


def _base_function(module: nn.Module, implementation: str) -> Callable[..., Any]:
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if implementation in (None, "eager") or implementation not in ALL_ATTENTION_FUNCTIONS:
        return sys.modules[type(module).__module__].eager_attention_forward
    return ALL_ATTENTION_FUNCTIONS[implementation]


def noisewalk_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """An ``AttentionInterface`` function: the model's own attention, or, with noise at its
    sites, attention computed step by step."""
    layer = getattr(module, LAYER, None)
    if layer is None:
        if _on_call is None:
            return _base_function(module, module.config.noisewalk_base_attention)(
                module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
            )
        layer = NoisyAttention()
        module.add_module(LAYER, layer)
    if _on_call is not None:
        _on_call(module, layer)
    if not layer.noisy():
        base = _base_function(module, module.config.noisewalk_base_attention)
        return base(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
    causal = kwargs.get("is_causal")
    causal = causal if causal is not None else getattr(module, "is_causal", True)
    causal = query.shape[2] > 1 and attention_mask is None and causal
    mask = attention_mask[:, :, :, : key.shape[-2]] if attention_mask is not None else None
    out = layer(query, key, value, attn_mask=mask, dropout_p=dropout, is_causal=causal, scale=scaling)
    return out.transpose(1, 2).contiguous(), None


def configs(model: nn.Module) -> list[Any]:
    """The transformers configurations of the model's (sub)models."""
    found = []
    for m in model.modules():
        cfg = getattr(m, "config", None)
        if cfg is not None and hasattr(cfg, "_attn_implementation") and all(cfg is not c for c in found):
            found.append(cfg)
    return found


def install(model: nn.Module) -> bool:
    """Route the model's attention through :func:`noisewalk_attention`; False if it is not a
    transformers model."""
    cfgs = configs(model)
    if not cfgs:
        return False
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, noisewalk_attention)
    for cfg in cfgs:
        if cfg._attn_implementation != NAME:
            cfg.noisewalk_base_attention = cfg._attn_implementation
            cfg._attn_implementation = NAME
    return True


class recording:
    """Within the block, layers that call attention get a :class:`NoisyAttention`, and
    ``on_call(layer, attention)`` is called at every call."""

    def __init__(self, on_call: Callable[[nn.Module, NoisyAttention], None]) -> None:
        self.on_call = on_call

    def __enter__(self) -> None:
        global _on_call
        _on_call = self.on_call

    def __exit__(self, *exc: Any) -> None:
        global _on_call
        _on_call = None

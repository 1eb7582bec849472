"""Quantization-aware training through Brevitas: ``quantize(model, bits, act_scaling, scale)``.

``quantize`` turns a float model into a fake-quantized one (uniform quantization, a
straight-through estimator in the backward pass), layer by layer:

* ``Conv1d/2d/3d`` -> Brevitas ``QuantConvNd``, weights with one scale per output channel;
* ``Linear`` -> ``QuantLinear``, weights with one scale per tensor;
* ``ReLU`` -> ``QuantReLU``, an unsigned per-tensor activation quantizer: its outputs are
  ``step * k`` with ``k`` an integer in ``[0, 2**bits - 1]``;
* batch-norm, pooling, flatten, dropout and identity are kept in float (max-pooling of
  quantized values stays on their grid); biases and the network input stay float.

Weights and activations have the same bit width. The activation step is set by
``act_scaling``:

* ``"constant"``: every activation quantizer uses the same fixed step ``scale`` (HN's
  scaling factor ``s``, Brevitas' ``scale``): the largest representable activation is
  ``scale * (2**bits - 1)``; nothing about it is learned;
* ``"dynamic"``: each activation quantizer keeps its own step, set from the statistics of
  its inputs during the first training steps (a running 99.999th percentile over 300
  steps) and learned by gradient descent afterwards (Brevitas' default behaviour).

Brevitas layers are registered as noise-site modules, so ``inject(quantize(model))`` finds
the same sites, with the same names, as ``inject(model)``: after each quantized
activation, each convolution and linear layer, and so on.
"""

from __future__ import annotations

import copy
import logging
from types import ModuleType
from typing import Any, Literal

from torch import nn

from noisewalk.errors import InvalidParameterError, MissingDependencyError, TraceError
from noisewalk.sites.classify import activation_nodes, base_name, node_op, register_site_module
from noisewalk.sites.trace import trace_model
from noisewalk.validate import check_choice, check_range

ACT_SCALINGS = ("dynamic", "constant")
"""How activation quantizers choose their step."""
PAPER_BITS = (4, 8, 16)
"""The bit widths of the HN paper; any width from 2 to 16 is accepted."""

_KEPT_FLOAT: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
)
_QUANTIZED: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.ReLU)
_registered = False


def brevitas() -> ModuleType:
    """The ``brevitas.nn`` module, with its layers registered as noise sites.

    Raises :class:`MissingDependencyError` with the install command when Brevitas is missing.
    """
    global _registered
    # Brevitas imports torch's C++ extension helper, which warns on machines without CUDA
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        import brevitas.nn as qnn
    except ImportError as exc:
        raise MissingDependencyError(
            "quantization-aware training needs Brevitas, which is not installed; "
            "install it with `pip install noisewalk[quant]`"
        ) from exc
    if not _registered:
        for cls, op in (
            (qnn.QuantConv1d, "conv"),
            (qnn.QuantConv2d, "conv"),
            (qnn.QuantConv3d, "conv"),
            (qnn.QuantLinear, "linear"),
            (qnn.QuantReLU, "act"),
        ):
            register_site_module(cls, op)
        _registered = True
    return qnn


def check_quant_args(bits: int, act_scaling: str, scale: float | None) -> float | None:
    """Validate a quantization setting; returns the step (``None`` for dynamic scaling)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise InvalidParameterError(
            f"bits must be an integer from 2 to 16 (the papers use {', '.join(map(str, PAPER_BITS))}); got {bits!r}"
        )
    check_choice("act_scaling", act_scaling, ACT_SCALINGS)
    if act_scaling == "constant":
        if scale is None:
            raise InvalidParameterError("act_scaling='constant' needs scale, the fixed activation step s > 0")
        return check_range("scale", scale, low=0.0, low_open=True)
    if scale is not None:
        raise InvalidParameterError(
            f"scale={scale!r} is only used with act_scaling='constant'; dynamic scaling learns its own steps"
        )
    return None


QUANT_KEYS = ("quant_bits", "act_scaling", "scale")
"""The settings of a quantization variant, as studies and curves record them."""


def quant_label(quant: dict[str, Any] | None) -> str:
    """``fp32`` (no ``quant_bits``), ``8-bit dynamic`` or ``8-bit constant s=8``."""
    if not quant or quant.get("quant_bits") is None:
        return "fp32"
    label = f"{quant['quant_bits']}-bit {quant.get('act_scaling', 'dynamic')}"
    return f"{label} s={quant['scale']:g}" if quant.get("scale") is not None else label


def quantize(
    model: nn.Module,
    bits: int = 8,
    act_scaling: Literal["dynamic", "constant"] = "dynamic",
    scale: float | None = None,
    *,
    inplace: bool = False,
) -> nn.Module:
    """Return ``model`` with Brevitas fake-quantized layers (see the module docstring).

    Args:
        model: a float model made of convolutions, linear layers, ReLU, pooling,
            batch-norm, flatten, dropout and residual additions (any nesting).
        bits: bit width of weights and activations.
        act_scaling: ``"dynamic"`` (per-quantizer learned steps) or ``"constant"``.
        scale: the fixed activation step ``s`` for constant scaling.
        inplace: convert ``model`` itself instead of a deep copy.

    Float weights and biases are copied into the quantized layers. Layers of other types
    (and activations called as functions, where the model can be traced) raise an
    :class:`InvalidParameterError` naming them.
    """
    from noisewalk.sites import NoisyModel

    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if isinstance(model, NoisyModel):
        raise InvalidParameterError("quantize the model before injecting noise: inject(quantize(model), ...)")
    step = check_quant_args(bits, act_scaling, scale)
    qnn = brevitas()
    already = [name for name, m in model.named_modules() if type(m).__module__.startswith("brevitas.")]
    if already:
        raise InvalidParameterError(f"model is already quantized (Brevitas layer at '{already[0] or '<root>'}')")
    unsupported: list[str] = []
    _check_layers(model, "", unsupported)
    unsupported += _functional_layers(model)
    if unsupported:
        raise InvalidParameterError(
            f"quantize cannot convert {len(unsupported)} layer(s): {', '.join(unsupported)}. "
            f"Supported: {', '.join(c.__name__ for c in _QUANTIZED)} (quantized) and "
            f"{', '.join(sorted({c.__name__ for c in _KEPT_FLOAT}))} (kept in float), "
            "as modules, in any nesting, with residual additions."
        )
    if not inplace:
        model = copy.deepcopy(model)
    factory = _LayerFactory(qnn, bits, step)
    _convert(model, factory, {})
    recipe = getattr(model, "_noisewalk_recipe", None)
    if isinstance(recipe, dict):  # rebuilt by noisewalk.load: the registry model, then this
        model._noisewalk_recipe = {**recipe, "quantize": {"bits": bits, "act_scaling": act_scaling, "scale": scale}}
    return model


def act_steps(model: nn.Module) -> dict[str, float]:
    """The current step of every activation quantizer, by module name."""
    qnn = brevitas()
    return {
        name: float(m.act_quant.scale().detach()) for name, m in model.named_modules() if isinstance(m, qnn.QuantReLU)
    }


class _LayerFactory:
    """Builds the Brevitas layer for one float layer, weights copied."""

    def __init__(self, qnn: ModuleType, bits: int, step: float | None) -> None:
        from brevitas.quant import Int8WeightPerChannelFloat, Int8WeightPerTensorFloat, Uint8ActPerTensorFloat

        self.qnn, self.bits = qnn, bits
        self.per_channel, self.per_tensor = Int8WeightPerChannelFloat, Int8WeightPerTensorFloat
        self.act: dict[str, Any] = {"act_quant": Uint8ActPerTensorFloat, "bit_width": bits}
        if step is not None:
            # Brevitas' constant scaling is given as the largest value; its step is that / (2**bits - 1)
            self.act.update(scaling_impl_type="const", max_val=step * (2**bits - 1))

    def __call__(self, layer: nn.Module) -> nn.Module | None:
        kind = type(layer)
        if kind is nn.ReLU:
            return self.qnn.QuantReLU(**self.act)
        if kind is nn.Linear:
            new = self.qnn.QuantLinear(
                layer.in_features,
                layer.out_features,
                bias=layer.bias is not None,
                weight_quant=self.per_tensor,
                weight_bit_width=self.bits,
            )
        elif kind in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
            cls = {nn.Conv1d: self.qnn.QuantConv1d, nn.Conv2d: self.qnn.QuantConv2d, nn.Conv3d: self.qnn.QuantConv3d}
            new = cls[kind](
                layer.in_channels,
                layer.out_channels,
                layer.kernel_size,
                stride=layer.stride,
                padding=layer.padding,
                dilation=layer.dilation,
                groups=layer.groups,
                padding_mode=layer.padding_mode,
                bias=layer.bias is not None,
                weight_quant=self.per_channel,
                weight_bit_width=self.bits,
            )
        else:
            return None
        new.to(device=layer.weight.device, dtype=layer.weight.dtype)
        new.weight.data.copy_(layer.weight.data)
        if layer.bias is not None:
            new.bias.data.copy_(layer.bias.data)
        new.train(layer.training)
        return new


def _check_layers(module: nn.Module, prefix: str, unsupported: list[str]) -> None:
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if type(child) in _QUANTIZED or type(child) in _KEPT_FLOAT:
            continue
        own = [p for p, v in child.named_parameters(recurse=False) if v is not None]
        if any(True for _ in child.children()) and not own:
            _check_layers(child, f"{path}.", unsupported)
        else:
            unsupported.append(f"{path} ({type(child).__name__})")


def _convert(module: nn.Module, factory: _LayerFactory, done: dict[int, nn.Module]) -> None:
    """Replace convertible children, recursively; a module used twice gets one replacement."""
    for name, child in list(module._modules.items()):
        if child is None:
            continue
        if id(child) in done:
            setattr(module, name, done[id(child)])
            continue
        new = factory(child)
        if new is not None:
            done[id(child)] = new
            setattr(module, name, new)
        else:
            _convert(child, factory, done)


def _functional_layers(model: nn.Module) -> list[str]:
    """Activations, convolutions and linear layers called as functions, which quantize
    cannot replace. Found by tracing; models that cannot be traced are not checked."""
    try:
        gm = trace_model(model, ())
    except TraceError:
        return []
    computed = activation_nodes(gm.graph)
    found = []
    for node in gm.graph.nodes:
        if node.op in ("call_function", "call_method") and node in computed:
            if node_op(node, gm, computed) in ("act", "conv", "linear"):
                name, fn = base_name(node, gm)
                found.append(f"{name} (function {fn})")
    return found

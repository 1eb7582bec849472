"""Which operations are noise sites: the operation types, and how a module, a function or
a graph node is classified (conv, linear, act, pool, norm, add, mul, matmul, ...).

A value is a site only if it is a floating-point tensor computed from the model's input:
shape-only operations, non-tensor values (flags, shapes, devices), integer and boolean
tensors (token ids, masks, indices), and arithmetic with constants or parameters are not.
When the graph's values have been recorded on an example input (``node.meta["nw_value"]``,
see :mod:`noisewalk.sites.values`), types decide; without one, the syntax of the graph does.
An embedding lookup of token ids starts the computed values of a token model.
Other layer types can be declared with :func:`register_site_module`.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import activation as _activation
from torch.nn.modules import pooling as _pooling

from noisewalk.validate import check_choice

OP_TYPES = (
    "input",
    "conv",
    "linear",
    "act",
    "pool",
    "norm",
    "add",
    "mul",
    "matmul",
    "output",
    "embed",
    "scores",
    "softmax",
    "attend",
    "attention",
    "gate",
    "state",
)
"""Operation types a site can have; any of them selects all sites of that type.

Attention: ``scores`` (``QKᵀ``, scaled, with its mask or bias), ``softmax`` (the attention
probabilities), ``attend`` (the attention-weighted sum of the values), ``attention`` (a
fused attention call as one site). Recurrent layers: ``gate`` (gate pre-activations) and
``state`` (hidden states). ``embed``: an embedding lookup's output."""

# --- which operations are sites ---------------------------------------------------------

_MODULE_OPS: list[tuple[type[nn.Module], str]] = [
    (nn.modules.conv._ConvNd, "conv"),
    (nn.Linear, "linear"),
    (nn.Bilinear, "linear"),
    (nn.modules.batchnorm._NormBase, "norm"),
    (nn.GroupNorm, "norm"),
    (nn.LayerNorm, "norm"),
    (nn.LocalResponseNorm, "norm"),
    (nn.Embedding, "embed"),
    (nn.EmbeddingBag, "embed"),
]
if hasattr(nn, "RMSNorm"):
    _MODULE_OPS.append((nn.RMSNorm, "norm"))
_MODULE_OPS += [
    (cls, "act")
    for cls in vars(_activation).values()
    if isinstance(cls, type)
    and issubclass(cls, nn.Module)
    and cls.__module__ == _activation.__name__
    and cls is not nn.MultiheadAttention
]
_MODULE_OPS += [
    (cls, "pool")
    for cls in vars(_pooling).values()
    if isinstance(cls, type)
    and issubclass(cls, nn.Module)
    and cls.__module__ == _pooling.__name__
    and not cls.__name__.startswith("_")
]

_ACT_FUNCTIONS = [
    F.relu,
    F.relu_,
    torch.relu,
    torch.relu_,
    F.relu6,
    F.gelu,
    F.silu,
    F.mish,
    F.hardswish,
    F.hardsigmoid,
    F.hardtanh,
    F.leaky_relu,
    F.elu,
    F.selu,
    F.celu,
    F.softplus,
    F.prelu,
    torch.sigmoid,
    F.sigmoid,
    torch.tanh,
    F.tanh,
    F.softmax,
    torch.softmax,
    F.log_softmax,
]
_POOL_FUNCTIONS = [
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d,
    F.adaptive_max_pool1d,
    F.adaptive_max_pool2d,
    F.adaptive_max_pool3d,
]
_FUNCTION_OPS: dict[Any, str] = {
    **{f: "act" for f in _ACT_FUNCTIONS},
    **{f: "pool" for f in _POOL_FUNCTIONS},
    F.conv1d: "conv",
    F.conv2d: "conv",
    F.conv3d: "conv",
    F.linear: "linear",
    F.batch_norm: "norm",
    F.layer_norm: "norm",
    F.group_norm: "norm",
    F.instance_norm: "norm",
    F.embedding: "embed",
    **({F.rms_norm: "norm"} if hasattr(F, "rms_norm") else {}),
    operator.add: "add",
    operator.iadd: "add",
    torch.add: "add",
    operator.mul: "mul",
    operator.imul: "mul",
    torch.mul: "mul",
    operator.matmul: "matmul",
    torch.matmul: "matmul",
    torch.bmm: "matmul",
    torch.mm: "matmul",
}
_METHOD_OPS: dict[str, str] = {
    "relu": "act",
    "relu_": "act",
    "sigmoid": "act",
    "sigmoid_": "act",
    "tanh": "act",
    "tanh_": "act",
    "softmax": "act",
    "log_softmax": "act",
    "add": "add",
    "add_": "add",
    "mul": "mul",
    "mul_": "mul",
    "matmul": "matmul",
    "bmm": "matmul",
}
_BINARY_OPS = {"add", "mul", "matmul"}
# producers of shapes and other non-tensor values: nothing computed from them is a site
_NON_TENSOR_METHODS = {"size", "dim", "numel", "ndimension", "type", "get_device", "tolist", "item"}
_NON_TENSOR_FUNCTIONS = {getattr, len, torch.numel}
# registered layer types are traced as a whole: their output is the site, their inside is not
_REGISTERED_LEAVES: list[type[nn.Module]] = []


def register_site_module(cls: type[nn.Module], op: str) -> None:
    """Declare that the outputs of modules of ``cls`` are sites of type ``op``.

    Later registrations win, so a subclass can be given another type than its base.
    Used for layer types from other libraries (e.g. quantized activations); ``torch.fx``
    keeps such modules whole (as leaf modules) instead of tracing into their ``forward``.
    """
    check_choice("op", op, OP_TYPES)
    _MODULE_OPS.insert(0, (cls, op))
    if cls not in _REGISTERED_LEAVES:
        _REGISTERED_LEAVES.append(cls)


# layers of other libraries known by name (used where they are kept whole: forward hooks)
_NAMED_MODULE_OPS = {
    ("transformers", "Conv1D"): "linear",  # GPT-2's linear layer, weight transposed
}
_ACTIVATION_LIBRARIES = ("transformers.activations", "timm.layers.activations")


def module_op(module: nn.Module) -> str | None:
    for cls, op in _MODULE_OPS:
        if isinstance(module, cls):
            return op
    cls = type(module)
    library = cls.__module__.split(".")[0]
    if (library, cls.__name__) in _NAMED_MODULE_OPS:
        return _NAMED_MODULE_OPS[library, cls.__name__]
    if cls.__module__.startswith(_ACTIVATION_LIBRARIES) and "Linear" not in cls.__name__:
        return "act"
    if cls.__name__.endswith("RMSNorm") or cls.__name__.endswith("LayerNorm"):
        return "norm"
    return None


def registered_leaves() -> tuple[type[nn.Module], ...]:
    """Layer types declared with :func:`register_site_module`, which tracing keeps whole."""
    return tuple(_REGISTERED_LEAVES)


def node_inputs(node: fx.Node) -> list[fx.Node]:
    return list(node.all_input_nodes)


def node_op(node: fx.Node, gm: fx.GraphModule, activations: set[fx.Node]) -> str | None:
    if node.op == "call_module":
        return module_op(gm.get_submodule(node.target))
    if node.op == "call_function":
        op = _FUNCTION_OPS.get(node.target)
    elif node.op == "call_method":
        op = _METHOD_OPS.get(node.target)
    else:
        return None
    if op in _BINARY_OPS:
        # a residual addition or a product of two computed values; not x + 1 or x * scale
        operands = [a for a in node.args if isinstance(a, fx.Node) and a in activations]
        return op if len(operands) >= 2 else None
    return op


_FLOAT_KINDS = ("float", "floats")


def value_kind(node: fx.Node) -> str | None:
    """What the node computed on the example input: ``float`` (a floating-point tensor),
    ``floats`` (a tuple or list holding some), ``int`` (an integer or boolean tensor),
    ``other`` (anything else), or None when no example was run."""
    info = node.meta.get("nw_value")
    return info.kind if info is not None else None


def is_typed(graph: fx.Graph) -> bool:
    return any("nw_value" in n.meta for n in graph.nodes)


def activation_nodes(graph: fx.Graph) -> set[fx.Node]:
    """Nodes whose value is a floating-point tensor computed from the inputs (not a shape,
    a flag, a constant, a mask or token ids)."""
    if is_typed(graph):
        return _typed_activations(graph)
    out: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op == "placeholder":
            out.add(node)
        elif node.op in ("call_module", "call_function", "call_method"):
            if node.op == "call_method" and node.target in _NON_TENSOR_METHODS:
                continue
            if node.op == "call_function" and node.target in _NON_TENSOR_FUNCTIONS:
                continue
            if any(a in out for a in node_inputs(node)):
                out.add(node)
    return out


def _is_embedding(node: fx.Node, graph: fx.Graph) -> bool:
    if node.op == "call_function":
        return node.target is F.embedding
    if node.op == "call_module":
        root = graph.owning_module
        return root is not None and isinstance(root.get_submodule(node.target), (nn.Embedding, nn.EmbeddingBag))
    return False


def _typed_activations(graph: fx.Graph) -> set[fx.Node]:
    out: set[fx.Node] = set()
    ids: set[fx.Node] = set()  # integer tensors computed from the inputs (token ids, indices)
    for node in graph.nodes:
        kind = value_kind(node)
        if node.op == "placeholder":
            if kind in _FLOAT_KINDS:
                out.add(node)
            elif kind == "int":
                ids.add(node)
            continue
        if node.op not in ("call_module", "call_function", "call_method"):
            continue
        inputs = node_inputs(node)
        if kind in _FLOAT_KINDS:
            if any(a in out for a in inputs) or (_is_embedding(node, graph) and any(a in ids for a in inputs)):
                out.add(node)
        elif kind == "int" and any(a in ids or a in out for a in inputs):
            ids.add(node)
    return out


def scope_of(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    return list(stack.keys())[-1].split("@")[0]


def base_name(node: fx.Node, gm: fx.GraphModule) -> tuple[str, str]:
    """(site name without repeat suffix, target description)."""
    if node.op == "placeholder":
        return "input", f"input {node.target}"
    if node.op == "call_module":
        return str(node.target), f"{node.target} ({type(gm.get_submodule(node.target)).__name__})"
    fn = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
    fn = fn.strip("_") or fn
    scope = scope_of(node)
    return (f"{scope}.{fn}" if scope else fn), fn

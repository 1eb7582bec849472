"""Tracing a model with ``torch.fx``, finding its sites in the graph, and placing noise modules there.

A model is traced twice, in training and in evaluation mode: ``torch.fx`` records
``self.training`` as the constant it had while tracing, so one graph would keep stochastic
depth and dropout written as ``if self.training`` in the other mode. Where the two graphs
differ, :class:`ModalGraph` runs the one for the current mode; both share the model's
modules and parameters, and a site found in both has one noise module.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from noisewalk.errors import TraceError
from noisewalk.noise import Noise
from noisewalk.sites.classify import (
    activation_nodes,
    base_name,
    is_typed,
    node_op,
    registered_leaves,
    scope_of,
)
from noisewalk.sites.composite import TRACED_THROUGH
from noisewalk.sites.layers import NoisyAttention, SiteLayer

# --- tracing ----------------------------------------------------------------------------


class SiteTracer(fx.Tracer):
    """An fx tracer that keeps noise modules and site layers as leaves, goes into composite
    ``torch.nn`` layers, and remembers where it failed.

    Constructible without arguments: unpickling a traced model (``torch.load`` of a
    whole :class:`~noisewalk.sites.NoisyModel`) traces it again with its tracer class."""

    def __init__(self, leaf_modules: tuple[type[nn.Module], ...] = ()) -> None:
        super().__init__()
        self.leaf_modules = leaf_modules
        self._nw_stack: list[tuple[str, str]] = []
        self.failed_in: tuple[str, str] | None = None

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, (Noise, SiteLayer, *self.leaf_modules, *registered_leaves())):
            return True
        if type(m) in TRACED_THROUGH:
            return False
        return super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        if type(m) in TRACED_THROUGH and not isinstance(m, self.leaf_modules):
            forward = functools.partial(TRACED_THROUGH[type(m)], m)
        self._nw_stack.append((self.path_of_module(m), type(m).__name__))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = self._nw_stack[-1]
            raise
        finally:
            self._nw_stack.pop()


def fixed_arguments(model: nn.Module, example: Any = None) -> dict[str, Any]:
    """Arguments of ``model.forward`` traced as constants: flags and numbers (``causal=True``,
    ``return_dict=False``), at the value the example inputs give or at their default.
    Tensor arguments, and those defaulting to None (optional tensors), stay inputs."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return {}
    given = example[1] if example is not None else {}
    fixed = {}
    for name, p in params.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name in given and not isinstance(given[name], torch.Tensor):
            fixed[name] = given[name]
        elif name not in given and isinstance(p.default, (bool, int, float, str)):
            fixed[name] = p.default
    return fixed


def _trace_once(
    model: nn.Module, leaf_modules: tuple[type[nn.Module], ...], fixed: dict[str, Any] | None = None
) -> fx.Graph:
    tracer = SiteTracer(leaf_modules)
    try:
        return tracer.trace(model, concrete_args=fixed or None)
    except Exception as exc:
        where = (
            f"module '{tracer.failed_in[0] or '<root>'}' ({tracer.failed_in[1]})"
            if tracer.failed_in
            else f"the forward of {type(model).__name__}"
        )
        reason = (
            f"torch.fx could not trace {type(model).__name__}; it failed in {where}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}."
        )
        err = TraceError(
            f"{reason} Use inject(..., method='hooks') (or the default method='auto') to place noise with "
            "forward hooks on leaf modules instead (functional calls and residual additions are then not "
            "sites), or pass leaf_modules=(ThatModuleClass,) to keep that module whole."
        )
        err.reason = reason
        raise err from exc


def trace_model(model: nn.Module, leaf_modules: tuple[type[nn.Module], ...]) -> fx.GraphModule:
    """The model's graph in evaluation mode."""
    return trace_graphs(model, leaf_modules)[0]


def trace_graphs(
    model: nn.Module, leaf_modules: tuple[type[nn.Module], ...], example: Any = None
) -> list[fx.GraphModule]:
    """The graph in evaluation mode, and the one in training mode where it differs
    (non-tensor arguments fixed as :func:`fixed_arguments` says)."""
    was_training = model.training
    fixed = fixed_arguments(model, example)
    graphs = []
    try:
        for mode in (False, True):
            model.train(mode)
            graphs.append(fx.GraphModule(model, _trace_once(model, leaf_modules, fixed), type(model).__name__))
    finally:
        model.train(was_training)
    for gm in graphs:
        gm.train(was_training)
    same = _normalized_code(graphs[0]) == _normalized_code(graphs[1])
    return graphs[:1] if same else graphs


def _normalized_code(gm: fx.GraphModule) -> str:
    return re.sub(r"_tensor_constant\d+", "_tensor_constant", gm.code)


class ModalGraph(nn.Module):
    """A model whose forward pass differs between training and evaluation mode beyond
    constants: one graph per mode, sharing the model's modules and parameters."""

    def __init__(self, eval_graph: fx.GraphModule, train_graph: fx.GraphModule) -> None:
        super().__init__()
        self.eval_graph = eval_graph
        self.train_graph = train_graph

    def forward(self, *args, **kwargs):
        return (self.train_graph if self.training else self.eval_graph)(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("eval_graph"), name)


def replace_attention(gm: fx.GraphModule, fused: bool) -> None:
    """Replace every call of ``F.scaled_dot_product_attention`` by a :class:`NoisyAttention`
    module registered in the calling module (``blocks.0.attn.sdpa``), whose sites are named
    after it (``blocks.0.attn.scores``)."""
    count: dict[str, int] = {}
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target is not F.scaled_dot_product_attention:
            continue
        scope = scope_of(node)
        k = count.get(scope, 0)
        count[scope] = k + 1
        path = (f"{scope}." if scope else "") + ("sdpa" if k == 0 else f"sdpa_{k}")
        try:
            layer = gm.get_submodule(path)
        except AttributeError:
            layer = NoisyAttention(fused)
            layer.site_prefix = scope + (f"@{k}" if k else "")
            gm.add_submodule(path, layer)
        with gm.graph.inserting_before(node):
            new = gm.graph.call_module(path, node.args, node.kwargs)
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()


# --- finding the sites ------------------------------------------------------------------


@dataclass
class Found:
    """A site: after a graph ``node`` (or, found with hooks, the output of the module ``node``),
    or inside the site layer ``layer`` (its inner site ``inner``)."""

    node: fx.Node | nn.Module | None
    name: str
    op: str
    target: str
    batch_dim: int = 0
    layer: SiteLayer | None = None
    inner: int = 0


_SOFTMAX = {F.softmax, torch.softmax, "softmax"}


def _is_softmax(node: fx.Node, gm: fx.GraphModule) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), nn.Softmax)
    return node.op in ("call_function", "call_method") and node.target in _SOFTMAX


def _attention_roles(gm: fx.GraphModule, ops: dict[fx.Node, str], activations: set[fx.Node]) -> dict[fx.Node, str]:
    """Attention written out with matmuls: ``softmax(QKᵀ ...) @ V``. The product feeding a
    softmax (through scaling, masks, biases, casts) is ``scores``; that softmax is
    ``softmax``; the product it feeds (through dropout, casts) is ``attend``."""
    roles: dict[fx.Node, str] = {}
    for sm in [n for n in ops if _is_softmax(n, gm)]:
        node, scores = sm, None
        for _ in range(8):
            inputs = [a for a in node.all_input_nodes if a in activations]
            if len(inputs) != 1:
                break
            node = inputs[0]
            if ops.get(node) == "matmul":
                scores = node
                break
            if node in ops:
                break
        if scores is None:
            continue
        roles[scores], roles[sm] = "scores", "softmax"
        frontier = [sm]
        for _ in range(4):
            nxt = []
            for n in frontier:
                for user in n.users:
                    if ops.get(user) == "matmul" and user.args and user.args[0] is n:
                        roles[user] = "attend"
                    elif user not in ops and user in activations:
                        nxt.append(user)
            frontier = nxt
    return roles


def discover_fx(gm: fx.GraphModule, batchnorm: bool) -> list[Found]:
    activations = activation_nodes(gm.graph)
    typed = is_typed(gm.graph)

    def info(node: fx.Node) -> tuple[bool, int]:
        """Whether the node's value can carry a site, and its batch dimension."""
        if not typed:
            return True, 0
        value = node.meta.get("nw_value")
        ok = value is not None and value.kind == "float" and value.batch_dim is not None
        return ok, (value.batch_dim if ok else 0)

    ops: dict[fx.Node, str] = {}
    for node in gm.graph.nodes:
        if node in activations and node.op != "placeholder":
            op = node_op(node, gm, activations)
            if op is not None:
                ops[node] = op
    roles = _attention_roles(gm, ops, activations)
    ops.update(roles)

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder" and n in activations]
    found: list[Found] = []
    seen: dict[str, int] = {}
    layers_seen: set[int] = set()

    def add(node: fx.Node, base: str, op: str, target: str, batch_dim: int, **kw: Any) -> None:
        k = seen.get(base, 0)
        seen[base] = k + 1
        found.append(Found(node, base if k == 0 else f"{base}@{k}", op, target, batch_dim, **kw))

    for node in placeholders:
        ok, bdim = info(node)
        if not ok:
            continue
        base, target = base_name(node, gm)
        if len(placeholders) > 1:
            base = f"input.{node.target}"
        add(node, base, "input", target, bdim)
    site_nodes = set(placeholders)
    for node in gm.graph.nodes:
        if node.op == "output":
            result = node.args[0]
            if isinstance(result, fx.Node) and result in activations and result not in site_nodes:
                ok, bdim = info(result)
                if ok:
                    add(result, "output", "output", "model output", bdim)
            continue
        if node.op == "call_module" and isinstance(layer := gm.get_submodule(node.target), SiteLayer):
            if id(layer) in layers_seen:
                continue  # called again: its sites are already listed
            layers_seen.add(id(layer))
            prefix = getattr(layer, "site_prefix", None)
            prefix = str(node.target) if prefix is None else prefix
            for i, (suffix, op) in enumerate(layer.inner_sites):
                if op == "norm" and not batchnorm:
                    continue
                name = f"{prefix}.{suffix}" if prefix else suffix
                add(node, name, op, f"{node.target} ({type(layer).__name__}: {suffix})", 0, layer=layer, inner=i)
            continue
        op = ops.get(node)
        if op is None or (op == "norm" and not batchnorm):
            continue
        ok, bdim = info(node)
        if not ok:
            continue
        base, target = base_name(node, gm)
        if op in ("scores", "attend") and node.op != "call_module":
            scope = scope_of(node)
            base = f"{scope}.{op}" if scope else op
        add(node, base, op, target, bdim)
        site_nodes.add(node)
    return found


# producers whose output is a fresh tensor that their backward does not need: noise may
# be added to it in place (nothing else holds it once the graph routes it to the noise)
_FRESH_OUTPUT_MODULES = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.Linear,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
)
_FRESH_OUTPUT_FUNCTIONS = {
    F.conv1d,
    F.conv2d,
    F.conv3d,
    F.linear,
    operator.add,
    torch.add,
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d,
}


def owns_output(node: fx.Node, gm: fx.GraphModule) -> bool:
    if node.op == "call_module":
        module = gm.get_submodule(node.target)
        return type(module) in _FRESH_OUTPUT_MODULES and not module._forward_hooks
    return node.op == "call_function" and node.target in _FRESH_OUTPUT_FUNCTIONS


def place_fx(gm: fx.GraphModule, found: list[Found], noises: list[Noise]) -> None:
    """Insert the noise modules after their nodes (sites inside site layers are attached to
    the layer by the caller; whether noise may be added in place is set by the caller, from
    :func:`owns_output` in every graph the site is in)."""
    gm.add_submodule("noise_sites", nn.ModuleList(noises))
    graph = gm.graph
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    for i, f in enumerate(found):
        if f.layer is not None:
            continue
        anchor = placeholders[-1] if f.node.op == "placeholder" else f.node
        with graph.inserting_after(anchor):
            noisy = graph.call_module(f"noise_sites.{i}", (f.node,))
        f.node.replace_all_uses_with(noisy, delete_user_cb=lambda user, noisy=noisy: user is not noisy)
    graph.lint()
    gm.recompile()

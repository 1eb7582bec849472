"""Tracing a model with ``torch.fx``, finding its sites in the graph, and placing noise modules there."""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from noisewalk.errors import TraceError
from noisewalk.noise import Noise
from noisewalk.sites.classify import activation_nodes, base_name, node_op, registered_leaves

# --- tracing ----------------------------------------------------------------------------


class SiteTracer(fx.Tracer):
    """An fx tracer that keeps noise modules as leaves and remembers where it failed.

    Constructible without arguments: unpickling a traced model (``torch.load`` of a
    whole :class:`~noisewalk.sites.NoisyModel`) traces it again with its tracer class."""

    def __init__(self, leaf_modules: tuple[type[nn.Module], ...] = ()) -> None:
        super().__init__()
        self.leaf_modules = leaf_modules
        self._nw_stack: list[tuple[str, str]] = []
        self.failed_in: tuple[str, str] | None = None

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, (Noise, *self.leaf_modules, *registered_leaves())):
            return True
        return super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        self._nw_stack.append((self.path_of_module(m), type(m).__name__))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = self._nw_stack[-1]
            raise
        finally:
            self._nw_stack.pop()


def trace_model(model: nn.Module, leaf_modules: tuple[type[nn.Module], ...]) -> fx.GraphModule:
    tracer = SiteTracer(leaf_modules)
    try:
        graph = tracer.trace(model)
    except Exception as exc:
        where = (
            f"module '{tracer.failed_in[0] or '<root>'}' ({tracer.failed_in[1]})"
            if tracer.failed_in
            else f"the forward of {type(model).__name__}"
        )
        raise TraceError(
            f"torch.fx could not trace {type(model).__name__}; it failed in {where}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            "Use inject(..., method='hooks') to place noise with forward hooks on leaf "
            "modules instead (functional calls and residual additions are then not sites), "
            "or pass leaf_modules=(ThatModuleClass,) to keep that module whole."
        ) from exc
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def discover_fx(gm: fx.GraphModule, batchnorm: bool) -> list[tuple[fx.Node, str, str, str]]:
    activations = activation_nodes(gm.graph)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    found: list[tuple[fx.Node, str, str, str]] = []
    seen: dict[str, int] = {}

    def add(node: fx.Node, base: str, op: str, target: str) -> None:
        k = seen.get(base, 0)
        seen[base] = k + 1
        found.append((node, base if k == 0 else f"{base}@{k}", op, target))

    for node in placeholders:
        base, target = base_name(node, gm)
        if len(placeholders) > 1:
            base = f"input.{node.target}"
        add(node, base, "input", target)
    site_nodes = set(placeholders)
    for node in gm.graph.nodes:
        if node.op == "output":
            result = node.args[0]
            if isinstance(result, fx.Node) and result in activations and result not in site_nodes:
                add(result, "output", "output", "model output")
            continue
        if node not in activations or node.op == "placeholder":
            continue
        op = node_op(node, gm, activations)
        if op is None or (op == "norm" and not batchnorm):
            continue
        base, target = base_name(node, gm)
        add(node, base, op, target)
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


def _owns_output(node: fx.Node, gm: fx.GraphModule) -> bool:
    if node.op == "call_module":
        module = gm.get_submodule(node.target)
        return type(module) in _FRESH_OUTPUT_MODULES and not module._forward_hooks
    return node.op == "call_function" and node.target in _FRESH_OUTPUT_FUNCTIONS


def place_fx(gm: fx.GraphModule, found, noises: nn.ModuleList) -> None:
    gm.add_submodule("noise_sites", noises)
    graph = gm.graph
    last_placeholder = [n for n in graph.nodes if n.op == "placeholder"][-1]
    for noise, (node, *_rest) in zip(noises, found, strict=True):
        noise.inplace = _owns_output(node, gm)
    for i, (node, *_rest) in enumerate(found):
        anchor = last_placeholder if node.op == "placeholder" else node
        with graph.inserting_after(anchor):
            noisy = graph.call_module(f"noise_sites.{i}", (node,))
        node.replace_all_uses_with(noisy, delete_user_cb=lambda user, noisy=noisy: user is not noisy)
    graph.lint()
    gm.recompile()

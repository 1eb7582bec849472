"""Find the noise sites of any traceable model and place noise there.

``inject(model, ...)`` traces the model with ``torch.fx``, decides which nodes of the
graph compute values (the network input, convolutions, linear layers, activations,
pooling, residual additions and products, the logits; normalization by option), inserts
one noise module after each, and returns a :class:`NoisyModel` whose ``sites`` list
them by name, index and operation type. Shape-only operations (flatten, reshape, view,
cat) and dropout are not sites.

Where nothing but the noise holds a site's value (the fresh output of a built-in
convolution, linear, pooling or batch-norm layer, or of an addition), additive noise is
added to it in place, saving a copy per site; a forward hook that keeps such a layer's
output therefore sees it with the noise.

Models that ``torch.fx`` cannot trace (data-dependent control flow, say) get a
:class:`TraceError` naming the module where tracing failed. ``method="hooks"`` is the
fallback: noise is placed with forward hooks on leaf modules of known kinds; functional
calls and residual additions are then not sites, and sites are ordered as the modules
are registered, not as they execute.
"""

from __future__ import annotations

import copy
import fnmatch
import operator
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules import activation as _activation
from torch.nn.modules import pooling as _pooling

from noisewalk.errors import InvalidParameterError, TraceError
from noisewalk.noise.types import Noise, create_noise
from noisewalk.validate import check_choice, check_positive_int, check_sigma, unknown_name

OP_TYPES = ("input", "conv", "linear", "act", "pool", "norm", "add", "mul", "matmul", "output")
"""Operation types a site can have; any of them selects all sites of that type."""

SiteSelector = int | str | Sequence[int | str] | None


@dataclass(frozen=True)
class Site:
    """One place where noise is injected: the output of one operation."""

    index: int
    name: str
    op: str
    target: str
    """What computes the value: a module path with its class, or a function name."""


# --- which operations are sites ---------------------------------------------------------

_MODULE_OPS: list[tuple[type[nn.Module], str]] = [
    (nn.modules.conv._ConvNd, "conv"),
    (nn.Linear, "linear"),
    (nn.Bilinear, "linear"),
    (nn.modules.batchnorm._NormBase, "norm"),
    (nn.GroupNorm, "norm"),
    (nn.LayerNorm, "norm"),
    (nn.LocalResponseNorm, "norm"),
]
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


def module_op(module: nn.Module) -> str | None:
    for cls, op in _MODULE_OPS:
        if isinstance(module, cls):
            return op
    return None


# --- the injected model -----------------------------------------------------------------


class NoisyModel(nn.Module):
    """A model with a noise module at each site.

    ``sites`` lists the sites; ``set_sigma`` sets the noise level globally, for one
    site, or for any subset chosen by name, index, operation type or glob pattern.
    """

    def __init__(self, module: nn.Module, sites: list[Site], noises: nn.ModuleList, method: str):
        super().__init__()
        self.module = module
        self.method = method
        self._sites = tuple(sites)
        if method == "hooks":
            self.noise_sites = noises  # hooks close over these modules
        else:
            object.__setattr__(self, "_noises", noises)  # already a submodule of the graph

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @property
    def sites(self) -> tuple[Site, ...]:
        return self._sites

    @property
    def noises(self) -> nn.ModuleList:
        """The noise modules, one per site, in site order."""
        return self.noise_sites if self.method == "hooks" else self._noises

    def noise_at(self, site: int | str) -> Noise:
        """The noise module of one site."""
        chosen = self.select(site)
        if len(chosen) != 1:
            raise InvalidParameterError(f"noise_at needs exactly one site; {site!r} chooses {len(chosen)}")
        return self.noises[chosen[0]]

    # -- choosing sites --
    def _check_index(self, i: int) -> int:
        if not -len(self._sites) <= i < len(self._sites):
            raise InvalidParameterError(
                f"site index {i} is out of range; this model has {len(self._sites)} sites (0..{len(self._sites) - 1})"
            )
        return i % len(self._sites)

    def select(self, sites: SiteSelector | Site = None) -> list[int]:
        """Indices of the sites chosen by ``sites``.

        ``None`` chooses all. Otherwise an int (index), a site name, an operation type
        from ``OP_TYPES``, a glob pattern over names (``"layer1.*"``), a :class:`Site`,
        or a list mixing them.
        """
        if sites is None:
            return list(range(len(self._sites)))
        items = [sites] if isinstance(sites, (int, str, Site)) else list(sites)
        names = {s.name: s.index for s in self._sites}
        chosen: set[int] = set()
        for item in items:
            if isinstance(item, Site):
                item = item.index
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise InvalidParameterError(f"a site is chosen by index, name or operation type; got {item!r}")
            if isinstance(item, int):
                chosen.add(self._check_index(item))
            elif item in names:
                chosen.add(names[item])
            elif item in OP_TYPES:
                chosen.update(s.index for s in self._sites if s.op == item)
            elif any(c in item for c in "*?["):
                matched = [s.index for s in self._sites if fnmatch.fnmatchcase(s.name, item)]
                if not matched:
                    raise unknown_name("site", item, list(names) + list(OP_TYPES))
                chosen.update(matched)
            else:
                raise unknown_name("site", item, list(names) + list(OP_TYPES))
        return sorted(chosen)

    # -- noise levels --
    def set_sigma(
        self, sigma: float | Tensor, sites: SiteSelector = None, *, others: float | None = None
    ) -> NoisyModel:
        """Set the noise level at the chosen sites (all by default).

        ``others``, when given, is the level set at every site not chosen; walking noise
        is ``set_sigma(s, sites=i, others=0.0)``. ``sigma`` may be a 1-D tensor with one
        level per sample of the batch.
        """
        sigma = check_sigma("sigma", sigma)
        chosen = set(self.select(sites))
        if others is not None:
            others = check_sigma("others", others)
        for i, noise in enumerate(self.noises):
            if i in chosen:
                noise.sigma = sigma
            elif others is not None:
                noise.sigma = others
        return self

    @property
    def sigmas(self) -> dict[str, float | Tensor]:
        """The current noise level of every site, by name."""
        return {s.name: n.sigma for s, n in zip(self._sites, self.noises, strict=True)}

    def walk(self, sigma: float) -> Iterator[Site]:
        """Walking noise: yields each site in turn with only that site at ``sigma``.

        All levels are zero when the iteration ends.
        """
        try:
            for site in self._sites:
                self.set_sigma(sigma, site.index, others=0.0)
                yield site
        finally:
            self.set_sigma(0.0)

    def set_executions(self, executions: int, sites: SiteSelector = None) -> NoisyModel:
        """Repeated execution at the chosen sites (all by default): each noisy operation runs
        ``executions`` times and the outputs are averaged (see :class:`~noisewalk.noise.types.Noise`)."""
        check_positive_int("executions", executions)
        for i in self.select(sites):
            self.noises[i].executions = executions
        return self

    def set_noise_mode(self, *, in_train: bool | None = None, in_eval: bool | None = None) -> NoisyModel:
        """Switch noise on or off in training and in evaluation mode."""
        for noise in self.noises:
            if in_train is not None:
                noise.in_train = in_train
            if in_eval is not None:
                noise.in_eval = in_eval
        return self

    @contextmanager
    def inputs_owned(self) -> Iterator[None]:
        """Within the block, noise at the model's input is added to the input tensor itself.

        For loops whose batches are fresh tensors that nothing else reads afterwards, such
        as those of noisewalk's loaders (``train`` and ``evaluate`` use this): it saves a
        copy of every batch."""
        chosen = [self.noises[i] for i in self.select("input")]
        saved = [noise.inplace for noise in chosen]
        for noise in chosen:
            noise.inplace = True
        try:
            yield
        finally:
            for noise, inplace in zip(chosen, saved, strict=True):
                noise.inplace = inplace

    def site_table(self) -> list[dict[str, Any]]:
        """The sites as plain rows (index, name, op, target, sigma), for printing or JSON."""
        rows = []
        for s, n in zip(self._sites, self.noises, strict=True):
            level = n.sigma if isinstance(n.sigma, float) else "per-sample"
            rows.append({"index": s.index, "name": s.name, "op": s.op, "target": s.target, "sigma": level})
        return rows


# --- tracing ----------------------------------------------------------------------------


class _SiteTracer(fx.Tracer):
    """An fx tracer that keeps noise modules as leaves and remembers where it failed."""

    def __init__(self, leaf_modules: tuple[type[nn.Module], ...]) -> None:
        super().__init__()
        self.leaf_modules = leaf_modules
        self._nw_stack: list[tuple[str, str]] = []
        self.failed_in: tuple[str, str] | None = None

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, (Noise, *self.leaf_modules, *_REGISTERED_LEAVES)):
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


def _trace(model: nn.Module, leaf_modules: tuple[type[nn.Module], ...]) -> fx.GraphModule:
    tracer = _SiteTracer(leaf_modules)
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


def _node_inputs(node: fx.Node) -> list[fx.Node]:
    return list(node.all_input_nodes)


def _node_op(node: fx.Node, gm: fx.GraphModule, activations: set[fx.Node]) -> str | None:
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


def _activation_nodes(graph: fx.Graph) -> set[fx.Node]:
    """Nodes whose value is a tensor computed from the inputs (not a shape or a constant)."""
    out: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op == "placeholder":
            out.add(node)
        elif node.op in ("call_module", "call_function", "call_method"):
            if node.op == "call_method" and node.target in _NON_TENSOR_METHODS:
                continue
            if node.op == "call_function" and node.target in _NON_TENSOR_FUNCTIONS:
                continue
            if any(a in out for a in _node_inputs(node)):
                out.add(node)
    return out


def _scope_of(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    return list(stack.keys())[-1].split("@")[0]


def _base_name(node: fx.Node, gm: fx.GraphModule) -> tuple[str, str]:
    """(site name without repeat suffix, target description)."""
    if node.op == "placeholder":
        return "input", f"input {node.target}"
    if node.op == "call_module":
        return str(node.target), f"{node.target} ({type(gm.get_submodule(node.target)).__name__})"
    fn = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
    fn = fn.strip("_") or fn
    scope = _scope_of(node)
    return (f"{scope}.{fn}" if scope else fn), fn


def _discover_fx(gm: fx.GraphModule, batchnorm: bool) -> list[tuple[fx.Node, str, str, str]]:
    activations = _activation_nodes(gm.graph)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    found: list[tuple[fx.Node, str, str, str]] = []
    seen: dict[str, int] = {}

    def add(node: fx.Node, base: str, op: str, target: str) -> None:
        k = seen.get(base, 0)
        seen[base] = k + 1
        found.append((node, base if k == 0 else f"{base}@{k}", op, target))

    for node in placeholders:
        base, target = _base_name(node, gm)
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
        op = _node_op(node, gm, activations)
        if op is None or (op == "norm" and not batchnorm):
            continue
        base, target = _base_name(node, gm)
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


def _place_fx(gm: fx.GraphModule, found, noises: nn.ModuleList) -> None:
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


def _discover_hooks(model: nn.Module, batchnorm: bool) -> list[tuple[str, str, str, nn.Module]]:
    found = [("input", "input", "model input", model)]
    for name, module in model.named_modules():
        if name == "" or any(True for _ in module.children()):
            continue
        op = module_op(module)
        if op is None or (op == "norm" and not batchnorm):
            continue
        found.append((name, op, f"{name} ({type(module).__name__})", module))
    return found


def _place_hooks(model: nn.Module, found, noises: nn.ModuleList) -> None:
    for (_name, op, _target, module), noise in zip(found, noises, strict=True):
        if op == "input":

            def pre_hook(_m, args, kwargs, noise=noise):
                return (noise(args[0]), *args[1:]), kwargs

            module.register_forward_pre_hook(pre_hook, with_kwargs=True)
        else:
            module.register_forward_hook(lambda _m, _inp, out, noise=noise: noise(out))


def _make_noise(noise: str | Noise | type[Noise], sigma: float, kwargs: dict[str, Any]) -> Noise:
    if isinstance(noise, Noise):
        made = copy.deepcopy(noise)
        made.sigma = sigma
        return made
    if isinstance(noise, type) and issubclass(noise, Noise):
        return noise(sigma, **kwargs)
    return create_noise(noise, sigma=sigma, **kwargs)


def inject(
    model: nn.Module,
    noise: str | Noise | type[Noise] = "additive",
    sigma: float = 0.0,
    *,
    sites: SiteSelector = None,
    exclude: SiteSelector = None,
    batchnorm: bool = False,
    method: Literal["fx", "hooks"] = "fx",
    inplace: bool = False,
    leaf_modules: Iterable[type[nn.Module]] = (),
    **noise_kwargs: Any,
) -> NoisyModel:
    """Return ``model`` with a noise module at every site.

    Args:
        model: any ``nn.Module``; with ``method="fx"`` it must be traceable by ``torch.fx``.
        noise: a noise type name (see ``list_noises()``), a :class:`Noise` instance used
            as a template, or a :class:`Noise` subclass.
        sigma: the starting noise level at the sites chosen by ``sites``; the others start at 0.
        sites: which sites start at ``sigma`` (index, name, operation type, glob, or a list).
        exclude: sites to leave out entirely (no noise module, not listed).
        batchnorm: whether normalization outputs are sites.
        method: ``"fx"`` (trace the graph) or ``"hooks"`` (forward hooks on leaf modules).
        inplace: modify ``model`` itself instead of a deep copy.
        leaf_modules: module classes to keep whole when tracing.
        noise_kwargs: passed to the noise type (``straight_through``, ``in_train``,
            ``in_eval``, ``ratio`` for ``combined``, ...).
    """
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if isinstance(model, NoisyModel):
        raise InvalidParameterError("model already has noise injected; pass its .module to inject again")
    check_choice("method", method, ("fx", "hooks"))
    sigma = check_sigma("sigma", sigma)
    template = _make_noise(noise, 0.0, noise_kwargs)  # validates the name and kwargs early
    if not inplace:
        model = copy.deepcopy(model)

    if method == "fx":
        gm = _trace(model, tuple(leaf_modules))
        found = _discover_fx(gm, batchnorm)
        names = [(name, op, target) for _node, name, op, target in found]
    else:
        gm = model
        found = _discover_hooks(model, batchnorm)
        names = [(name, op, target) for name, op, target, _m in found]

    all_sites = [Site(i, n, op, t) for i, (n, op, t) in enumerate(names)]
    probe = NoisyModel(nn.Identity(), all_sites, nn.ModuleList(), "hooks")
    dropped = set(probe.select(exclude)) if exclude is not None else set()
    keep = [i for i in range(len(all_sites)) if i not in dropped]
    found = [found[i] for i in keep]
    site_list = [Site(j, all_sites[i].name, all_sites[i].op, all_sites[i].target) for j, i in enumerate(keep)]
    if not site_list:
        raise InvalidParameterError("no noise sites are left in this model (all excluded or none found)")
    noises = nn.ModuleList(_make_noise(template, 0.0, {}) for _ in site_list)
    if method == "fx":
        _place_fx(gm, found, noises)
    else:
        _place_hooks(gm, found, noises)
    noisy = NoisyModel(gm, site_list, noises, method)
    noisy.train(model.training)
    if sigma:
        noisy.set_sigma(sigma, sites)
    else:
        noisy.select(sites)  # validate the selection even at sigma 0
    return noisy

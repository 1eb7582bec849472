"""Find the noise sites of any model and place noise there.

``inject(model, ...)`` traces the model with ``torch.fx`` (in training and in evaluation
mode), runs the graph once on an example input to learn which values are floating-point
tensors computed from the input and which dimension holds the samples, decides which
nodes are sites (the network input, embeddings, convolutions, linear layers, attention
scores, softmax and weighted sums, activations, pooling, residual additions and
products, the logits; normalization by option), inserts one noise module after each, and
returns a :class:`NoisyModel` whose ``sites`` list them by name, index and operation type.
Shape-only operations (flatten, reshape, view, cat), dropout, non-tensor values, integer
and boolean tensors (token ids, masks) are never sites.

``nn.MultiheadAttention``, ``nn.LSTM`` and ``nn.GRU`` are replaced by site layers
(:mod:`noisewalk.sites.layers`) with sites inside; ``nn.Transformer*`` layers are traced
through; ``F.scaled_dot_product_attention`` becomes three sites (``attention="decompose"``)
or one (``"fused"``).

Where nothing but the noise holds a site's value (the fresh output of a built-in
convolution, linear, pooling or batch-norm layer, or of an addition), additive noise is
added to it in place, saving a copy per site.

Models that ``torch.fx`` cannot trace (data-dependent control flow, say) get noise with
forward hooks (``method="auto"`` does so with a warning naming the reason): the sites are
then the outputs of leaf layers of known kinds, the site layers' inner sites, and the
first floating-point input; functional calls and residual additions are not sites.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from typing import Any, Literal

from torch import nn

from noisewalk.errors import InvalidParameterError, TraceError
from noisewalk.noise import Noise, create_noise
from noisewalk.sites.hooks import discover_hooks, example_failed, place_hooks
from noisewalk.sites.layers import SiteLayer, wrap_layers
from noisewalk.sites.model import NoisyModel, Site, SiteSelector, select_sites
from noisewalk.sites.trace import (
    Found,
    ModalGraph,
    discover_fx,
    owns_output,
    place_fx,
    replace_attention,
    trace_graphs,
)
from noisewalk.sites.values import Example, as_example, derive_example, on_device_of, record_values
from noisewalk.validate import check_choice, check_sigma

# --- inject -----------------------------------------------------------------------------


def _qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _noise_name(noise: Noise) -> str:
    """The registered name of the noise type, else its class as ``module:QualName``."""
    from noisewalk.noise.types import NOISES

    for name in NOISES.own_names():
        if NOISES.get(name) is type(noise):
            return name
    return _qualified(type(noise))


def _make_noise(noise: str | Noise | type[Noise], sigma: float, kwargs: dict[str, Any]) -> Noise:
    if isinstance(noise, Noise):
        made = copy.deepcopy(noise)
        made.sigma = sigma
        return made
    if isinstance(noise, type) and issubclass(noise, Noise):
        return noise(sigma, **kwargs)
    return create_noise(noise, sigma=sigma, **kwargs)


def _fx_sites(
    model: nn.Module,
    leaf_modules: tuple[type[nn.Module], ...],
    example: Example | None,
    given: bool,
    batchnorm: bool,
    attention: str,
) -> tuple[list[Any], list[list[Found]]]:
    graphs = trace_graphs(model, leaf_modules, example)
    for gm in graphs:
        replace_attention(gm, fused=attention == "fused")
    if example is not None:
        try:
            record_values(graphs, example)
        except Exception as exc:
            if given:
                raise example_failed(exc) from exc
            for gm in graphs:
                for node in gm.graph.nodes:
                    node.meta.pop("nw_value", None)
            warnings.warn(
                f"{type(model).__name__} fails on the example input noisewalk made for it ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); sites are chosen from the graph alone. "
                "Pass example_inputs= so that only floating-point tensors become sites.",
                stacklevel=3,
            )
    return graphs, [discover_fx(gm, batchnorm) for gm in graphs]


def inject(
    model: nn.Module,
    noise: str | Noise | type[Noise] = "additive",
    sigma: float = 0.0,
    *,
    sites: SiteSelector = None,
    exclude: SiteSelector = None,
    batchnorm: bool = False,
    method: Literal["auto", "fx", "hooks"] = "auto",
    inplace: bool = False,
    leaf_modules: Iterable[type[nn.Module]] = (),
    example_inputs: Any = None,
    attention: Literal["decompose", "fused"] = "decompose",
    rnn: Literal["steps", "output"] = "steps",
    **noise_kwargs: Any,
) -> NoisyModel:
    """Return ``model`` with a noise module at every site.

    Args:
        model: any ``nn.Module``.
        noise: a noise type name (see ``list_noises()``), a :class:`Noise` instance used
            as a template, or a :class:`Noise` subclass.
        sigma: the starting noise level at the sites chosen by ``sites``; the others start at 0.
        sites: which sites start at ``sigma`` (index, name, operation type, glob, or a list).
        exclude: sites to leave out entirely (no noise module, not listed).
        batchnorm: whether normalization outputs (batch-, layer-, group-, RMS-norm) are sites.
        method: ``"fx"`` (trace the graph), ``"hooks"`` (forward hooks on leaf layers) or
            ``"auto"``: fx, and hooks with a warning where fx cannot trace the model.
        inplace: modify ``model`` itself instead of a deep copy.
        leaf_modules: module classes to keep whole when tracing.
        example_inputs: what the model is called with: a tensor, a tuple of positional
            inputs or a dict of keyword inputs (any batch size; the batch first). Sites are
            then chosen by the values' types. Default: derived for models from
            ``create_model``, Hugging Face and timm; without one, from the graph's syntax.
        attention: ``"decompose"``: ``F.scaled_dot_product_attention`` gives three sites
            (``scores``, ``softmax``, ``attend``); ``"fused"``: one (``attention``).
        rnn: ``"steps"``: LSTM/GRU sites at gate pre-activations and hidden states of every
            time step; ``"output"``: one site at each recurrent layer's output.
        noise_kwargs: passed to the noise type (``straight_through``, ``in_train``,
            ``in_eval``, ``ratio`` for ``combined``, ...).
    """
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if isinstance(model, NoisyModel):
        raise InvalidParameterError("model already has noise injected; pass its .module to inject again")
    check_choice("method", method, ("auto", "fx", "hooks"))
    check_choice("attention", attention, ("decompose", "fused"))
    check_choice("rnn", rnn, ("steps", "output"))
    sigma = check_sigma("sigma", sigma)
    template = _make_noise(noise, 0.0, noise_kwargs)  # validates the name and kwargs early
    if not inplace:
        model = copy.deepcopy(model)
    left = wrap_layers(model, per_step_rnn=rnn == "steps")
    if left:
        warnings.warn(f"no sites inside these layers (kept whole): {', '.join(left)}", stacklevel=2)
    given = example_inputs is not None
    example = as_example(example_inputs) if given else derive_example(model)
    if example is not None and not given:
        example = on_device_of(model, example)

    graphs: list[Any] = []
    if method in ("auto", "fx"):
        try:
            graphs, per_graph = _fx_sites(model, tuple(leaf_modules), example, given, batchnorm, attention)
            method = "fx"
        except TraceError as exc:
            if method == "fx":
                raise
            warnings.warn(
                f"{getattr(exc, 'reason', exc)} Noise is placed with forward hooks instead: the sites are "
                "the input and the outputs of "
                "layers of known kinds (linear, convolution, embedding, activation, pooling, normalization "
                "modules, attention and recurrent layers); functions called in forward and residual "
                "additions are not sites. To get those, make the failing module traceable or keep it whole with "
                "leaf_modules=(...); see docs/sites.md (untraceable models).",
                stacklevel=2,
            )
            method = "hooks"
    if method == "hooks":
        per_graph = [discover_hooks(model, batchnorm, example, given)]

    # one site per name, in the evaluation graph's order, then those of the training graph only
    by_name: dict[str, Found] = {}
    for found in per_graph:
        for f in found:
            by_name.setdefault(f.name, f)
    all_sites = [Site(i, f.name, f.op, f.target) for i, f in enumerate(by_name.values())]
    dropped = set(select_sites(all_sites, exclude)) if exclude is not None else set()
    kept = [s for s in all_sites if s.index not in dropped]
    if not kept:
        raise InvalidParameterError(
            "no noise sites are left in this model (all excluded or none found). A model whose inputs are "
            "integers (token ids) gets sites from its embedding layers on; pass example_inputs= if noisewalk "
            "could not derive an input for it."
        )
    site_list = [Site(j, s.name, s.op, s.target) for j, s in enumerate(kept)]
    noise_of: dict[str, Noise] = {}
    for s in kept:
        made = _make_noise(template, 0.0, {})
        made.batch_dim = by_name[s.name].batch_dim
        noise_of[s.name] = made
    noises = nn.ModuleList(noise_of[s.name] for s in kept)

    layers: dict[int, tuple[SiteLayer, list[Noise | None]]] = {}
    for f in by_name.values():
        if f.layer is not None:
            entry = layers.setdefault(id(f.layer), (f.layer, [None] * len(f.layer.inner_sites)))
            entry[1][f.inner] = noise_of.get(f.name)
    for layer, inner in layers.values():
        layer.attach(inner)

    if method == "hooks":
        chosen = [f for f in per_graph[0] if f.name in noise_of]
        place_hooks(model, chosen, [noise_of[f.name] for f in chosen])
        module: nn.Module = model
    else:
        owned = {name: True for name in noise_of}
        for gm, found in zip(graphs, per_graph, strict=True):
            for f in found:
                if f.name in owned:
                    owned[f.name] = owned[f.name] and f.layer is None and owns_output(f.node, gm)
        for gm, found in zip(graphs, per_graph, strict=True):
            chosen = [f for f in found if f.name in noise_of and f.layer is None]
            place_fx(gm, chosen, [noise_of[f.name] for f in chosen])
        for name, own in owned.items():
            noise_of[name].inplace = own
        if len(graphs) == 1:
            module = graphs[0]
            inner = [noise_of[f.name] for f in per_graph[0] if f.name in noise_of and f.layer is not None]
            if inner:
                module.add_submodule("layer_noise_sites", nn.ModuleList(inner))  # for train()/eval()
        else:
            module = ModalGraph(graphs[0], graphs[1])
            module.noise_sites = noises  # the sites of both graphs, for train()/eval()
    injection = {
        "noise": _noise_name(template),
        "draws": template.draws.name,
        "batchnorm": batchnorm,
        "method": method,
        "exclude": [s.name for s in all_sites if s.index in dropped],
        "leaf_modules": [_qualified(c) for c in leaf_modules],
        "attention": attention,
        "rnn": rnn,
        "recipe": getattr(model, "_noisewalk_recipe", None),
    }
    noisy = NoisyModel(module, site_list, noises, method, base=model, injection=injection)
    noisy.train(model.training)
    if sigma:
        noisy.set_sigma(sigma, sites)
    else:
        noisy.select(sites)  # validate the selection even at sigma 0
    return noisy

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
from collections.abc import Iterable
from typing import Any, Literal

from torch import nn

from noisewalk.errors import InvalidParameterError
from noisewalk.noise import Noise, create_noise
from noisewalk.sites.classify import module_op
from noisewalk.sites.model import NoisyModel, Site, SiteSelector, select_sites
from noisewalk.sites.trace import discover_fx, place_fx, trace_model
from noisewalk.validate import check_choice, check_sigma


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


class InputNoiseHook:
    """Forward pre-hook: noise on a model's first input (a class, so that models pickle)."""

    def __init__(self, noise: Noise) -> None:
        self.noise = noise

    def __call__(self, _module, args, kwargs):
        return (self.noise(args[0]), *args[1:]), kwargs


class OutputNoiseHook:
    """Forward hook: noise on a module's output."""

    def __init__(self, noise: Noise) -> None:
        self.noise = noise

    def __call__(self, _module, _inputs, output):
        return self.noise(output)


def _place_hooks(model: nn.Module, found, noises: nn.ModuleList) -> None:
    for (_name, op, _target, module), noise in zip(found, noises, strict=True):
        if op == "input":
            module.register_forward_pre_hook(InputNoiseHook(noise), with_kwargs=True)
        else:
            module.register_forward_hook(OutputNoiseHook(noise))


def _make_noise(noise: str | Noise | type[Noise], sigma: float, kwargs: dict[str, Any]) -> Noise:
    if isinstance(noise, Noise):
        made = copy.deepcopy(noise)
        made.sigma = sigma
        return made
    if isinstance(noise, type) and issubclass(noise, Noise):
        return noise(sigma, **kwargs)
    return create_noise(noise, sigma=sigma, **kwargs)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _noise_name(noise: Noise) -> str:
    """The registered name of the noise type, else its class as ``module:QualName``."""
    from noisewalk.noise.types import NOISES

    for name in NOISES.own_names():
        if NOISES.get(name) is type(noise):
            return name
    return _qualified(type(noise))


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
        gm = trace_model(model, tuple(leaf_modules))
        found = discover_fx(gm, batchnorm)
        names = [(name, op, target) for _node, name, op, target in found]
    else:
        gm = model
        found = _discover_hooks(model, batchnorm)
        names = [(name, op, target) for name, op, target, _m in found]

    all_sites = [Site(i, n, op, t) for i, (n, op, t) in enumerate(names)]
    dropped = set(select_sites(all_sites, exclude)) if exclude is not None else set()
    keep = [i for i in range(len(all_sites)) if i not in dropped]
    found = [found[i] for i in keep]
    site_list = [Site(j, all_sites[i].name, all_sites[i].op, all_sites[i].target) for j, i in enumerate(keep)]
    if not site_list:
        raise InvalidParameterError("no noise sites are left in this model (all excluded or none found)")
    noises = nn.ModuleList(_make_noise(template, 0.0, {}) for _ in site_list)
    if method == "fx":
        place_fx(gm, found, noises)
    else:
        _place_hooks(gm, found, noises)
    injection = {
        "noise": _noise_name(template),
        "draws": template.draws.name,
        "batchnorm": batchnorm,
        "method": method,
        "exclude": [all_sites[i].name for i in sorted(dropped)],
        "leaf_modules": [_qualified(c) for c in leaf_modules],
        "recipe": getattr(model, "_noisewalk_recipe", None),
    }
    noisy = NoisyModel(gm, site_list, noises, method, base=model, injection=injection)
    noisy.train(model.training)
    if sigma:
        noisy.set_sigma(sigma, sites)
    else:
        noisy.select(sites)  # validate the selection even at sigma 0
    return noisy

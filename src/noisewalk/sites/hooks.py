"""Noise sites placed with forward hooks, for models that ``torch.fx`` cannot trace.

The sites are the outputs of leaf layers of known kinds, the inner sites of site layers
(and, in Hugging Face models, the attention of every layer), and the model's first
floating-point input. The hooks are classes so that hooked models pickle.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from noisewalk.errors import InvalidParameterError
from noisewalk.noise import Noise
from noisewalk.sites import hf
from noisewalk.sites.classify import module_op
from noisewalk.sites.layers import SiteLayer
from noisewalk.sites.trace import Found
from noisewalk.sites.values import Example, grown


def _first_float(args: tuple, kwargs: dict) -> tuple[str | int, Tensor] | None:
    for i, a in enumerate(args):
        if isinstance(a, Tensor) and a.is_floating_point():
            return i, a
    for k, v in kwargs.items():
        if isinstance(v, Tensor) and v.is_floating_point():
            return k, v
    return None


def discover_hooks(model: nn.Module, batchnorm: bool, example: Example | None, given: bool = False) -> list[Found]:
    """Leaf layers of known kinds, the inner sites of site layers and, in Hugging Face models,
    the attention of every layer, in the order they first run on ``example`` (registration
    order without one)."""
    transformers_model = hf.install(model)
    candidates: list[tuple[str, nn.Module, str]] = []
    inside_layer: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(p + ".") for p in inside_layer):
            continue
        if isinstance(module, SiteLayer):
            inside_layer.append(name)
            candidates.append((name, module, "layer"))
            continue
        if name == "" or any(True for _ in module.children()):
            continue
        op = module_op(module)
        if op is None or (op == "norm" and not batchnorm):
            continue
        candidates.append((name, module, op))
    has_input = example is None or _first_float(*example) is not None
    dims: list[int | None] = [0] * len(candidates)
    if example is not None:
        try:
            candidates, dims, has_input = _run_hooks_example(model, candidates, example)
        except Exception as exc:
            if given:
                raise example_failed(exc) from exc
            warnings.warn(
                f"{type(model).__name__} fails on the example input noisewalk made for it "
                f"({type(exc).__name__}: {first_line(exc)}); the sites are listed in the order the layers "
                "are registered. Pass example_inputs= to order them as they run.",
                stacklevel=3,
            )
            example = None
    if example is None and transformers_model:
        warnings.warn("without example inputs, the attention of a transformers model has no sites", stacklevel=3)
    found = [Found(None, "input", "input", "model input", 0)] if has_input else []
    for (name, module, op), dim in zip(candidates, dims, strict=True):
        if op == "layer":
            for i, (suffix, inner_op) in enumerate(module.inner_sites):
                if inner_op != "norm" or batchnorm:
                    target = f"{name} ({type(module).__name__})"
                    found.append(Found(None, f"{name}.{suffix}", inner_op, target, 0, module, i))
        elif dim is not None:
            found.append(Found(None, name, op, f"{name} ({type(module).__name__})", dim, None, 0))
    modules = dict(model.named_modules())
    for f in found:
        if f.layer is None and f.name != "input":
            f.node = modules[f.name]  # the module the hook goes on
    return found


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else ""


def example_failed(exc: BaseException) -> InvalidParameterError:
    return InvalidParameterError(
        f"the model fails on example_inputs: {type(exc).__name__}: {first_line(exc)}. Pass inputs the model "
        "takes: a tensor, a tuple of positional inputs or a dict of keyword inputs, with the batch first."
    )


def _run_hooks_example(
    model: nn.Module, candidates: list[tuple[str, nn.Module, str]], example: Example
) -> tuple[list[tuple[str, nn.Module, str]], list[int | None], bool]:
    """Run ``example`` (and its one-larger copy) with recording hooks: the candidates in the
    order they run (those that do not run dropped), their batch dimensions, and whether the
    example has a floating-point input."""
    names = {id(m): n for n, m in model.named_modules()}
    runs: list[dict[Any, tuple | None]] = []
    for ex in (example, grown(example)):
        seen: dict[Any, tuple | None] = {}

        def record(_m, _i, out, k, seen=seen) -> None:
            seen.setdefault(k, tuple(out.shape) if isinstance(out, Tensor) else None)

        def attention(caller, layer, seen=seen) -> None:
            seen.setdefault(("attention", id(layer)), (names.get(id(caller), ""), layer))

        handles = [m.register_forward_hook(functools.partial(record, k=k)) for k, (_n, m, _op) in enumerate(candidates)]
        was = model.training
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]), hf.recording(attention):
                model.eval()
                model(*ex[0], **ex[1])
        finally:
            model.train(was)
            for h in handles:
                h.remove()
        runs.append(seen)
    order = list(runs[0])
    n = len(_first_tensor(example))
    picked, dims = [], []
    for key in order:
        if isinstance(key, tuple):
            name, layer = runs[0][key]
            picked.append((name, layer, "layer"))
            dims.append(0)
        else:
            picked.append(candidates[key])
            dims.append(_grown_dim(runs[0][key], runs[1].get(key), n))
    first = _first_float(*example)
    return picked, dims, first is not None and first[1].dim() > 0


def _first_tensor(example: Example) -> Tensor:
    args, kwargs = example
    return next(v for v in (*args, *kwargs.values()) if isinstance(v, Tensor))


def _grown_dim(a: tuple | None, b: tuple | None, n: int) -> int | None:
    if a is None or b is None or len(a) != len(b):
        return None
    grew = [d for d in range(len(a)) if a[d] != b[d]]
    return grew[0] if len(grew) == 1 and a[grew[0]] == n and b[grew[0]] == n + 1 else None


class InputNoiseHook:
    """Forward pre-hook on the model: noise on its first floating-point input (a class, so
    that models pickle)."""

    def __init__(self, noise: Noise) -> None:
        self.noise = noise

    def __call__(self, _module, args, kwargs):
        first = _first_float(args, kwargs)
        if first is None:
            return None
        key, x = first
        if isinstance(key, int):
            return (*args[:key], self.noise(x), *args[key + 1 :]), kwargs
        return args, {**kwargs, key: self.noise(x)}


class OutputNoiseHook:
    """Forward hook: noise on a module's output where it is a floating-point tensor."""

    def __init__(self, noise: Noise) -> None:
        self.noise = noise

    def __call__(self, _module, _inputs, output):
        return self.noise(output) if isinstance(output, Tensor) and output.is_floating_point() else output


def place_hooks(model: nn.Module, found: list[Found], noises: list[Noise]) -> None:
    for f, noise in zip(found, noises, strict=True):
        if f.layer is not None:
            continue
        if f.op == "input":
            model.register_forward_pre_hook(InputNoiseHook(noise), with_kwargs=True)
        else:
            f.node.register_forward_hook(OutputNoiseHook(noise))

"""What the graph computes on an example input: the type, shape and batch dimension of
every value, recorded once so that sites are chosen by type, not by syntax.

The example is run twice, at batch sizes 2 and 3, in evaluation mode, without gradients,
with the model's buffers and the random number generator restored afterwards. A value's
batch dimension is the one that grows with the batch; a value without one (a statistic
over the whole batch) is not a site.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import Tensor, nn

Example = tuple[tuple[Any, ...], dict[str, Any]]
"""Positional and keyword inputs of one forward call."""


@dataclass(frozen=True)
class ExampleInput:
    """The input a model takes, one sample's shape without the batch dimension.

    Floating-point inputs are drawn from N(0, 1), integer ones (token ids) uniformly from
    ``[0, high)``; ``keyword`` names the argument when the model takes it by keyword
    (``input_ids`` for Hugging Face models)."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    high: int = 2
    keyword: str | None = None

    def make(self, batch: int, generator: torch.Generator | None = None) -> Example:
        if self.dtype.is_floating_point:
            x = torch.randn(batch, *self.shape, generator=generator, dtype=self.dtype)
        else:
            x = torch.randint(0, self.high, (batch, *self.shape), generator=generator, dtype=self.dtype)
        return ((), {self.keyword: x}) if self.keyword else ((x,), {})


EXAMPLE_ATTRIBUTE = "noisewalk_example_input"
"""Models built by ``noisewalk.create_model`` carry their :class:`ExampleInput` here."""


@dataclass(frozen=True)
class ValueInfo:
    kind: str
    """``float``, ``floats`` (a tuple or list holding floating-point tensors), ``int``
    (integer or boolean tensor) or ``other``."""
    shape: tuple[int, ...] | None = None
    batch_dim: int | None = None


def _kind(value: Any, depth: int = 0) -> str:
    if isinstance(value, Tensor):
        return "float" if value.is_floating_point() or value.is_complex() else "int"
    if depth < 3 and isinstance(value, (tuple, list)):
        return "floats" if any(_kind(v, depth + 1) in ("float", "floats") for v in value) else "other"
    if depth < 3 and isinstance(value, Mapping):
        return "floats" if any(_kind(v, depth + 1) in ("float", "floats") for v in value.values()) else "other"
    return "other"


def as_example(inputs: Any) -> Example:
    """``example_inputs`` as given to ``inject``: a tensor, a tuple of positional inputs,
    a dict of keyword inputs, or an (args, kwargs) pair made by :meth:`ExampleInput.make`."""
    if isinstance(inputs, Tensor):
        return (inputs,), {}
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    if isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[1], dict) and isinstance(inputs[0], tuple):
        return inputs
    return tuple(inputs), {}


def on_device_of(model: nn.Module, example: Example) -> Example:
    """The example's tensors on the device of the model's first parameter."""
    param = next(model.parameters(), None)
    if param is None:
        return example
    move = lambda v: v.to(param.device) if isinstance(v, Tensor) else v
    args, kwargs = example
    return tuple(move(a) for a in args), {k: move(v) for k, v in kwargs.items()}


def grown(example: Example) -> Example:
    """The example with one more sample: every tensor input's first row repeated at its end."""

    def grow(v: Any) -> Any:
        return torch.cat([v, v[:1]]) if isinstance(v, Tensor) and v.dim() > 0 else v

    args, kwargs = example
    return tuple(grow(a) for a in args), {k: grow(v) for k, v in kwargs.items()}


def derive_example(model: nn.Module) -> Example | None:
    """An example input for ``model`` when none is given: the one ``create_model`` attached,
    a Hugging Face model's ``dummy_inputs``, or a timm model's configured input size."""
    spec = getattr(model, EXAMPLE_ATTRIBUTE, None)
    if isinstance(spec, ExampleInput):
        return spec.make(2, torch.Generator().manual_seed(0))
    dummy = _try(lambda: model.dummy_inputs)
    if isinstance(dummy, Mapping) and dummy and all(isinstance(v, Tensor) for v in dummy.values()):
        return (), {k: v[:2] for k, v in dummy.items()}
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, Mapping) and isinstance(cfg.get("input_size"), (tuple, list)):
        shape = tuple(cfg["input_size"])
        patches = getattr(model, "patch_embed", None)  # built for another size: img_size=...
        size = getattr(patches, "img_size", None)
        proj = getattr(patches, "proj", None)
        if isinstance(size, (tuple, list)) and len(size) == 2 and isinstance(proj, nn.Conv2d):
            shape = (proj.in_channels, *size)
        return ExampleInput(shape).make(2, torch.Generator().manual_seed(0))
    return None


def _try(get: Callable[[], Any]) -> Any:
    try:
        return get()
    except Exception:
        return None


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[fx.Node, tuple[str, tuple[int, ...] | None]] = {}

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        shape = tuple(result.shape) if isinstance(result, Tensor) else None
        self.values[n] = (_kind(result), shape)
        return result


def _positional(gm: fx.GraphModule, example: Example) -> list[Any]:
    args, kwargs = example
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    it = iter(args)
    out = []
    for node in placeholders:
        name = str(node.target).lstrip("*")
        if name in kwargs:
            out.append(kwargs[name])
            continue
        nxt = next(it, _MISSING)
        if nxt is not _MISSING:
            out.append(nxt)
        elif node.args:
            out.append(node.args[0])
        else:
            raise TypeError(f"the example inputs give no value for the argument {name!r}")
    return out


_MISSING = object()


def record_values(graphs: list[fx.GraphModule], example: Example) -> None:
    """Run each graph on ``example`` and its one-larger copy and store a :class:`ValueInfo`
    in every node's ``meta["nw_value"]``. Raises whatever the model raises on the example."""
    bigger = grown(example)
    root = graphs[0]
    buffers = {k: b.detach().clone() for k, b in root.named_buffers()}
    modes = {m: m.training for m in root.modules()}
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for gm in graphs:
                gm.eval()
                runs = []
                for ex in (example, bigger):
                    rec = _Recorder(gm)
                    rec.run(*_positional(gm, ex))
                    runs.append(rec.values)
                for node in gm.graph.nodes:
                    if node not in runs[0]:
                        continue
                    kind, shape = runs[0][node]
                    shape_b = runs[1].get(node, (None, None))[1]
                    node.meta["nw_value"] = ValueInfo(kind, shape, _batch_dim(shape, shape_b, example))
    finally:
        for m, mode in modes.items():
            m.training = mode
        with torch.no_grad():
            for k, b in root.named_buffers():
                if k in buffers and b.shape == buffers[k].shape:
                    b.copy_(buffers[k])


def _batch_size(example: Example) -> int | None:
    args, kwargs = example
    for v in (*args, *kwargs.values()):
        if isinstance(v, Tensor) and v.dim() > 0:
            return v.shape[0]
    return None


def _batch_dim(a: tuple[int, ...] | None, b: tuple[int, ...] | None, example: Example) -> int | None:
    """The dimension holding the samples: the one that grew by one sample's worth."""
    n = _batch_size(example)
    if a is None or b is None or len(a) != len(b) or not n:
        return None
    grew = [d for d in range(len(a)) if a[d] != b[d]]
    if len(grew) == 1 and a[grew[0]] % n == 0 and b[grew[0]] == a[grew[0]] // n * (n + 1):
        d = grew[0]
        return d if a[d] == n else None  # several rows per sample (heads folded in): no per-sample layout
    return None

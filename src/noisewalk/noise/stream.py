"""Exact noise on the CPU, in training and evaluation: a counter-based stream of its own.

torch's CPU generator is serial and makes about one standard-normal value every 3-4 ns;
with noise at every site of a small network, drawing would take as long as the rest of a
training step. A :class:`NoiseStream` draws from :mod:`noisewalk.noise.counter` instead:
exact, independent N(0, 1) values from a vectorized kernel, in about a fifth of the time.
Additive noise (one level, or one per sample) is added in the same pass that draws it
(``x + sigma * z`` without a tensor of ``z`` in memory).

Which values a request receives depends only on the training's seed and the sequence of
requests (each takes the next ``ceil(n / 32)`` blocks of the stream), not on the thread
count or on whether the compiled kernel or its torch twin computes them. The stream's
state, its key and position, is in every checkpoint: a resumed training continues it
exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from noisewalk.errors import InvalidParameterError
from noisewalk.noise import counter
from noisewalk.noise.draws import ExactDraws, NormalDraws, dense, laid_out

STATE_FORMAT = 2
"""The first word of a saved state: the stream's layout (blocks of ``counter.BLOCK`` values
as :mod:`noisewalk.noise.counter` defines them)."""


def stream_seed(seed: int) -> int:
    """The key of a training's noise stream, from the training's seed (apart from the
    streams torch's default generator gives for the same seed)."""
    return (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64


def _memory(t: Tensor) -> Tensor:
    """The elements of a dense tensor as one flat view, in memory order."""
    return t.as_strided((t.numel(),), (1,))


class NoiseStream:
    """Standard-normal values for a training on the CPU (see the module)."""

    threads = 1
    """Threads of the kernel per request. One: torch's own worker threads keep spinning on
    the other cores for a while after each operation, and a second drawing thread beside
    them made a LeNet-5 step slower, not faster (docs/benchmarks.md)."""

    def __init__(self, key: int) -> None:
        self.key = key % 2**64
        self.block = 0
        """The next block of the stream a request takes."""

    def _advance(self, n: int) -> int:
        first = self.block
        self.block += counter.blocks(n)
        return first

    def take(self, n: int, dtype: torch.dtype = torch.float32) -> Tensor:
        """``n`` fresh N(0, 1) values (a new tensor the caller may overwrite)."""
        values = counter.fill(torch.empty(n), self.key, self._advance(n), self.threads)
        return values if dtype == torch.float32 else values.to(dtype)

    def add(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """``x + scale * z`` as a new tensor laid out as ``x``, for a dense float32 ``x``
        (``z`` the next ``x.numel()`` values, in ``x``'s memory order); ``scale`` one number
        or one per sample (``x``'s first dimension, outermost in memory)."""
        out = torch.empty_like(x)  # the same strides for a dense tensor
        n = x.numel()
        counter.add(_memory(out), _memory(x), scale, self.key, self._advance(n), self.threads)
        return out

    def get_state(self) -> Tensor:
        """Where the stream stands: its layout, key and position (as int64 words)."""
        return torch.tensor([STATE_FORMAT, counter.as_int64(self.key), counter.as_int64(self.block)], dtype=torch.int64)

    def set_state(self, state: Tensor) -> None:
        if state.dtype != torch.int64 or state.numel() != 3 or int(state[0]) != STATE_FORMAT:
            raise InvalidParameterError(
                "this checkpoint's noise stream was written by another version of noisewalk (its exact "
                "noise came from another generator); start the training again without the checkpoint"
            )
        self.key, self.block = (int(v) % 2**64 for v in state[1:])


class _AddFromStream(torch.autograd.Function):
    """``x + scale * z`` with ``z`` from the stream, in one pass; the gradient with
    respect to ``x`` is the identity."""

    @staticmethod
    def forward(ctx, x: Tensor, stream: NoiseStream, scale: float | Tensor) -> Tensor:  # noqa: ARG004
        return stream.add(x, scale)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # noqa: ARG004
        return grad, None, None


def _fusable(scale: float | Tensor, x: Tensor) -> bool:
    """Whether the kernel can add ``scale * z`` to ``x`` in its pass: one level, or one per
    sample of a batch whose samples lie one after another in memory (and no gradient with
    respect to the levels)."""
    if isinstance(scale, float):
        return True
    n = x.shape[0] if x.dim() else 0
    return (
        not scale.requires_grad
        and scale.device.type == "cpu"
        and scale.dim() <= x.dim()
        and scale.numel() == n > 0
        and scale.shape[0] == n
        and x.stride(0) * n == x.numel()
    )


class StreamDraws(NormalDraws):
    """A model's exact draws from a :class:`NoiseStream` (in training, or in an evaluation
    on the CPU)."""

    name = "exact"

    def __init__(self, stream: NoiseStream) -> None:
        self.stream = stream
        self._exact = ExactDraws()

    def _values(self, like: Tensor) -> Tensor | None:
        if like.device.type != "cpu" or not like.is_floating_point():
            return None
        return laid_out(self.stream.take(like.numel(), like.dtype), like)

    def scaled(self, like: Tensor, scale: float | Tensor) -> Tensor:
        z = self._values(like)
        return self._exact.scaled(like, scale) if z is None else z.mul_(scale)

    def add_scaled(self, x: Tensor, scale: float | Tensor, *, inplace: bool = False) -> Tensor:
        if x.device.type == "cpu" and x.dtype == torch.float32 and dense(x) and _fusable(scale, x):
            return _AddFromStream.apply(x, self.stream, scale)
        z = self.scaled(x, scale)  # scale * z rounded, then added: as the fused pass computes it
        return x.add_(z) if inplace else z.add_(x)


@contextmanager
def drawing_from(model: nn.Module, stream: NoiseStream | None, *, training: bool = True) -> Iterator[None]:
    """Within the block, ``model``'s exact draws in training (or evaluation) mode come from
    ``stream`` (nothing changes for None or a model without noise); afterwards they come
    from where they came before."""
    noises = getattr(model, "noises", None)
    if stream is None or not noises:
        yield
        return
    attr = "training_source" if training else "eval_source"
    exact = [d for d in {id(n.draws): n.draws for n in noises}.values() if isinstance(d, ExactDraws)]
    before = [getattr(d, attr) for d in exact]
    for d in exact:
        setattr(d, attr, StreamDraws(stream))
    try:
        yield
    finally:
        for d, source in zip(exact, before, strict=True):
            setattr(d, attr, source)


EVAL_TAG = 0x3C6EF372FE94F82B
"""Sets an evaluation's stream apart from a training's with the same seed."""


@contextmanager
def evaluation_stream(model: nn.Module, dev: torch.device, seed: int | None = None) -> Iterator[None]:
    """Within the block, ``model``'s exact draws in evaluation mode on the CPU come from a
    counter-based stream: keyed by ``seed``, or by a seed drawn from torch's default
    generator (so that ``torch.manual_seed`` still decides them)."""
    if dev.type != "cpu" or not getattr(model, "noises", None):
        yield
        return
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)))
    with drawing_from(model, NoiseStream(stream_seed(seed) ^ EVAL_TAG), training=False):
        yield

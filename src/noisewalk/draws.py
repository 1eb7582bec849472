"""Where the noise modules' standard-normal values come from.

Two sources, chosen per model with ``inject(..., draws="exact" | "pooled")`` or for the
whole process with :func:`set_default_draws`:

* ``exact`` (the default): every value is a fresh draw from torch's generator, as
  ``torch.randn`` gives it. Statistically exact, and what ``evaluate`` should use.
* ``pooled``: values are read from a pool of exact draws and mixed so that each one is
  again exactly N(0, 1). On a CPU this costs about a tenth of the exact draws (torch's
  CPU generator is serial and takes ~4 ns per value, the pool reads memory), which makes
  noise at every site nearly free in training. See :class:`PooledDraws` for what it
  guarantees and what it does not, and ``docs/benchmarks.md`` for the speed.

A source only produces ``scale * z`` with ``z ~ N(0, 1)``: the noise types decide what
to do with it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from .validate import check_choice, check_positive_int

DRAWS = ("exact", "pooled")
_default = "exact"


class NormalDraws:
    """A source of standard-normal values for noise modules."""

    name = "base"

    def scaled(self, like: Tensor, scale: float | Tensor) -> Tensor:
        """A new tensor shaped like ``like`` holding ``scale * z``, ``z ~ N(0, 1)`` i.i.d.

        ``scale`` is a number or a tensor that broadcasts against ``like``.
        """
        raise NotImplementedError

    def add_scaled(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """``x + scale * z`` as a new tensor; its gradient with respect to ``x`` is the identity."""
        return self.scaled(x, scale).add_(x)

    def __deepcopy__(self, memo: dict) -> NormalDraws:
        # a source is a handle, like a torch.Generator: all noise modules of one model
        # (copied from one template by ``inject``) share it and its pool
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ExactDraws(NormalDraws):
    """Fresh values from torch's (default) generator for every element."""

    name = "exact"

    def scaled(self, like: Tensor, scale: float | Tensor) -> Tensor:
        if isinstance(scale, Tensor):
            return torch.randn_like(like).mul_(scale)
        return torch.empty_like(like).normal_(0.0, scale)


class PooledDraws(NormalDraws):
    """Standard-normal values mixed from a pool of exact draws.

    The pool holds ``size`` i.i.d. N(0, 1) values. A request for ``n`` values reads two
    disjoint windows ``A`` and ``B`` of the pool at random offsets and returns
    ``cos(t) * A + sin(t) * B`` for a random angle ``t``; then ``ceil(n / reuse)`` pool
    values (cyclically) are replaced by fresh exact draws.

    What holds exactly (given the pool is i.i.d. normal, which it is): every returned
    value is N(0, 1), since ``cos(t) a + sin(t) b`` of two independent standard normals
    is standard normal for any ``t``; and the values of one request are mutually
    independent, since the two windows are disjoint and each value uses its own pair of
    pool entries. What does not: two requests made before the pool entries they read
    were refreshed can share entries, so a few values of one request are correlated with
    a few values of another (each pool value serves about ``2 * reuse`` outputs, each
    time with another partner and angle, before it is redrawn). Mean, variance and
    independence within a tensor are unaffected; use ``exact`` where sample-to-sample
    independence across steps matters (e.g. when estimating the spread of accuracy over
    noise draws).

    Requests larger than ``size / 4`` values fall back to exact draws. The pool is
    seeded from torch's default generator when first used on a device, so runs seeded
    with ``torch.manual_seed`` repeat.
    """

    name = "pooled"

    def __init__(self, size: int = 1 << 22, reuse: int = 16) -> None:
        self.size = check_positive_int("size", size, minimum=1024)
        self.reuse = check_positive_int("reuse", reuse)
        self._pools: dict[tuple[torch.device, torch.dtype], _Pool] = {}
        self._exact = ExactDraws()

    def scaled(self, like: Tensor, scale: float | Tensor) -> Tensor:
        return self._draw(like, scale, None)

    def add_scaled(self, x: Tensor, scale: float | Tensor) -> Tensor:
        return self._draw(x, scale, x)

    def _draw(self, like: Tensor, scale: float | Tensor, add_to: Tensor | None) -> Tensor:
        n = like.numel()
        if n == 0 or 4 * n > self.size or not like.is_floating_point():
            out = self._exact.scaled(like, scale)
            return out if add_to is None else out.add_(add_to)
        key = (like.device, like.dtype)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(self.size, like.device, like.dtype)
        a, b, c, s = pool.windows(n)
        a, b = a.view(like.shape), b.view(like.shape)
        if isinstance(scale, Tensor):
            out = torch.mul(a, c).add_(b, alpha=s).mul_(scale)
            if add_to is not None:
                out.add_(add_to)
        elif add_to is None:
            out = torch.mul(a, c * scale).add_(b, alpha=s * scale)
        else:  # two passes: x + (c scale) a, then + (s scale) b
            out = torch.add(add_to, a, alpha=c * scale).add_(b, alpha=s * scale)
        pool.refresh(-(-n // self.reuse))
        return out

    def __repr__(self) -> str:
        return f"PooledDraws(size={self.size}, reuse={self.reuse})"


class _Pool:
    """The pool of one device and dtype, its generator and its refresh cursor."""

    def __init__(self, size: int, device: torch.device, dtype: torch.dtype) -> None:
        seed = int(torch.randint(0, 2**62, (1,)))
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.random = random.Random(seed)
        self.values = torch.randn(size, generator=self.generator, device=device, dtype=dtype)
        self.cursor = 0

    def windows(self, n: int) -> tuple[Tensor, Tensor, float, float]:
        """Two disjoint windows of ``n`` values at random offsets, and cos, sin of a random angle."""
        size = len(self.values)
        rnd = self.random
        o1 = rnd.randrange(size - n + 1)
        # o2 uniform over the offsets whose window does not overlap [o1, o1 + n)
        free_left = max(0, o1 - n + 1)  # offsets 0 .. o1 - n
        free_right = max(0, size - n + 1 - (o1 + n))  # offsets o1 + n .. size - n
        k = rnd.randrange(free_left + free_right)
        o2 = k if k < free_left else o1 + n + (k - free_left)
        t = rnd.uniform(0.0, 2.0 * math.pi)
        a = self.values[o1 : o1 + n]
        b = self.values[o2 : o2 + n]
        return a, b, math.cos(t), math.sin(t)

    def refresh(self, k: int) -> None:
        """Replace the next ``k`` pool values (cyclically) by fresh draws."""
        size = len(self.values)
        while k > 0:
            stop = min(size, self.cursor + k)
            self.values[self.cursor : stop].normal_(generator=self.generator)
            k -= stop - self.cursor
            self.cursor = stop % size


def set_default_draws(name: str) -> None:
    """The source that noise modules created from now on use when none is given."""
    global _default
    _default = check_choice("draws", name, DRAWS)


def get_default_draws() -> str:
    return _default


@contextmanager
def default_draws(name: str) -> Iterator[None]:
    """``set_default_draws(name)`` for the duration of a ``with`` block."""
    saved = _default
    set_default_draws(name)
    try:
        yield
    finally:
        set_default_draws(saved)


def make_draws(draws: str | NormalDraws | None = None) -> NormalDraws:
    """A source by name (``exact``, ``pooled``), an existing one, or the default for ``None``."""
    if isinstance(draws, NormalDraws):
        return draws
    name = check_choice("draws", _default if draws is None else draws, DRAWS)
    return ExactDraws() if name == "exact" else PooledDraws()

"""Where the noise modules' standard-normal values come from.

Two sources, chosen per model with ``inject(..., draws="exact" | "pooled")`` (in a study
spec: ``[noise] options = { draws = "pooled" }``; on the command line ``--noise-draws``):

* ``exact`` (the default): every value is a fresh, independent N(0, 1) draw: from torch's
  generator, as ``torch.randn`` gives it; in training on a CPU, from a counter-based
  stream (:mod:`noisewalk.noise.stream`) of the training's or the evaluation's own, about
  five times faster.
* ``pooled``: in training mode, values are read from a large pool of exact draws at
  random offsets (with a random sign), the pool being redrawn bit by bit; in evaluation
  mode, exact draws. Every value is exactly N(0, 1) and the values of one tensor are
  independent; values recur across tensors and steps. On a CPU a training step with
  noise at every site costs about 15 % more than without it, against about 30 % with
  exact draws. See :class:`PooledDraws` for what it guarantees and what
  it does not, and ``docs/benchmarks.md`` for the speed.

A source only produces ``scale * z`` with ``z ~ N(0, 1)``: the noise types decide what
to do with it.
"""

from __future__ import annotations

import random

import torch
from torch import Tensor

from noisewalk.validate import check_choice, check_positive_int

DRAWS = ("exact", "pooled")


class NormalDraws:
    """A source of standard-normal values for noise modules."""

    name = "base"

    def scaled(self, like: Tensor, scale: float | Tensor) -> Tensor:
        """A new tensor shaped like ``like`` holding ``scale * z``, ``z ~ N(0, 1)`` i.i.d.

        ``scale`` is a number or a tensor that broadcasts against ``like``.
        """
        raise NotImplementedError

    def add_scaled(self, x: Tensor, scale: float | Tensor, *, inplace: bool = False) -> Tensor:
        """``x + scale * z``, a new tensor or ``x`` itself (``inplace``); its gradient with
        respect to ``x`` is the identity."""
        return x.add_(self.scaled(x, scale)) if inplace else self.scaled(x, scale).add_(x)

    def for_mode(self, training: bool) -> NormalDraws:
        """The source to use in training (``True``) or evaluation mode: this one."""
        return self

    def __deepcopy__(self, memo: dict) -> NormalDraws:
        # a source is a handle, like a torch.Generator: all noise modules of one model
        # (copied from one template by ``inject``) share it and its pool
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ExactDraws(NormalDraws):
    """Fresh values from torch's (default) generator for every element."""

    name = "exact"

    training_source: NormalDraws | None = None
    """Where training-mode draws come from while a training attaches its noise stream
    (:mod:`noisewalk.noise.stream`); None: here."""
    eval_source: NormalDraws | None = None
    """The same for evaluation mode, while an evaluation on the CPU attaches one."""

    def for_mode(self, training: bool) -> NormalDraws:
        source = self.training_source if training else self.eval_source
        return self if source is None else source

    def scaled(self, like: Tensor, scale: float | Tensor) -> Tensor:
        # drawn as one flat block, then laid out as ``like`` is (the generator fills
        # non-contiguous tensors, channels-last ones say, element by element)
        flat = torch.empty(like.numel(), dtype=like.dtype, device=like.device)
        if isinstance(scale, Tensor):
            return laid_out(flat.normal_(), like).mul_(scale)
        return laid_out(flat.normal_(0.0, scale), like)


class PooledDraws(NormalDraws):
    """Standard-normal values read from a large pool of exact draws at random offsets.

    The pool holds i.i.d. N(0, 1) values from torch's generator. A request for ``n``
    values returns the window ``pool[o : o + n]`` at a uniformly random offset ``o``,
    times a random sign; the pool is kept fresh by redrawing ``n / reuse`` of its values
    per request (cyclically, in batches), so each pool value is read about ``reuse``
    times, at random places, before it is replaced.

    What holds exactly: every value is N(0, 1) (a pool value times an independent sign),
    and the values of one request are mutually independent (distinct pool values). What
    does not: two requests made before the values they share were redrawn hold the same
    values (at other positions, each request with its own random sign, so they are
    uncorrelated on average but not independent). Mean, variance and independence within
    a tensor are those of exact draws; use ``exact`` where independence across steps
    matters, such as estimating the spread of accuracy over repeated noise draws
    (``evaluate`` with repeats).

    Only in training mode by default: a model in evaluation mode (``evaluate``) draws
    exactly, unless ``in_eval=True``.

    The pool has ``size`` values, or the next power of two above ``2 n`` for larger
    requests, up to ``max_size``; beyond that, exact draws. Each device and dtype gets its
    own pool, seeded from torch's default generator when first used, so runs seeded with
    ``torch.manual_seed`` repeat.
    """

    name = "pooled"

    def __init__(self, size: int = 1 << 21, reuse: int = 64, max_size: int = 1 << 26, *, in_eval: bool = False) -> None:
        self.size = check_positive_int("size", size, minimum=1024)
        self.reuse = check_positive_int("reuse", reuse)
        self.max_size = check_positive_int("max_size", max_size, minimum=size)
        self.in_eval = bool(in_eval)
        self._pools: dict[tuple[torch.device, torch.dtype], _Pool] = {}
        self._exact = ExactDraws()

    def for_mode(self, training: bool) -> NormalDraws:
        """The pool in training mode; exact draws in evaluation mode unless ``in_eval``."""
        return self if training or self.in_eval else self._exact

    def scaled(self, like: Tensor, scale: float | Tensor) -> Tensor:
        window, sign = self._window(like)
        if window is None:
            return self._exact.scaled(like, scale)
        return torch.mul(window, scale * sign)

    def add_scaled(self, x: Tensor, scale: float | Tensor, *, inplace: bool = False) -> Tensor:
        window, sign = self._window(x)
        if window is None:
            return self._exact.add_scaled(x, scale, inplace=inplace)
        return add_values(x, window, scale, sign=sign, inplace=inplace)

    def _window(self, like: Tensor) -> tuple[Tensor | None, float]:
        """A window shaped like ``like`` and a sign, or None where exact draws are used."""
        n = like.numel()
        key = (like.device, like.dtype)
        pool = self._pools.get(key)
        if pool is None or 2 * n > pool.size:
            need = max(self.size, 1 << (2 * n - 1).bit_length())
            if n == 0 or need > self.max_size or not like.is_floating_point():
                return None, 1.0
            pool = self._pools[key] = _Pool(need, like.device, like.dtype)
        offset, sign = pool.take(n, self.reuse)
        return laid_out(pool.values, like, offset), sign

    def __repr__(self) -> str:
        return f"PooledDraws(size={self.size}, reuse={self.reuse}, max_size={self.max_size}, in_eval={self.in_eval})"


def add_values(x: Tensor, z: Tensor, scale: float | Tensor, *, sign: float = 1.0, inplace: bool = False) -> Tensor:
    """``x + sign * scale * z`` in one pass (``scale`` a number or a tensor that broadcasts),
    a new tensor or ``x`` itself (``inplace``)."""
    if isinstance(scale, Tensor):
        return x.addcmul_(z, scale, value=sign) if inplace else torch.addcmul(x, z, scale, value=sign)
    return x.add_(z, alpha=scale * sign) if inplace else torch.add(x, z, alpha=scale * sign)


def laid_out(flat: Tensor, like: Tensor, offset: int = 0) -> Tensor:
    """``flat[offset : offset + like.numel()]`` shaped like ``like``, in its memory layout
    where that is a standard dense one (so that adding it is one pass in memory order)."""
    if dense(like):
        return flat.as_strided(like.shape, like.stride(), offset)
    return flat[offset : offset + like.numel()].view(like.shape)


def dense(t: Tensor) -> bool:
    """Contiguous in a standard layout (row-major, channels-last): its elements fill one
    block of memory without gaps, so a window of the pool can take its strides."""
    if t.is_contiguous():
        return True
    if t.dim() == 4:
        return t.is_contiguous(memory_format=torch.channels_last)
    return t.dim() == 5 and t.is_contiguous(memory_format=torch.channels_last_3d)


class _Pool:
    """The pool of one device and dtype, its generator and its refresh cursor."""

    def __init__(self, size: int, device: torch.device, dtype: torch.dtype) -> None:
        seed = int(torch.randint(0, 2**62, (1,)))
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.random = random.Random(seed)
        self.size = size
        self.values = torch.randn(size, generator=self.generator, device=device, dtype=dtype)
        self.cursor = 0
        self.due = 0.0
        self.batch = max(1, min(1 << 16, size // 64))

    def take(self, n: int, reuse: int) -> tuple[int, float]:
        """A uniformly random offset for a window of ``n`` values, and a random sign.

        Books ``n / reuse`` values for redrawing; they are redrawn in batches at the start
        of a later request, when the earlier windows have been used."""
        if self.due >= self.batch:
            self.refresh(int(self.due))
            self.due -= int(self.due)
        self.due += n / reuse
        rnd = self.random
        return rnd.randrange(self.size - n + 1), (1.0 if rnd.random() < 0.5 else -1.0)

    def refresh(self, k: int) -> None:
        """Replace the next ``k`` pool values (cyclically) by fresh draws."""
        while k > 0:
            stop = min(self.size, self.cursor + k)
            self.values[self.cursor : stop].normal_(generator=self.generator)
            k -= stop - self.cursor
            self.cursor = stop % self.size


def make_draws(draws: str | NormalDraws | None = None) -> NormalDraws:
    """A source by name (``exact``, ``pooled``), an existing one, or exact draws for ``None``."""
    if isinstance(draws, NormalDraws):
        return draws
    name = check_choice("draws", "exact" if draws is None else draws, DRAWS)
    return ExactDraws() if name == "exact" else PooledDraws()

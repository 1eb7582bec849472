"""Exact draws prepared one step ahead, on a core the training does not use.

On a CPU, torch's generator makes about one standard-normal value every 4 ns, on one
core. With noise at every site of a small network, drawing takes as long as the rest of
the training step, while training a small network uses one core (more threads do not
pay for its small operations). A :class:`NoiseStream` moves the drawing to a helper
thread: every request for ``n`` values is served from a buffer drawn while the previous
step was computing, and a new buffer of that size is drawn for the next request.

The values are exact: fresh, independent N(0, 1) draws from a ``torch.Generator`` of the
stream's own. Which values a request receives depends only on the seed and the sequence
of requests, not on whether the helper thread is used or how fast it runs: the buffers
are drawn in the order they are asked for, by one thread or inline. ``flush`` (at the end
of each epoch, before a checkpoint) waits for the helper and drops the prepared buffers,
so the generator's state then says where the stream stands: a resumed training continues
it exactly.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import torch
from torch import Tensor

from noisewalk.noise.draws import ExactDraws, NormalDraws, add_values, laid_out

MAX_SIZES = 256
"""Distinct request sizes prepared ahead; requests of further sizes are drawn when asked."""


def stream_seed(seed: int) -> int:
    """The seed of a training's noise stream, from the training's seed (apart from the
    streams torch's default generator gives for the same seed)."""
    return (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**63


class NoiseStream:
    """Standard-normal values for a training on the CPU, prepared ahead (see the module)."""

    def __init__(self, seed: int, *, helper: bool) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self._helper = ThreadPoolExecutor(1, thread_name_prefix="noisewalk-noise") if helper else None
        self._ready: dict[tuple[int, torch.dtype], Future] = {}
        self._sizes: set[tuple[int, torch.dtype]] = set()

    @property
    def helper(self) -> bool:
        return self._helper is not None

    def _draw(self, n: int, dtype: torch.dtype) -> Tensor:
        return torch.empty(n, dtype=dtype).normal_(generator=self.generator)

    def _submit(self, n: int, dtype: torch.dtype) -> Future:
        if self._helper is not None:
            return self._helper.submit(self._draw, n, dtype)
        done: Future = Future()
        done.set_result(self._draw(n, dtype))
        return done

    def take(self, n: int, dtype: torch.dtype = torch.float32) -> Tensor:
        """``n`` fresh N(0, 1) values (a new tensor the caller may overwrite)."""
        key = (n, dtype)
        pending = self._ready.pop(key, None)
        values = (pending or self._submit(n, dtype)).result()
        if key in self._sizes or len(self._sizes) < MAX_SIZES:
            self._sizes.add(key)
            self._ready[key] = self._submit(n, dtype)  # for the next request of this size
        return values

    def flush(self) -> None:
        """Wait for the helper and drop the prepared values."""
        for pending in self._ready.values():
            pending.result()
        self._ready.clear()

    def get_state(self) -> Tensor:
        """Where the stream stands (after a flush)."""
        self.flush()
        return self.generator.get_state()

    def set_state(self, state: Tensor) -> None:
        self.flush()
        self.generator.set_state(state)

    def close(self) -> None:
        self.flush()
        if self._helper is not None:
            self._helper.shutdown(wait=True)
            self._helper = None


class StreamDraws(NormalDraws):
    """A model's exact draws in training, from a :class:`NoiseStream`."""

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
        z = self._values(x)
        if z is None:
            return self._exact.add_scaled(x, scale, inplace=inplace)
        return add_values(x, z, scale, inplace=inplace)


def attach_stream(draws: list[NormalDraws], stream: NoiseStream) -> None:
    """Serve the training draws of these exact sources from ``stream``."""
    for d in draws:
        if isinstance(d, ExactDraws):
            d.training_source = StreamDraws(stream)


def detach_stream(draws: list[NormalDraws]) -> None:
    for d in draws:
        if isinstance(d, ExactDraws):
            d.training_source = None

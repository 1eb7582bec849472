"""Noise types: modules that perturb the value flowing through a site.

Every noise type has one level knob, ``sigma`` (a scalar, or one value per sample as
a 1-D tensor over the batch), and the same switches:

* ``straight_through`` (default ``True``): noise is drawn in the forward pass only and
  the backward pass sees the identity, ``dy/dx = 1``, as the papers do. With ``False``
  the plain autograd gradient flows through the noise expression.
* ``in_train`` / ``in_eval``: whether the noise is applied in ``train()`` / ``eval()`` mode.
* ``executions`` (default 1): repeated execution. The noisy operation runs ``executions``
  times and its outputs are averaged; as the runs differ only in their noise draws, the
  site adds the mean of that many independent perturbations. For the Gaussian types here
  that mean is one draw at ``sigma / sqrt(executions)``, computed as such; other noise
  types draw and average.
* ``draws``: where the standard-normal values come from, ``exact`` (fresh draws, the
  default) or ``pooled`` (cheap on a CPU, in training mode); see :mod:`noisewalk.noise.draws`.

A level of exactly zero returns the input tensor itself, bit for bit.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from noisewalk.errors import InvalidParameterError
from noisewalk.noise.draws import NormalDraws, make_draws
from noisewalk.registry import Registry
from noisewalk.validate import check_positive_int, check_range, check_sigma

NOISES: Registry[Noise] = Registry("noise type")


class Noise(nn.Module):
    """Base class: ``y = x + perturbation(x, sigma)``."""

    def __init__(
        self,
        sigma: float | Tensor = 0.0,
        *,
        straight_through: bool = True,
        in_train: bool = True,
        in_eval: bool = True,
        executions: int = 1,
        draws: str | NormalDraws | None = None,
    ) -> None:
        super().__init__()
        self.sigma = sigma
        self.straight_through = straight_through
        self.in_train = in_train
        self.in_eval = in_eval
        self.executions = check_positive_int("executions", executions)
        self.draws = make_draws(draws)
        self.inplace = False
        self.batch_dim = 0
        """The dimension of the site's value that indexes the samples (set by ``inject``;
        a per-sample ``sigma`` is laid along it)."""
        """Whether the noise may be added to the input tensor itself (set by ``inject`` where
        nothing else holds the site's value)."""

    gaussian: bool = False
    """True when the perturbation is linear in zero-mean Gaussian draws, so that the mean of
    ``n`` perturbations at ``sigma`` is one perturbation at ``sigma / sqrt(n)``."""

    @property
    def sigma(self) -> float | Tensor:
        return self._sigma

    @sigma.setter
    def sigma(self, value: float | Tensor) -> None:
        value = check_sigma("sigma", value)
        if isinstance(value, Tensor) and value.dim() != 1:
            raise InvalidParameterError(
                f"a per-sample sigma must be 1-D over the batch; got shape {tuple(value.shape)}"
            )
        self._sigma = value

    def source(self) -> NormalDraws:
        """The standard-normal source for the current mode (see ``NormalDraws.for_mode``)."""
        return self.draws.for_mode(self.training)

    def is_active(self) -> bool:
        """True when this module would change its input in the current mode."""
        if not (self.in_train if self.training else self.in_eval):
            return False
        s = self._sigma
        return bool(s != 0.0) if isinstance(s, float) else True

    def forward(self, x: Tensor) -> Tensor:
        if not self.is_active():
            return x
        s = self._sigma
        if isinstance(s, Tensor):
            d = self.batch_dim
            if s.shape[0] != x.shape[d]:
                raise InvalidParameterError(
                    f"per-sample sigma has {s.shape[0]} values but the batch has {x.shape[d]} samples"
                )
            s = s.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1 - d)))
        if self.executions > 1 and self.gaussian:
            s = s / math.sqrt(self.executions)  # the mean of n independent Gaussian perturbations
        return self.add_perturbation(x, s)

    def add_perturbation(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        """``x + perturbation``, with the gradient that ``straight_through`` asks for."""
        if self.straight_through:
            with torch.no_grad():
                delta = self.averaged_perturbation(x.detach(), sigma)
            return x + delta
        return x + self.averaged_perturbation(x, sigma)

    def perturbation(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        raise NotImplementedError

    def averaged_perturbation(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        """The mean of ``executions`` independent perturbations; for Gaussian types
        ``forward`` has already folded the mean into ``sigma``, so one draw serves."""
        n = 1 if self.gaussian else self.executions
        if n == 1:
            return self.perturbation(x, sigma)
        total = self.perturbation(x, sigma)
        for _ in range(n - 1):
            total = total + self.perturbation(x, sigma)
        return total / n

    def extra_repr(self) -> str:
        s = self._sigma
        level = f"{s:g}" if isinstance(s, float) else f"per-sample[{s.numel()}]"
        repeated = f", executions={self.executions}" if self.executions > 1 else ""
        return f"sigma={level}, straight_through={self.straight_through}, draws={self.draws.name}{repeated}"


@NOISES.register("additive")
class AdditiveNoise(Noise):
    """``y = x + sigma * eps``, ``eps ~ N(0, 1)`` per element."""

    gaussian = True

    def perturbation(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        return self.source().scaled(x, sigma)

    def add_perturbation(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        # the perturbation does not depend on x: both gradient modes are the identity
        return self.source().add_scaled(x, sigma, inplace=self.inplace)


@NOISES.register("multiplicative")
class MultiplicativeNoise(Noise):
    """``y = x * (1 + sigma * eps)``: Gaussian gain with mean 1 and std sigma."""

    gaussian = True

    def perturbation(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        return self.source().scaled(x, sigma).mul_(x)


@NOISES.register("combined")
class CombinedNoise(Noise):
    """Both at once from an amplitude ``sigma = A`` and a ratio ``r`` in [0, 1]:
    ``sigma_add = A * r``, ``sigma_mul = A * (1 - r)``."""

    gaussian = True

    def __init__(self, sigma: float | Tensor = 0.0, *, ratio: float = 0.5, **kwargs) -> None:
        super().__init__(sigma, **kwargs)
        self.ratio = check_range("ratio", ratio, low=0.0, high=1.0)

    def perturbation(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        mul = self.source().scaled(x, sigma * (1.0 - self.ratio)).mul_(x)
        return mul.add_(self.source().scaled(x, sigma * self.ratio))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, ratio={self.ratio:g}"


def create_noise(name: str, **kwargs) -> Noise:
    """Create a noise module by name (``additive``, ``multiplicative``, ``combined``)."""
    return NOISES.create(name, **kwargs)


def list_noises() -> list[str]:
    return NOISES.names()

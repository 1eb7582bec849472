"""Noise in the stored weights of a matmul layer (convolution or linear).

A weight model says what a device does to the weights it stores. It is used by an
:class:`~noisewalk.device.tile.AnalogTile`, which applies it to a layer's ``weight`` at
every forward pass. Two moments matter:

* **programming** (:meth:`WeightNoise.program`): what is fixed once the weights are
  written into the devices (programming noise, drift coefficients). In evaluation mode
  it is drawn once and kept until the weights change or :meth:`program` is called again
  (one *programming draw*); in training mode it is drawn afresh at every forward pass,
  as hardware-aware training needs.
* **reading** (:meth:`WeightNoise.read`): the weights as one forward pass sees them
  (read noise is drawn here).

The simple types here have one level knob, ``sigma``, like activation noise:

* ``additive``: ``w + sigma * w_max * eps`` with ``w_max`` the layer's largest ``|w|``;
* ``multiplicative``: ``w * (1 + sigma * eps)``;

each drawn per programming (``per="draw"``: programming noise, the default) or per
forward pass (``per="forward"``: read noise). The PCM statistical model is in
:mod:`noisewalk.device.pcm`.

The backward pass is straight-through by default: the gradient reaches the stored
weights as if there were no noise (``straight_through=False`` gives the plain autograd
gradient of the noise expression, for the types that have one).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from noisewalk.errors import InvalidParameterError
from noisewalk.registry import Registry
from noisewalk.validate import check_choice, check_sigma

WEIGHT_NOISES: Registry[WeightNoise] = Registry("weight noise type")

PER = ("draw", "forward")
"""When a level-knob weight noise is drawn: once per programming draw, or at every forward pass."""


def w_max(w: Tensor) -> Tensor:
    """The layer's largest ``|w|`` (a 0-d tensor), the scale of its conductances; at least 1e-12."""
    return w.detach().abs().max().clamp_min(1e-12)


class WeightNoise(nn.Module):
    """Base class: what a device does to the weights of one layer.

    Subclasses implement :meth:`program` (draw what stays fixed for one programming)
    and :meth:`read` (the weights one forward pass sees); :meth:`reference` and
    :meth:`expected` give the weights the global drift compensation compares.
    """

    def __init__(self, *, straight_through: bool = True, in_train: bool = True, in_eval: bool = True) -> None:
        super().__init__()
        self.straight_through = straight_through
        self.in_train = in_train
        self.in_eval = in_eval
        self.register_buffer("programmed_from", None, persistent=False)
        self.state_version = 0
        """Counts changes of the programmed state (programming, time); the tile recomputes its
        drift compensation when it changes."""

    # -- what subclasses implement --
    def program(self, w: Tensor, generator: torch.Generator | None = None) -> None:
        """Draw the state that is fixed once ``w`` is programmed (nothing by default)."""

    def read(self, w: Tensor) -> Tensor:
        """The weights as one forward pass sees them."""
        raise NotImplementedError

    def reference(self, w: Tensor) -> Tensor:
        """The programmed weights before any drift (the compensation's reference)."""
        return self.expected(w)

    def expected(self, w: Tensor) -> Tensor:
        """The programmed weights now, without the noise of a single read."""
        return w

    @property
    def draws_per_programming(self) -> bool:
        """Whether this model draws anything when programmed (training redraws it at every step)."""
        return True

    @property
    def programmed(self) -> bool:
        """Whether the state of a programming is drawn (for types that have one)."""
        return self.programmed_from is not None

    def is_active(self) -> bool:
        """True when this module would change the weights in the current mode."""
        return self.in_train if self.training else self.in_eval

    # -- used by the tile --
    def needs_program(self, w: Tensor) -> bool:
        """Whether ``w`` is not (or no longer) the weights the current programming was drawn for."""
        src = self.programmed_from
        return src is None or src.shape != w.shape or src.device != w.device or not torch.equal(src, w)

    def reprogram(self, w: Tensor, generator: torch.Generator | None = None) -> None:
        """Draw a fresh programming of ``w`` (the tile and :class:`AnalogLayers` call this)."""
        with torch.no_grad():
            w = w.detach()
            self.program(w, generator)
            self.programmed_from = w.clone()
            self.state_version += 1

    def forget(self) -> None:
        """Drop the programmed state; the next forward pass in evaluation draws a new one."""
        self.programmed_from = None
        self.state_version += 1

    def effective(self, w: Tensor) -> Tensor:
        """The weights a forward pass uses, programming first where needed."""
        if not self.is_active():
            return w
        if (self.training and self.draws_per_programming) or self.needs_program(w):
            self.reprogram(w)
        if self.straight_through:
            with torch.no_grad():
                delta = self.read(w.detach()) - w.detach()
            return w + delta
        return self.read(w)

    def extra_repr(self) -> str:
        return f"straight_through={self.straight_through}"


class LevelWeightNoise(WeightNoise):
    """A weight noise with one level knob ``sigma``, drawn per programming or per forward pass."""

    def __init__(
        self,
        sigma: float = 0.0,
        *,
        per: Literal["draw", "forward"] = "draw",
        straight_through: bool = True,
        in_train: bool = True,
        in_eval: bool = True,
    ) -> None:
        super().__init__(straight_through=straight_through, in_train=in_train, in_eval=in_eval)
        self.sigma = sigma
        self.per = check_choice("per", per, PER)
        self.register_buffer("eps", None, persistent=False)

    @property
    def sigma(self) -> float:
        return self._sigma

    @sigma.setter
    def sigma(self, value: float) -> None:
        if isinstance(value, Tensor):
            raise InvalidParameterError(
                "a weight noise level must be one number: the weights are shared by every sample of a batch"
            )
        self._sigma = float(check_sigma("sigma", value))
        self.forget()  # a new level needs a new programming draw

    def is_active(self) -> bool:
        return self._sigma != 0.0 and super().is_active()

    @property
    def draws_per_programming(self) -> bool:
        return self.per == "draw"

    def needs_program(self, w: Tensor) -> bool:
        return self.per == "draw" and super().needs_program(w)

    def program(self, w: Tensor, generator: torch.Generator | None = None) -> None:
        if self.per == "draw":
            self.eps = torch.randn(w.shape, generator=generator, device=w.device, dtype=w.dtype)

    def draws(self, w: Tensor) -> Tensor:
        """The standard-normal values of this read: the programming's, or fresh ones."""
        return self.eps if self.per == "draw" else torch.randn_like(w)

    def extra_repr(self) -> str:
        return f"sigma={self._sigma:g}, per={self.per}, {super().extra_repr()}"


@WEIGHT_NOISES.register("additive")
class AdditiveWeightNoise(LevelWeightNoise):
    """``w + sigma * w_max * eps``: Gaussian noise with std ``sigma`` relative to the layer's largest ``|w|``."""

    def read(self, w: Tensor) -> Tensor:
        return w + self._sigma * w_max(w) * self.draws(w)


@WEIGHT_NOISES.register("multiplicative")
class MultiplicativeWeightNoise(LevelWeightNoise):
    """``w * (1 + sigma * eps)``: a Gaussian gain with mean 1 and std ``sigma`` per weight."""

    def read(self, w: Tensor) -> Tensor:
        return w * (1.0 + self._sigma * self.draws(w))


def create_weight_noise(name: str, **kwargs) -> WeightNoise:
    """A weight noise module by name (``additive``, ``multiplicative``, ``pcm``)."""
    import noisewalk.device.pcm  # noqa: F401 - registers "pcm"

    return WEIGHT_NOISES.create(name, **kwargs)


def list_weight_noises() -> list[str]:
    import noisewalk.device.pcm  # noqa: F401 - registers "pcm"

    return WEIGHT_NOISES.names()

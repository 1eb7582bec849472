"""One analog matmul layer: stored weights with device noise, DAC, ADC, drift compensation.

An :class:`AnalogTile` turns a convolution or linear layer into its analog counterpart
without replacing the layer: it is registered as a ``torch.nn.utils.parametrize``
parametrization of the layer's ``weight`` (the weights a forward pass uses come from
the weight model) and as a forward pre-hook (the DAC) and forward hook (the ADC and
the compensation) of the layer. The layer keeps its class, name, place in the graph and
trainable parameters, so activation noise sites, the training loop and optimizers see
it as before. The forward pass of a tile is

    y = alpha * ADC( W_device @ DAC(x) ) + bias

with the bias added digitally (no noise, no conversion) and ``alpha`` the global drift
compensation: ``alpha = sum|W_ref @ 1| / sum|W(t) @ 1|``, the layer's response to an
all-ones input right after programming over its response now (SPEC §10; the readout
is of the programmed conductances, without the noise of a single read, which averages
out over a layer). ``alpha`` is 1 when compensation is off or the weights do not drift.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from noisewalk.device.converters import Converter
from noisewalk.device.weights import WeightNoise

MATMUL_LAYERS: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear)
"""Layer types a tile can make analog (transposed convolutions excepted)."""


def is_matmul_layer(module: nn.Module) -> bool:
    return isinstance(module, MATMUL_LAYERS) and not isinstance(module, nn.modules.conv._ConvTransposeNd)


def readout(w: Tensor) -> Tensor:
    """``sum |W @ 1|``: the layer's total response to an all-ones input (W as a matrix over outputs)."""
    return w.detach().flatten(1).sum(1).abs().sum()


class AnalogTile(nn.Module):
    """The analog periphery of one matmul layer (see the module docstring)."""

    def __init__(
        self,
        weights: WeightNoise | None = None,
        *,
        dac: Converter | None = None,
        adc: Converter | None = None,
        compensation: bool = False,
    ) -> None:
        super().__init__()
        self.weights = weights
        self.dac = dac
        self.adc = adc
        self._compensation = compensation
        self.calibrating = False
        """While True the tile is ideal (no weight noise) and its converters record ranges."""
        self.register_buffer("alpha", torch.tensor(1.0), persistent=False)
        self._alpha_for = -1

    @property
    def compensation(self) -> bool:
        """Whether the global drift compensation scales the layer's output."""
        return self._compensation

    @compensation.setter
    def compensation(self, on: bool) -> None:
        self._compensation = bool(on)
        self._alpha_for = -1  # recomputed at the next forward pass
        if not on:
            self.alpha.fill_(1.0)

    # -- the parametrization of layer.weight --
    def forward(self, w: Tensor) -> Tensor:
        noise = self.weights
        if noise is None or self.calibrating or not noise.is_active():
            self.alpha.fill_(1.0)
            self._alpha_for = -1  # recomputed when the noise is on again
            return w
        out = noise.effective(w)
        if self.compensation and self._alpha_for != noise.state_version:
            self.update_compensation(w)
        return out

    def update_compensation(self, w: Tensor) -> None:
        """Set ``alpha`` from the weight model's programmed state (1 without compensation)."""
        noise = self.weights
        if not self.compensation or noise is None or not noise.programmed:
            self.alpha.fill_(1.0)
            return
        with torch.no_grad():
            now = readout(noise.expected(w))
            self.alpha.copy_(readout(noise.reference(w)) / now.clamp_min(1e-12))
        self._alpha_for = noise.state_version

    # -- the hooks on the layer --
    def attach(self, layer: nn.Module) -> None:
        """Register the DAC and ADC hooks on ``layer`` (the parametrization is registered by the caller)."""
        layer.register_forward_pre_hook(self._pre_hook)
        layer.register_forward_hook(self._post_hook, prepend=True)

    def detach(self, layer: nn.Module) -> None:
        """Remove this tile's hooks from ``layer`` (found by owner, so copies of a model work too)."""
        for hooks in (layer._forward_pre_hooks, layer._forward_hooks):
            for key in [k for k, h in hooks.items() if getattr(h, "__self__", None) is self]:
                del hooks[key]

    def _pre_hook(self, _layer: nn.Module, args: tuple) -> tuple | None:
        if self.dac is None:
            return None
        return (self.dac(args[0]), *args[1:])

    def _post_hook(self, layer: nn.Module, _args: tuple, out: Tensor) -> Tensor | None:
        compensate = self.compensation and not self.calibrating and self.weights is not None
        if self.adc is None and not compensate:
            return None
        bias = getattr(layer, "bias", None)
        if bias is not None:
            shape = (-1,) if isinstance(layer, nn.Linear) else (-1, *([1] * (out.dim() - 2)))
            bias = bias.view(shape)
            out = out - bias
        if self.adc is not None:
            out = self.adc(out)
        if compensate:
            out = out * self.alpha.to(out.dtype)
        return out + bias if bias is not None else out

    def extra_repr(self) -> str:
        return f"compensation={self.compensation}"

"""Digital-to-analog and analog-to-digital converters at a matmul layer.

A :class:`Converter` clips its input to a range and quantizes it uniformly:

* **signed**: ``[-r, r]`` in ``2^bits - 1`` levels (zero is a level), step ``r / (2^(bits-1) - 1)``;
* **unsigned**: ``[0, r]`` in ``2^bits`` levels, step ``r / (2^bits - 1)``.

The range ``r`` is fixed (``range=``) or calibrated on data (:func:`noisewalk.device.calibrate`:
the largest ``|x|`` seen, or a percentile of it). ``signed=None`` lets calibration
choose: unsigned where every calibration value was ``>= 0`` (inputs after a ReLU),
else signed; with a fixed range, None means signed. ``noise`` adds Gaussian noise of
std ``noise * r`` before quantization (the ADC's output noise).

In training mode a range that is not fixed follows the batches (an exponential moving
average, ``momentum``, of each batch's statistic, started by the first batch), the way
batch-norm statistics do: hardware-aware training with converters needs no calibration
beforehand, and the range keeps up with weights that grow. ``momentum=0`` keeps the
range as calibrated.

The backward pass is straight-through: the gradient passes the rounding unchanged
and is zero where the value was clipped.

A :class:`DAC` sits at a layer's input, an :class:`ADC` at its output (before the bias
and the digital drift compensation); they differ only in name.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from noisewalk.errors import InvalidParameterError, NotCalibratedError
from noisewalk.validate import check_range

MAX_PERCENTILE_SAMPLES = 1 << 20
"""Values of one batch a percentile is estimated from (a random subset beyond that)."""


class Converter(nn.Module):
    """Uniform quantization with a bit width and a clipping range (fixed or calibrated)."""

    def __init__(
        self,
        bits: int = 8,
        *,
        range: float | None = None,  # noqa: A002 - the converter's range, as hardware calls it
        signed: bool | None = None,
        noise: float = 0.0,
        percentile: float = 100.0,
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 24:
            raise InvalidParameterError(f"bits must be an integer from 2 to 24; got {bits!r}")
        self.bits = bits
        self.noise = check_range("noise", noise, low=0.0)
        self.percentile = check_range("percentile", percentile, low=0.0, high=100.0, low_open=True)
        self.momentum = check_range("momentum", momentum, low=0.0, high=1.0)
        self.signed = signed
        self.fixed_range = None if range is None else check_range("range", range, low=0.0, low_open=True)
        self.register_buffer("range_", torch.tensor(float("nan") if range is None else float(range)))
        self.register_buffer("signed_", torch.tensor(True if signed is None else bool(signed)))
        self._observing = False
        self._seen: list[Tensor] = []
        self._all_positive = True

    # -- calibration --
    def start_calibration(self) -> None:
        """Record the values passing through instead of converting them."""
        self._observing = True
        self._seen = []
        self._all_positive = True

    def statistic(self, x: Tensor) -> Tensor:
        """The range one batch asks for: its largest ``|x|``, or that percentile of ``|x|``."""
        a = x.detach().abs().flatten().float()
        if self.percentile >= 100.0:
            return a.max()
        if a.numel() > MAX_PERCENTILE_SAMPLES:
            a = a[torch.randint(a.numel(), (MAX_PERCENTILE_SAMPLES,), device=a.device)]
        return torch.quantile(a, self.percentile / 100.0)

    def observe(self, x: Tensor) -> Tensor:
        self._all_positive = self._all_positive and bool((x >= 0).all())
        self._seen.append(self.statistic(x).cpu())
        return x

    def track(self, x: Tensor) -> None:
        """Training mode: move the range towards this batch's statistic."""
        with torch.no_grad():
            stat = self.statistic(x).clamp_min(1e-12).to(self.range_)
            if self.calibrated:
                self.range_.lerp_(stat, self.momentum)
            else:
                self.range_.copy_(stat)
                if self.signed is None:
                    self.signed_.fill_(False)
            if self.signed is None:
                self.signed_.logical_or_((x < 0).any())

    def finish_calibration(self) -> None:
        """Set the range from what was observed (unless it is fixed) and stop observing."""
        self._observing = False
        if not self._seen:
            raise NotCalibratedError("the calibration data never reached this converter's layer")
        seen = torch.stack(self._seen)
        if self.fixed_range is None:
            value = seen.max() if self.percentile >= 100.0 else seen.mean()
            self.range_.fill_(max(float(value), 1e-12))
        if self.signed is None:
            self.signed_.fill_(not self._all_positive)
        self._seen = []

    @property
    def calibrated(self) -> bool:
        return bool(torch.isfinite(self.range_))

    @property
    def levels(self) -> int:
        """Steps from zero to the top of the range."""
        return 2 ** (self.bits - 1) - 1 if bool(self.signed_) else 2**self.bits - 1

    def forward(self, x: Tensor) -> Tensor:
        if self._observing:
            return self.observe(x)
        if self.training and self.fixed_range is None and (self.momentum > 0 or not self.calibrated):
            self.track(x)
        if not self.calibrated:
            raise NotCalibratedError(
                f"this {type(self).__name__} has no range yet: give range=..., calibrate the model on data "
                "(noisewalk.device.calibrate or AnalogLayers.calibrate), or run it in training mode first"
            )
        r = self.range_.to(dtype=x.dtype)
        low = -r if bool(self.signed_) else torch.zeros_like(r)
        y = torch.maximum(torch.minimum(x, r), low)  # clipped values get no gradient
        with torch.no_grad():
            step = r / self.levels
            noisy = y if self.noise == 0.0 else y + self.noise * r * torch.randn_like(y)
            q = torch.round(torch.maximum(torch.minimum(noisy, r), low) / step) * step
        return y + (q - y.detach())

    def extra_repr(self) -> str:
        rng = f"{float(self.range_):.4g}" if self.calibrated else "uncalibrated"
        sign = "signed" if bool(self.signed_) else "unsigned"
        if self.signed is None and not self.calibrated:
            sign = "sign from calibration"
        extra = f", noise={self.noise:g}" if self.noise else ""
        return f"bits={self.bits}, range={rng}, {sign}{extra}"


class DAC(Converter):
    """The digital-to-analog converter at a matmul layer's input."""


class ADC(Converter):
    """The analog-to-digital converter at a matmul layer's output (before bias and compensation)."""

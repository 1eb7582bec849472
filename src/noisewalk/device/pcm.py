"""The PCM statistical model: programming noise, drift, 1/f read noise, differential pairs.

The model of Joshi et al., "Accurate deep neural network inference using computational
phase-change memory" (Nature Communications 11, 2473, 2020), as IBM's aihwkit documents
it (``PCMLikeNoiseModel``). Conductances are normalized, 1 = ``g_max``:

* **mapping** (:func:`to_pair`): a weight ``w`` becomes the target conductance
  ``g_T = |w| / w_max`` of one device of a differential pair, the sign choosing the
  device; the other device is reset (target 0). ``w_max`` is the layer's largest ``|w|``.
* **programming noise**: ``g_prog = max(g_T + N(0, sigma_prog(g_T)), 0)`` with
  ``sigma_prog = max(c0 + c1 g_T + c2 g_T^2, 0)`` in µS at ``g_max = 25 µS``.
* **drift**: ``g(t) = g_prog (t / t_c)^(-nu)``, ``nu ~ N(mu_nu(g_T), sigma_nu(g_T))``
  per device.
* **read noise** (1/f): ``sigma_nG(t) = g(t) Q_s(g_T) sqrt(ln((t + t_r) / (2 t_r)))``.

Every constant is a field of :class:`PCMModel`, its default the published value.
:class:`PCMWeights` is the weight model that puts a layer's weights through all of it;
the global drift compensation lives in the tile (:mod:`noisewalk.device.tile`).

Time: ``t`` is the time since programming, in seconds. ``g_prog`` is the conductance
read at ``t_c`` (20 s), the start of the fitted drift law, so before ``t_c`` the
conductance is ``g_prog`` (no drift) and from ``t_c`` on it drifts as above. aihwkit
counts inference time from ``t_c`` instead (``g(t) = g_prog ((t + t_c) / t_c)^(-nu)``);
``t_offset=20.0`` reproduces that convention. For ``t`` of an hour or more the two
differ by less than 1 %.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

import torch
from torch import Tensor

from noisewalk.device.weights import WEIGHT_NOISES, WeightNoise, w_max
from noisewalk.errors import InvalidParameterError
from noisewalk.validate import check_choice, check_range


@dataclass(frozen=True)
class PCMModel:
    """The constants of the PCM statistical model (defaults: Joshi et al. 2020, aihwkit)."""

    g_max: float = 25.0
    """Largest conductance in µS, the value ``|w| = w_max`` maps to (normalized units are relative to it)."""
    prog_coeffs: tuple[float, float, float] = (0.2635, 1.9650, -1.1731)
    """``sigma_prog`` in µS is ``c0 + c1 g_T + c2 g_T^2`` (clipped at 0), fitted at ``prog_g_max``."""
    prog_g_max: float = 25.0
    """The ``g_max`` (µS) the programming-noise polynomial was fitted at (``sigma_prog`` in µS
    scales by ``g_max / prog_g_max``; in normalized units it does not change)."""
    t_c: float = 20.0
    """Seconds after programming at which ``g_prog`` is read and the drift law starts."""
    nu_mu: tuple[float, float, float, float] = (-0.0155, 0.0244, 0.049, 0.1)
    """Mean drift exponent: ``mu_nu = clip(a ln g_T + b, lo, hi)`` as ``(a, b, lo, hi)``."""
    nu_sigma: tuple[float, float, float, float] = (-0.0125, -0.0059, 0.008, 0.045)
    """Spread of the drift exponent: ``sigma_nu = clip(a ln g_T + b, lo, hi)`` as ``(a, b, lo, hi)``."""
    q_s: tuple[float, float, float] = (0.0088, 0.65, 0.2)
    """1/f read-noise amplitude ``Q_s = min(q / g_T^e, q_max)`` as ``(q, e, q_max)``."""
    t_read: float = 250e-9
    """Read duration ``t_r`` in seconds of the 1/f noise integral."""
    g_floor: float = 1e-7
    """Smallest ``g_T`` used inside logarithms and powers (a reset device has ``g_T = 0``)."""
    prog_scale: float = 1.0
    """Multiplies the programming noise (0 turns it off)."""
    drift_scale: float = 1.0
    """Multiplies the drift exponents (0 turns drift off)."""
    read_scale: float = 1.0
    """Multiplies the read noise (0 turns it off)."""
    reset_noise: bool = True
    """Program the pair's reset device (target 0) with noise too, as aihwkit does; False keeps it at exactly 0."""
    fold_nu: bool = False
    """Take ``|nu|`` (aihwkit does); the published model draws ``nu`` from the normal distribution as it is."""
    t_offset: float = 0.0
    """Added to the time since programming (20.0 reproduces aihwkit's convention, see the module docstring)."""

    def __post_init__(self) -> None:
        for name in ("g_max", "prog_g_max", "t_c", "t_read", "g_floor"):
            check_range(name, getattr(self, name), low=0.0, low_open=True)
        for name in ("prog_scale", "drift_scale", "read_scale", "t_offset"):
            check_range(name, getattr(self, name), low=0.0)
        for name, n in (("prog_coeffs", 3), ("nu_mu", 4), ("nu_sigma", 4), ("q_s", 3)):
            value = getattr(self, name)
            if len(value) != n or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value):
                raise InvalidParameterError(f"{name} must be {n} finite numbers; got {value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in value))
        for name in ("nu_mu", "nu_sigma"):
            lo, hi = getattr(self, name)[2:]
            if lo > hi:
                raise InvalidParameterError(f"{name}: the lower clip {lo!r} is above the upper clip {hi!r}")

    # -- the formulas, in normalized conductance units --
    def sigma_prog(self, g_target: Tensor) -> Tensor:
        """Std of the programming noise at target conductance ``g_target`` (normalized)."""
        c0, c1, c2 = self.prog_coeffs
        micro = (c0 + c1 * g_target + c2 * g_target * g_target).clamp_min(0.0)
        return micro * (self.g_max / self.prog_g_max) / self.g_max * self.prog_scale

    def program(self, g_target: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``g_prog``: the target plus programming noise, clamped at 0."""
        noise = self.sigma_prog(g_target) * _randn(g_target, generator)
        if not self.reset_noise:
            noise = noise * (g_target > 0)
        return (g_target + noise).clamp_min(0.0)

    def nu_mean(self, g_target: Tensor) -> Tensor:
        """Mean drift exponent ``mu_nu(g_T)``."""
        a, b, lo, hi = self.nu_mu
        return (a * g_target.clamp_min(self.g_floor).log() + b).clamp(lo, hi)

    def nu_std(self, g_target: Tensor) -> Tensor:
        """Spread of the drift exponent ``sigma_nu(g_T)``."""
        a, b, lo, hi = self.nu_sigma
        return (a * g_target.clamp_min(self.g_floor).log() + b).clamp(lo, hi)

    def drift_exponents(self, g_target: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One drift exponent ``nu`` per device."""
        nu = self.nu_mean(g_target) + self.nu_std(g_target) * _randn(g_target, generator)
        return (nu.abs() if self.fold_nu else nu) * self.drift_scale

    def drift_factor(self, nu: Tensor, t: float) -> Tensor:
        """``(t / t_c)^(-nu)`` from ``t_c`` on, 1 before."""
        ratio = max(t + self.t_offset, self.t_c) / self.t_c
        return torch.exp(-math.log(ratio) * nu)

    def read_level(self, t: float) -> float:
        """``sqrt(ln((t + t_r) / (2 t_r)))``, the time dependence of the 1/f noise (0 for ``t <= t_r``)."""
        t = t + self.t_offset
        return math.sqrt(max(math.log((t + self.t_read) / (2 * self.t_read)), 0.0))

    def q_amplitude(self, g_target: Tensor) -> Tensor:
        """``Q_s(g_T) = min(q / g_T^e, q_max)``."""
        q, e, q_max = self.q_s
        return (q / g_target.clamp_min(self.g_floor).pow(e)).clamp_max(q_max)

    def read_sigma(self, g_now: Tensor, g_target: Tensor, t: float) -> Tensor:
        """Std of the read noise ``sigma_nG(t) = g(t) Q_s(g_T) sqrt(ln((t + t_r) / (2 t_r)))``."""
        return g_now * self.q_amplitude(g_target) * (self.read_level(t) * self.read_scale)

    def read(self, g_now: Tensor, sigma: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One read: ``g(t) + N(0, sigma_nG)``, clamped at 0."""
        return (g_now + sigma * _randn(g_now, generator)).clamp_min(0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _randn(like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def to_pair(w: Tensor, scale: Tensor | float) -> tuple[Tensor, Tensor]:
    """The differential pair's target conductances ``(g_plus, g_minus)``, normalized so that
    ``|w| = scale`` maps to 1: the positive part on one device, the negative on the other."""
    g = w / scale
    return g.clamp(0.0, 1.0), (-g).clamp(0.0, 1.0)


def from_pair(g_plus: Tensor, g_minus: Tensor, scale: Tensor | float) -> Tensor:
    """The weights a differential pair holds: ``scale * (g_plus - g_minus)``."""
    return (g_plus - g_minus) * scale


READ = ("forward", "draw")


@WEIGHT_NOISES.register("pcm")
class PCMWeights(WeightNoise):
    """A layer's weights stored in PCM differential pairs (:class:`PCMModel`).

    Programming draws ``g_prog`` and the drift exponents of both devices of every pair;
    :attr:`t` (seconds since programming) sets the drift; every read adds 1/f read noise,
    fresh at each forward pass (``read="forward"``: the noise of every read) or drawn
    once per time and programming (``read="draw"``: the noise accumulated up to ``t``,
    as aihwkit applies it). Keyword arguments other than these are fields of
    :class:`PCMModel`.

    The backward pass is straight-through: PCM weights train as hardware-aware training
    does (a fresh programming at every training step).
    """

    def __init__(
        self,
        model: PCMModel | None = None,
        *,
        t: float | None = None,
        read: Literal["forward", "draw"] = "forward",
        in_train: bool = True,
        in_eval: bool = True,
        **model_fields: Any,
    ) -> None:
        super().__init__(straight_through=True, in_train=in_train, in_eval=in_eval)
        known = {f.name for f in fields(PCMModel)}
        unknown = sorted(set(model_fields) - known)
        if unknown:
            raise InvalidParameterError(
                f"unknown PCM model setting {unknown[0]!r}; the settings are: {', '.join(sorted(known))}"
            )
        self.model = replace(model or PCMModel(), **model_fields)
        self.read_mode = check_choice("read", read, READ)
        state = ("scale", "target_plus", "target_minus", "g_plus", "g_minus", "nu_plus", "nu_minus")
        at_time = ("now_plus", "now_minus", "read_plus", "read_minus", "fixed_read")
        for name in state + at_time:
            self.register_buffer(name, None, persistent=False)
        self._t = self.model.t_c
        self.t = self.model.t_c if t is None else t

    @property
    def straight_through(self) -> bool:
        return True

    @straight_through.setter
    def straight_through(self, value: bool) -> None:
        if not value:
            raise InvalidParameterError("PCM weights have no gradient of their own: straight_through must be True")

    @property
    def t(self) -> float:
        """Seconds since programming; setting it moves the drift and the read noise to that time."""
        return self._t

    @t.setter
    def t(self, value: float) -> None:
        self._t = check_range("t", value, low=0.0)
        if self.g_plus is not None:
            self._at_time()

    def program(self, w: Tensor, generator: torch.Generator | None = None) -> None:
        m = self.model
        self.scale = w_max(w)
        self.target_plus, self.target_minus = to_pair(w, self.scale)
        self.g_plus = m.program(self.target_plus, generator)
        self.g_minus = m.program(self.target_minus, generator)
        self.nu_plus = m.drift_exponents(self.target_plus, generator)
        self.nu_minus = m.drift_exponents(self.target_minus, generator)
        self._at_time(generator)

    def _at_time(self, generator: torch.Generator | None = None) -> None:
        """Drift the programmed pairs to :attr:`t` and set the read noise there."""
        m, t = self.model, self._t
        self.now_plus = self.g_plus * m.drift_factor(self.nu_plus, t)
        self.now_minus = self.g_minus * m.drift_factor(self.nu_minus, t)
        self.read_plus = m.read_sigma(self.now_plus, self.target_plus, t)
        self.read_minus = m.read_sigma(self.now_minus, self.target_minus, t)
        self.fixed_read = self._read(generator) if self.read_mode == "draw" else None
        self.state_version += 1

    def _read(self, generator: torch.Generator | None = None) -> Tensor:
        m = self.model
        plus = m.read(self.now_plus, self.read_plus, generator)
        minus = m.read(self.now_minus, self.read_minus, generator)
        return from_pair(plus, minus, self.scale)

    def read(self, w: Tensor) -> Tensor:
        return self.fixed_read if self.fixed_read is not None else self._read()

    def reference(self, w: Tensor) -> Tensor:
        return from_pair(self.g_plus, self.g_minus, self.scale)

    def expected(self, w: Tensor) -> Tensor:
        return from_pair(self.now_plus, self.now_minus, self.scale)

    def extra_repr(self) -> str:
        return f"t={self._t:g}, read={self.read_mode}"

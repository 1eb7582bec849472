"""Noise levels that vary from sample to sample: VANT training draws and fluctuating inference noise.

**Variance-aware noisy training (VANT)** trains on a distribution of noise levels. Each
image ``i`` of a mini-batch gets its own level

    sigma_i = alpha * sigma_train + theta * |z_i|,   z_i ~ N(0, 1),

which applies at every noise site for that image (a per-sample sigma tensor). The
per-epoch variant draws one ``z`` per epoch, shared by all images of that epoch. The
authors' defaults: ``alpha = 0.45``; ``theta`` grows with ``sigma_train`` as in their
configurations (0.5 -> 0.25, 1.1 -> 0.45, 1.5 -> 0.65, 2.1 -> 0.85), linearly in
between; outside that table ``theta / sigma_train`` is held at its value at the nearer
end (``theta = 0.5 * sigma_train`` below 0.5, ``theta = 0.405 * sigma_train`` above 2.1).

**Fluctuating inference noise** models hardware whose noise level drifts around a mean:
sample ``i`` is evaluated at

    sigma_i = mean * |1 + spread * z_i|,   z_i ~ N(0, 1),

a relative spread (``spread = 0.3`` gives levels within about ±30 % of the mean for two
thirds of the samples); folding at zero keeps every level positive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from noisewalk.recipe import VANT_ALPHA
from noisewalk.validate import check_range, check_sigma

if TYPE_CHECKING:
    from noisewalk.recipe import TrainConfig
VANT_THETA_TABLE: tuple[tuple[float, float], ...] = ((0.5, 0.25), (1.1, 0.45), (1.5, 0.65), (2.1, 0.85))
"""(sigma_train, theta) pairs of the authors' configurations."""


def vant_theta(sigma_train: float) -> float:
    """The default theta for ``sigma_train``, interpolated from :data:`VANT_THETA_TABLE`."""
    sigma_train = float(check_sigma("sigma_train", sigma_train))
    xs = [s for s, _ in VANT_THETA_TABLE]
    ys = [t for _, t in VANT_THETA_TABLE]
    if sigma_train <= xs[0]:
        return sigma_train * ys[0] / xs[0]
    if sigma_train >= xs[-1]:
        return sigma_train * ys[-1] / xs[-1]
    return float(np.interp(sigma_train, xs, ys))


def vant_sigma(
    sigma_train: float,
    n: int,
    *,
    alpha: float = VANT_ALPHA,
    theta: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``n`` VANT levels ``alpha * sigma_train + theta * |z|`` (``theta=None``: the default)."""
    theta = vant_theta(sigma_train) if theta is None else theta
    z = torch.randn(n, generator=generator)
    return z.abs_().mul_(theta).add_(alpha * sigma_train)


def fluctuating_sigma(mean: Tensor | float, spread: float, *, generator: torch.Generator | None = None) -> Tensor:
    """Per-sample levels ``mean * |1 + spread * z|`` around ``mean`` (a tensor of per-sample means)."""
    check_range("spread", spread, low=0.0)
    mean = torch.as_tensor(mean, dtype=torch.float32)
    z = torch.randn(mean.shape, generator=generator).to(mean.device)
    return z.mul_(spread).add_(1.0).abs_().mul_(mean)


def training_sigma(
    config: TrainConfig,
    epoch: int,
    n: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> float | Tensor:
    """The training noise level for one mini-batch of ``n`` images in ``epoch`` (0-based).

    ``fixed``: the scalar ``config.sigma_at(epoch)``. ``vant``: a fresh per-image tensor
    from ``generator``. ``vant-epoch``: one scalar per epoch, the same for every batch of
    it (drawn from a generator seeded by ``config.seed`` and ``epoch``). During the
    warm-up epochs every mode uses the fixed ramp. Per-image levels are put on ``device``.
    """
    if config.noise_mode == "fixed" or epoch < config.warmup_epochs or config.sigma == 0:
        return config.sigma_at(epoch)
    if config.noise_mode == "vant":
        levels = vant_sigma(config.sigma, n, alpha=config.vant_alpha, theta=config.vant_theta, generator=generator)
        return levels.to(device) if device is not None else levels
    epoch_gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    return float(vant_sigma(config.sigma, 1, alpha=config.vant_alpha, theta=config.vant_theta, generator=epoch_gen))

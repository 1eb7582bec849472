"""The self-binarization test: how much accuracy survives when a site's values are
replaced by a few levels.

WN observed that networks trained with strong multiplicative noise (with batch-norm)
keep their accuracy up to enormous noise levels, as if their activations had become
binary. The test replaces the values at one site by ``levels`` levels: values near zero
become 0, every other cluster its mean. The clusters come from a one-dimensional
k-means with one centre held at zero, on the site's values over calibration inputs;
at test time each value goes to its nearest centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from noisewalk.analysis.activations import site_batches, site_hooks
from noisewalk.data import TensorData
from noisewalk.errors import InvalidParameterError
from noisewalk.sites import NoisyModel, SiteSelector
from noisewalk.train.loop import evaluate
from noisewalk.validate import check_positive_int

MAX_CALIBRATION_VALUES = 200_000
"""Values sampled per site to place the centres."""


def _nearest(v: Tensor, centers: Tensor) -> Tensor:
    """Index of the nearest of the ascending ``centers`` for every value."""
    return torch.bucketize(v, (centers[1:] + centers[:-1]) / 2)


def _lloyd(v: Tensor, free: Tensor, iterations: int) -> tuple[Tensor, float]:
    """k-means with an extra centre held at 0; returns all centres (ascending) and the squared error."""
    centers = torch.sort(torch.cat([torch.zeros(1), free])).values
    for _ in range(iterations):
        assign = _nearest(v, centers)
        sums = torch.zeros(len(centers), dtype=torch.double).index_add_(0, assign, v.double())
        counts = torch.bincount(assign, minlength=len(centers)).double()
        new = torch.where(counts > 0, sums / counts.clamp(min=1), centers.double()).float()
        new[centers == 0] = 0.0  # the zero centre stays
        new = torch.sort(new).values
        if torch.allclose(new, centers):
            break
        centers = new
    error = float((v - centers[_nearest(v, centers)]).double().square().sum())
    return centers, error


def level_centers(values: Tensor, levels: int, *, iterations: int = 50) -> Tensor:
    """Centres of ``levels`` clusters of ``values`` (1-D k-means with one centre fixed at 0,
    the best of a few starts), ascending."""
    check_positive_int("levels", levels, minimum=2)
    v = values.detach().flatten().float().cpu()
    v = v[torch.isfinite(v)][:MAX_CALIBRATION_VALUES]
    if v.numel() == 0:
        raise InvalidParameterError("level_centers needs at least one finite value")
    free = levels - 1
    base = v[v != 0] if bool((v != 0).any()) else v
    starts = [
        torch.quantile(base.double(), torch.linspace(0, 1, free + 2, dtype=torch.double)[1:-1]).float(),
        torch.quantile(base.double(), torch.linspace(0.5, 1, free + 2, dtype=torch.double)[1:-1]).float(),
        torch.linspace(float(base.min()), float(base.max()), free + 2)[1:-1],
    ]
    return min((_lloyd(v, c, iterations) for c in starts), key=lambda r: r[1])[0]


def to_levels(x: Tensor, centers: Tensor) -> Tensor:
    """Each value of ``x`` replaced by its nearest centre (``centers`` ascending)."""
    c = centers.to(device=x.device, dtype=x.dtype)
    return c[_nearest(x, c)]


@dataclass(frozen=True)
class BinarizationResult:
    """Accuracy of a network with one site's values reduced to ``levels`` levels."""

    site: str
    levels: int
    centers: tuple[float, ...]
    clean_acc: float
    acc: float

    @property
    def preserved(self) -> float:
        """Accuracy left, relative to the noise-free, unreduced network."""
        return self.acc / self.clean_acc if self.clean_acc > 0 else math.nan


def self_binarization_test(
    model: NoisyModel,
    data: TensorData,
    *,
    sites: SiteSelector = None,
    levels: tuple[int, ...] = (2, 3),
    calibration: TensorData | None = None,
    max_samples: int = 2048,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> list[BinarizationResult]:
    """For each chosen site (all by default) and each level count, reduce that site's
    values (all noise off) and measure the test accuracy on ``data``.

    ``calibration`` (default: ``data``) provides the values the centres are fitted to,
    at most ``max_samples`` inputs of it.
    """
    for n in levels:
        check_positive_int("levels", n, minimum=2)
    chosen = model.select(sites)
    gen = torch.Generator().manual_seed(seed)
    saved = [n.sigma for n in model.noises]
    model.set_sigma(0.0)
    try:
        values: dict[int, list[Tensor]] = {}

        def collect(i: int, inp: Tensor, _out: Tensor) -> None:
            v = inp.detach().flatten()
            keep = min(v.numel(), MAX_CALIBRATION_VALUES // 4)
            values.setdefault(i, []).append(v[torch.randperm(v.numel(), generator=gen)[:keep].to(v.device)].cpu())

        with site_hooks(model, chosen, collect):
            for _ in site_batches(model, calibration or data, max_samples, device):
                pass
        clean = evaluate(model, data, [0.0], device=device).mean[0]
        results = []
        for i in chosen:
            pool = torch.cat(values[i])
            pool = pool[torch.randperm(pool.numel(), generator=gen)[:MAX_CALIBRATION_VALUES]]
            for n in levels:
                centers = level_centers(pool, n)
                with site_hooks(model, i, lambda _i, inp, _out, c=centers: to_levels(inp, c)):
                    acc = evaluate(model, data, [0.0], device=device).mean[0]
                results.append(BinarizationResult(model.sites[i].name, n, tuple(float(c) for c in centers), clean, acc))
        return results
    finally:
        for noise, s in zip(model.noises, saved, strict=True):
            noise.sigma = s

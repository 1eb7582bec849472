"""Activation histograms per site, through forward hooks on the sites' noise modules.

The value at a site is the input of its noise module (the clean activation); with
``after_noise=True`` it is the noise module's output (what the next layer sees, at the
noise levels currently set on the model).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from noisewalk.data import TensorData, TensorLoader
from noisewalk.sites import NoisyModel, SiteSelector
from noisewalk.train.loop import resolve_device
from noisewalk.validate import check_positive_int

SiteHook = Callable[[int, Tensor, Tensor], Tensor | None]
"""``hook(site index, noise input, noise output)``; a returned tensor replaces the output."""


@contextmanager
def site_hooks(model: NoisyModel, sites: SiteSelector, hook: SiteHook) -> Iterator[list[int]]:
    """Run ``hook`` at every chosen site's noise module while the context is open."""
    chosen = model.select(sites)
    handles = [model.noises[i].register_forward_hook(lambda _m, inp, out, i=i: hook(i, inp[0], out)) for i in chosen]
    try:
        yield chosen
    finally:
        for h in handles:
            h.remove()


def site_batches(model: NoisyModel, data: TensorData, max_samples: int, device) -> Iterator[Tensor]:
    """Run the model (in eval mode, no gradients) over the first ``max_samples`` test
    samples; yields after each batch so hooks can collect."""
    dev = resolve_device(device)
    model.to(dev).eval()
    part = data if len(data) <= max_samples else data.subset(max_samples)
    with torch.no_grad():
        for xb, _ in TensorLoader(part, 512, device=dev):
            model(xb)
            yield xb


@dataclass
class ActivationHistogram:
    """Distribution of one site's values over a set of inputs."""

    site: str
    edges: np.ndarray
    counts: np.ndarray
    """Histogram over linear bins between the smallest and largest value."""
    log_edges: np.ndarray
    log_counts: np.ndarray
    """Histogram of |value| over log-spaced bins (zeros left out; see ``zeros``)."""
    zeros: int
    negatives: int
    total: int
    mean: float
    std: float

    @property
    def zero_fraction(self) -> float:
        return self.zeros / self.total if self.total else math.nan


def _ranges(s: dict) -> tuple[float, float, float, float]:
    """Linear range of the values and log10 range of their nonzero magnitudes (never empty)."""
    lo, hi = (s["lo"], s["hi"]) if s["hi"] > s["lo"] else (s["lo"] - 0.5, s["lo"] + 0.5)
    alo, ahi = (math.log10(s["alo"]), math.log10(s["ahi"])) if s["ahi"] > 0 else (0.0, 1.0)
    return lo, hi, alo, (ahi if ahi > alo else alo + 1.0)


def activation_histograms(
    model: NoisyModel,
    data: TensorData,
    *,
    sites: SiteSelector = None,
    bins: int = 100,
    max_samples: int = 1024,
    after_noise: bool = False,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> dict[str, ActivationHistogram]:
    """Histograms of the values at the chosen sites (all by default), by site name.

    Two passes over at most ``max_samples`` test inputs (the first finds each site's
    range, the second counts), with the same noise draws in both (seeded).
    """
    check_positive_int("bins", bins, minimum=2)
    check_positive_int("max_samples", max_samples)
    stats: dict[int, dict] = {}

    def first(i: int, inp: Tensor, out: Tensor) -> None:
        v = (out if after_noise else inp).detach().float()
        a = v.abs()
        nonzero = a[a > 0]
        s = stats.setdefault(
            i,
            {
                "lo": math.inf,
                "hi": -math.inf,
                "alo": math.inf,
                "ahi": 0.0,
                "n": 0,
                "zeros": 0,
                "neg": 0,
                "sum": 0.0,
                "sq": 0.0,
            },
        )
        s["lo"], s["hi"] = min(s["lo"], float(v.min())), max(s["hi"], float(v.max()))
        if nonzero.numel():
            s["alo"], s["ahi"] = min(s["alo"], float(nonzero.min())), max(s["ahi"], float(nonzero.max()))
        s["n"] += v.numel()
        s["zeros"] += int((a == 0).sum())
        s["neg"] += int((v < 0).sum())
        s["sum"] += float(v.double().sum())
        s["sq"] += float(v.double().square().sum())

    counts: dict[int, list[Tensor]] = {}
    ranges: dict[int, tuple[float, float, float, float]] = {}

    def second(i: int, inp: Tensor, out: Tensor) -> None:
        v = (out if after_noise else inp).detach().float().flatten()
        lo, hi, alo, ahi = ranges[i]
        a = v.abs()
        lin = torch.histc(v, bins, lo, hi).cpu()
        logc = torch.histc(torch.log10(a[a > 0]), bins, alo, ahi).cpu()
        if i in counts:
            counts[i][0] += lin
            counts[i][1] += logc
        else:
            counts[i] = [lin, logc]

    for hook in (first, second):
        with torch.random.fork_rng(), site_hooks(model, sites, hook):
            torch.manual_seed(seed)
            for _ in site_batches(model, data, max_samples, device):
                pass
        ranges = {i: _ranges(s) for i, s in stats.items()}

    out = {}
    for i, s in stats.items():
        lin, logc = counts[i]
        lo, hi, alo, ahi = ranges[i]
        mean = s["sum"] / s["n"]
        out[model.sites[i].name] = ActivationHistogram(
            site=model.sites[i].name,
            edges=np.linspace(lo, hi, bins + 1),
            counts=lin.numpy().astype(np.int64),
            log_edges=np.logspace(alo, ahi, bins + 1),
            log_counts=logc.numpy().astype(np.int64),
            zeros=s["zeros"],
            negatives=s["neg"],
            total=s["n"],
            mean=mean,
            std=math.sqrt(max(s["sq"] / s["n"] - mean * mean, 0.0)),
        )
    return out

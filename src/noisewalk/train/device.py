"""Where a model runs: the device, its memory layout, and the seeds."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch import nn

from noisewalk.errors import InvalidParameterError
from noisewalk.validate import parse_auto_count


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InvalidParameterError(f"device={device!r} is not allowed; choose 'auto', 'cpu' or 'cuda'")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidParameterError(f"device={device!r} was asked for but no CUDA device is available")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def place(model: nn.Module, device: torch.device, channels_last: bool | None) -> bool:
    """Move ``model`` to ``device`` in the layout ``channels_last`` resolves to (see
    :func:`use_channels_last`); returns whether that layout is channels-last."""
    model.to(device)
    chosen = use_channels_last(channels_last, model, device)
    if chosen:
        model.to(memory_format=torch.channels_last)
    return chosen


def use_channels_last(choice: bool | None, model: nn.Module, device: torch.device) -> bool:
    """``TrainConfig.channels_last`` resolved for ``model`` on ``device`` (see there)."""
    if choice is not None:
        return bool(choice)
    modules = list(model.modules())
    return (
        device.type == "cpu"
        and any(isinstance(m, nn.Conv2d) for m in modules)
        and not any(type(m).__module__.startswith("brevitas") for m in modules)
    )


SMALL_MODEL_PARAMETERS = 1_000_000
"""Models with fewer parameters and no convolution train fastest on one thread per process:
their operations are too small for torch to split across threads profitably. (LeNet-5 on
CIFAR-10, 62 thousand parameters, trains 1.5 times faster on two threads than on one:
its convolutions are the work.)"""


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which containers and job
    schedulers set), not every core of the machine."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def job_threads(choice: int | None, model: nn.Module, cores: int | None = None) -> int:
    """torch threads for training ``model``: ``choice`` when given; otherwise (``auto``) one
    for a small model (under :data:`SMALL_MODEL_PARAMETERS` parameters, no convolution) and
    the job's share of the cores (``cores``, by default all this process may use) for any
    other, so that processes × threads never exceed the cores."""
    if choice is not None:
        if int(choice) < 1:
            raise InvalidParameterError(f"threads={choice!r} is not allowed; choose a positive number or 'auto'")
        return int(choice)
    share = available_cores() if cores is None else max(1, int(cores))
    size = sum(p.numel() for p in model.parameters())
    convolutions = any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
    return 1 if size < SMALL_MODEL_PARAMETERS and not convolutions else share


def parse_threads(value: str | int | None) -> int | None:
    """A ``--threads`` value: ``auto`` (None) or a positive number."""
    return parse_auto_count("threads", value)

"""Where a model runs: the device, its memory layout, and the seeds."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from noisewalk.errors import InvalidParameterError


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

"""Training checkpoints: everything ``train`` needs to continue after an epoch, bit for bit.

A training state holds the model's and the optimizer's state, the learning-rate
schedule, the random number generators (the batch-order generator and torch's global
generators, which draw the noise) and the history so far. Resuming from it gives the
same result as training without interruption. Checkpoint files are written atomically
and hold only tensors and plain values, so they load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from noisewalk.errors import InvalidParameterError
from noisewalk.results.files import write_atomic

STATE_KEYS = ("epoch", "model", "optimizer", "scheduler", "generator", "torch_rng", "cuda_rng", "history")


def training_state(
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    history: list[dict[str, float]],
) -> dict[str, Any]:
    """The state after ``epoch`` completed epochs."""
    return {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "history": [dict(r) for r in history],
    }


def restore_training_state(
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
) -> tuple[int, list[dict[str, float]]]:
    """Load ``state`` into the training objects; returns (completed epochs, history)."""
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise InvalidParameterError(f"a training state needs the keys {', '.join(STATE_KEYS)}; missing {missing}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["epoch"]), [dict(r) for r in state["history"]]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: a reader sees the previous checkpoint or this one."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return write_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any] | None:
    """The state saved at ``path`` (tensors on the CPU), or None when there is none."""
    path = Path(path)
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)

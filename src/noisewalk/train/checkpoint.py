"""Training checkpoints: everything ``train`` needs to continue after an epoch, bit for bit.

A training state holds the model's and the optimizer's state, the learning-rate
schedule, the random number generators (the batch-order generator and torch's global
generators, which draw the noise) and the history so far. Resuming from it gives the
same result as training without interruption. Checkpoint files are written atomically
and hold only tensors and plain values, so they load with
``torch.load(weights_only=True)``.

A checkpoint that cannot be read as a training state (an empty file, garbage, a file
cut short by a copy) is set aside as ``<name>.damaged`` and training starts again from
scratch: a damaged file never makes a job fail on every rerun.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from noisewalk.errors import InvalidParameterError, is_environment_error, storage_error
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
    """Write ``state`` to ``path`` atomically: a reader sees the previous checkpoint or this one.

    A full disk, an exceeded quota or read-only storage raise a
    :class:`~noisewalk.errors.StorageError` naming the file."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        return write_atomic(path, buffer.getvalue())
    except OSError as exc:
        raise storage_error(path, exc, then="run the same command again to continue") from None


def set_aside(path: str | Path, reason: str) -> str:
    """Rename a damaged checkpoint to ``<name>.damaged`` (replacing an older one); returns
    the message that says so."""
    path = Path(path)
    aside = path.with_name(path.name + ".damaged")
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise storage_error(path, exc, fix=f"it is damaged ({reason}): delete it") from None
    return f"checkpoint {path} is damaged ({reason}); set aside as {aside.name}, its network is trained from scratch"


def load_checkpoint(path: str | Path, *, on_damaged: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """The state saved at ``path`` (tensors on the CPU), or None when there is none.

    A file that is not a training state is set aside (see :func:`set_aside`) and None is
    returned; ``on_damaged`` receives the message (by default it is a warning)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with warnings.catch_warnings():  # torch's remarks on a damaged file's pickle protocol
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"it holds a {type(state).__name__}, not a saved state")
    except Exception as exc:
        if is_environment_error(exc):  # unreadable, not damaged
            raise storage_error(path, exc, doing="read") from None
        if isinstance(exc, ValueError) and not isinstance(exc, UnicodeError):
            reason = str(exc)
        elif path.stat().st_size == 0:
            reason = "it is empty"
        else:
            reason = f"torch cannot read it as a checkpoint: {type(exc).__name__}"
        message = set_aside(path, reason)
        if on_damaged is None:
            warnings.warn(message, stacklevel=2)
        else:
            on_damaged(message)
        return None
    return state

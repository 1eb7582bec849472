"""Training with noise (plain, noisy, VANT), evaluation across noise levels, checkpoints."""

from __future__ import annotations

from noisewalk.train.loop import (
    EvalCurve,
    TrainConfig,
    TrainResult,
    evaluate,
    resolve_device,
    seed_everything,
    train,
    training_steps,
)

__all__ = [
    "EvalCurve",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "resolve_device",
    "seed_everything",
    "train",
    "training_steps",
]

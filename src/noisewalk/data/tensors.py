"""Your own data from tensors already in memory: :func:`from_tensors`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from noisewalk.data.core import Augment, DataSplits, TensorData
from noisewalk.data.images import channel_stats
from noisewalk.errors import InvalidParameterError


def _labels(param: str, y: Tensor, n: int) -> Tensor:
    y = torch.as_tensor(y)
    if y.dim() != 1 or len(y) != n or y.is_floating_point() or y.dtype == torch.bool:
        raise InvalidParameterError(
            f"{param} must be {n} integer class labels (one per sample); got shape {tuple(y.shape)}"
        )
    if n and int(y.min()) < 0:
        raise InvalidParameterError(f"{param} holds a negative label ({int(y.min())}); labels are 0, 1, 2, ...")
    return y.long()


def from_tensors(
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    *,
    classes: Sequence[str] | None = None,
    name: str = "tensors",
    augment: Sequence[Augment] = (),
) -> DataSplits:
    """A dataset from tensors: inputs (N, ...) and integer labels (N,) of each split.

    Images (N, C, H, W) are normalized per channel with the training split's mean and
    standard deviation, ``uint8`` ones as pixels in [0, 255], float ones as they are;
    other inputs (features, token ids) are passed on unchanged. ``classes`` names the
    labels 0, 1, ... (default: "0", "1", ... up to the largest label). ``augment``: batch
    augmentations such as ``noisewalk.data.random_crop_flip(4)``.
    """
    x_train, x_test = torch.as_tensor(x_train), torch.as_tensor(x_test)
    y_train = _labels("y_train", y_train, len(x_train))
    y_test = _labels("y_test", y_test, len(x_test))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise InvalidParameterError(
            "x_train and x_test must share one sample shape; "
            f"got {tuple(x_train.shape[1:])} and {tuple(x_test.shape[1:])}"
        )
    if len(x_train) == 0:
        raise InvalidParameterError("x_train is empty")
    top = int(max(y_train.max(), y_test.max() if len(y_test) else 0))
    classes = [str(i) for i in range(max(top + 1, 2))] if classes is None else [str(c) for c in classes]
    if top >= len(classes):
        raise InvalidParameterError(
            f"label {top} has no class: classes names {len(classes)} (labels 0..{len(classes) - 1})"
        )
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    scale = 255.0 if x_train.dtype == torch.uint8 else 1.0
    if x_train.dim() == 4 and (x_train.dtype == torch.uint8 or x_train.is_floating_point()):
        mean, std = channel_stats(x_train, scale=scale)
        std = tuple(s if s > 0 else 1.0 for s in std)  # a constant channel stays as it is
    return DataSplits(
        name,
        TensorData(x_train, y_train, classes, mean, std, scale),
        TensorData(x_test, y_test, classes, mean, std, scale),
        augment=list(augment),
    )

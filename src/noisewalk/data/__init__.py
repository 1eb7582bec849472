"""Datasets as tensors, loaded once, and a tensor-resident batch loader.

A dataset is a pair of :class:`TensorData` splits whose images stay as stored
(``uint8`` for image datasets) and are normalized per batch on the device. Batches are
slices of a random permutation; augmentation works on a whole batch at once.
"""

from __future__ import annotations

from noisewalk.data.core import (
    DataSplits,
    TensorData,
    TensorLoader,
    class_weights,
    hflip,
    random_crop,
    random_crop_flip,
)
from noisewalk.registry import Registry

DATASETS: Registry[DataSplits] = Registry("dataset")


def register_dataset(name: str | None = None):
    """Decorator: add a loader ``f(*, root, download, **kw) -> DataSplits``."""
    return DATASETS.register(name)


def create_dataset(name: str, *, root: str | None = None, download: bool = False, **kwargs) -> DataSplits:
    """Load a dataset by name (see ``list_datasets()``)."""
    return DATASETS.create(name, root=root, download=download, **kwargs)


def list_datasets() -> list[str]:
    return DATASETS.names()


from noisewalk.data import (  # noqa: E402,F401  (registration)
    cifar,
    cinic,
    digits,
    images,
    mnist,
    speech_commands,
    svhn,
    tiny_imagenet,
    tokens,
)

__all__ = [
    "DATASETS",
    "DataSplits",
    "TensorData",
    "TensorLoader",
    "class_weights",
    "create_dataset",
    "hflip",
    "list_datasets",
    "random_crop",
    "random_crop_flip",
    "register_dataset",
]

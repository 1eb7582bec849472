"""Datasets as tensors, loaded once, and a tensor-resident batch loader.

A dataset is a pair of :class:`TensorData` splits whose images stay as stored
(``uint8`` for image datasets) and are normalized per batch on the device. Batches are
slices of a random permutation; augmentation works on a whole batch at once.
"""

from __future__ import annotations

from noisewalk.data import (  # noqa: F401  (registration)
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
from noisewalk.data.core import (
    DataSplits,
    TensorData,
    TensorLoader,
    class_weights,
    hflip,
    random_crop,
    random_crop_flip,
)
from noisewalk.data.images import image_folder
from noisewalk.data.registry import DATASETS, create_dataset, list_datasets, register_dataset
from noisewalk.data.tensors import from_tensors

__all__ = [
    "DATASETS",
    "DataSplits",
    "TensorData",
    "TensorLoader",
    "class_weights",
    "create_dataset",
    "from_tensors",
    "hflip",
    "image_folder",
    "list_datasets",
    "random_crop",
    "random_crop_flip",
    "register_dataset",
]

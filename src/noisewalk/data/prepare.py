"""A dataset as a recipe asks for it: normalization constants, augmentation, a training subset.

Loaders give a dataset with the training split's statistics and their usual
augmentation. :func:`prepare` applies a :class:`~noisewalk.recipe.DataRecipe` on top:
fixed normalization constants (which decide what a noise level means at the input
site), random crop (padding and fill) and flip, and a fixed random subset of the
training split. :data:`PAPER_DATA` holds the authors' settings for the papers'
datasets; the recipe takes them as its defaults.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from noisewalk.data.core import Augment, DataSplits, hflip, random_crop, random_crop_flip

if TYPE_CHECKING:
    from noisewalk.recipe import DataRecipe

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

PAPER_DATA: dict[str, dict[str, object]] = {
    "mnist": {"mean": (0.0,), "std": (1.0,), "crop_padding": 0, "crop_fill": "zero", "flip": False},
    "fashion_mnist": {"mean": (0.5,), "std": (0.5,), "crop_padding": 4, "crop_fill": "zero", "flip": True},
    "cifar10": {"mean": CIFAR10_MEAN, "std": CIFAR10_STD, "crop_padding": 4, "crop_fill": "zero", "flip": True},
    "svhn": {"mean": CIFAR10_MEAN, "std": CIFAR10_STD, "crop_padding": 4, "crop_fill": "zero", "flip": True},
}
"""The authors' data settings (SPEC §9): MNIST pixels in [0, 1] and nothing else;
Fashion-MNIST random crop (padding 4) and flip, mean 0.5 and std 0.5; CIFAR-10 and SVHN
random crop 32 with padding 4 (torchvision's zero fill) and flip, normalized with the
CIFAR-10 channel mean and standard deviation."""


def _channels(values: list[float], channels: int) -> tuple[float, ...]:
    if len(values) == 1:
        return tuple(values) * channels
    if len(values) != channels:
        raise ValueError(f"normalization needs 1 or {channels} values per channel; got {len(values)}")
    return tuple(values)


def augmentation(padding: int, flip: bool, fill: tuple[float, ...] | None) -> list[Augment]:
    """Random crop with ``padding`` (filled with ``fill`` per channel, None: zeros after
    normalization) and/or a horizontal flip."""
    if padding and flip:
        return [random_crop_flip(padding, fill=fill)]
    if padding:
        return [random_crop(padding, fill=fill)]
    return [hflip] if flip else []


def prepare(data: DataSplits, recipe: DataRecipe) -> DataSplits:
    """``data`` with the normalization, augmentation and training subset ``recipe`` asks for
    (fields left unset keep the loader's own)."""
    channels = data.input_shape[0]
    train, test = data.train, data.test
    if recipe.mean is not None and recipe.std is not None:
        mean, std = _channels(recipe.mean, channels), _channels(recipe.std, channels)
        train = replace(train, mean=mean, std=std, _affine=None)
        test = replace(test, mean=mean, std=std, _affine=None)
    augment = list(data.augment)
    if recipe.crop_padding is not None or recipe.flip is not None:
        fill = None
        if recipe.crop_fill == "zero":  # a zero pixel, normalized
            fill = tuple(-m / s for m, s in zip(train.mean, train.std, strict=True))
        augment = augmentation(recipe.crop_padding or 0, bool(recipe.flip), fill)
    if recipe.train_subset is not None and recipe.train_subset < len(train):
        train = train.subset(recipe.train_subset, seed=0)
    if train is data.train and test is data.test and augment == data.augment:
        return data
    return DataSplits(data.name, train, test, augment=augment)


def prepared_dataset(recipe: DataRecipe, root: str | None = None) -> DataSplits:
    """The dataset of ``recipe``, loaded (from ``root``, else the recipe's) and prepared."""
    from noisewalk.data.registry import create_dataset

    return prepare(create_dataset(recipe.name, root=root if root is not None else recipe.root), recipe)


__all__ = ["PAPER_DATA", "augmentation", "prepare", "prepared_dataset"]

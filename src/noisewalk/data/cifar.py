"""CIFAR-10, from the official python batches or from an image-folder tree of its images.

Looked for under ``root``: the python batches in ``cifar-10-batches-py/`` (where
torchvision downloads them; checked against its MD5 sums), else a PNG (or any image)
tree ``<folder>/{train,test}/<class>/<image>`` in ``cifar10-png/``, ``cifar10/``,
``CIFAR10/``, ``cifar-10/`` or ``root`` itself. Sorted class-folder names give the
canonical label order. ``download=True`` fetches the batches through torchvision.
Trained with random crop (padding 4) and horizontal flip.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from noisewalk.data.cache import cached, fingerprint
from noisewalk.data.core import DataSplits
from noisewalk.data.files import check_md5, data_root, fetch_advice, find_folder, missing
from noisewalk.data.images import arrays_entry, crop_flip, load_image_tree, splits_from_arrays
from noisewalk.data.registry import register_dataset
from noisewalk.errors import DatasetError

BATCHES = "cifar-10-batches-py"
BATCH_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
TREE_NAMES = ("cifar10-png", "cifar10", "CIFAR10", "cifar-10", "CIFAR-10")


def _batch_files() -> tuple[list[tuple[str, str]], list[tuple[str, str]], dict[str, str]]:
    from torchvision.datasets import CIFAR10

    return [tuple(t) for t in CIFAR10.train_list], [tuple(t) for t in CIFAR10.test_list], CIFAR10.meta


def _has_batches(folder: Path) -> bool:
    return all((folder / f).is_file() for f in BATCH_FILES)


def _has_tree(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "test").is_dir()


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise DatasetError(
            f"cannot read {path} ({type(exc).__name__}: {exc}); the file is damaged: download it again"
        ) from None


def _load_batches(folder: Path, *, verify: bool, cache: bool | str | Path | None) -> DataSplits:
    how = fetch_advice("cifar10", folder.parent, again=True)

    def read(files: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for name, md5 in files:
            path = folder / name
            if verify:
                check_md5(path, md5, how=how)
            batch = _unpickle(path)
            try:
                xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(batch["labels"], dtype=np.int64))
            except (KeyError, ValueError) as exc:
                raise DatasetError(f"{path} is not a CIFAR-10 batch ({exc}). {how}") from None
        return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))

    def build() -> dict[str, Any]:
        train_list, test_list, meta = _batch_files()
        meta_path = folder / meta["filename"]
        if verify:
            check_md5(meta_path, meta["md5"], how=how)
        classes = list(_unpickle(meta_path)[meta["key"]])
        return arrays_entry(read(train_list), read(test_list), classes)

    key = fingerprint([folder / f for f in BATCH_FILES], folder, {"verify": verify})
    return splits_from_arrays("cifar10", cached("cifar10", key, build, cache=cache), augment=crop_flip())


@register_dataset("cifar10")
def cifar10(
    *,
    root: str | None = None,
    download: bool = False,
    verify: bool = True,
    cache: bool | str | Path | None = True,
    workers: int | None = None,
) -> DataSplits:
    """CIFAR-10: 50,000 training and 10,000 test images, 3x32x32, 10 classes."""
    base = data_root(root)
    batches = find_folder(base, (BATCHES, f"CIFAR10/{BATCHES}", f"cifar10/{BATCHES}"), _has_batches)
    if batches is not None:
        return _load_batches(batches, verify=verify, cache=cache)
    tree = find_folder(base, TREE_NAMES, _has_tree)
    if tree is not None:
        return load_image_tree(
            "cifar10", tree, train=["train"], test=["test"], augment=crop_flip(), cache=cache, workers=workers
        )
    if download:
        from torchvision.datasets import CIFAR10

        CIFAR10(root=str(base), train=True, download=True)
        return _load_batches(base / BATCHES, verify=verify, cache=cache)
    raise missing(
        base,
        (BATCHES, *TREE_NAMES),
        dataset="cifar10",
        expected=f"the python batches ({BATCHES}/data_batch_1..5, test_batch, batches.meta) or an image tree "
        "train/<class>/<image> and test/<class>/<image>",
        how=fetch_advice("cifar10", base, base / BATCHES),
    )

"""Image datasets: decoding image files into uint8 tensors, image-folder trees, and the
step from decoded arrays to :class:`DataSplits`.

An image-folder tree is ``<folder>/<split>/<class>/<image>`` (the layout of
torchvision's ``ImageFolder``, CINIC-10 and the CIFAR-10 PNG export). Class labels are
the sorted class-folder names. Any image format Pillow reads loads; images are
converted to ``mode`` (``RGB`` or ``L``) and must share one size unless ``size`` asks
for a resize.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from noisewalk.data.cache import cached, fingerprint
from noisewalk.data.core import Augment, DataSplits, TensorData, random_crop_flip
from noisewalk.data.files import chunks, data_root, list_files, missing, parallel_map, root_advice
from noisewalk.data.registry import register_dataset
from noisewalk.errors import DatasetError, spelling
from noisewalk.validate import check_choice

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp")
TEST_NAMES = ("test", "val", "valid", "validation")
"""Split folders taken as the test split when ``test`` is not given, in this order."""


def crop_flip(padding: int = 4) -> list[Augment]:
    """The papers' augmentation for natural images: random crop with padding, then a flip."""
    return [random_crop_flip(padding)]


def channel_stats(x: Tensor, scale: float = 255.0) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of ``x / scale`` (``x`` is N, C, ...)."""
    c = x.shape[1]
    flat = x.transpose(0, 1).reshape(c, -1)
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    for part in flat.split(1 << 24, dim=1):  # bounded memory for large datasets
        v = part.to(torch.float64)
        total += v.sum(1)
        squares += (v * v).sum(1)
    n = flat.shape[1]
    mean = total / n
    std = (squares / n - mean * mean).clamp_min(0).sqrt()
    return tuple((mean / scale).tolist()), tuple((std / scale).tolist())


def splits_from_arrays(
    name: str, entry: dict[str, Any], *, augment: Sequence[Augment] = (), scale: float = 255.0
) -> DataSplits:
    """:class:`DataSplits` from a decoded entry: ``train_x``, ``train_y``, ``test_x``,
    ``test_y``, ``classes``, ``mean``, ``std``."""
    mean, std, classes = tuple(entry["mean"]), tuple(entry["std"]), list(entry["classes"])
    return DataSplits(
        name,
        TensorData(entry["train_x"], entry["train_y"], classes, mean, std, scale),
        TensorData(entry["test_x"], entry["test_y"], classes, mean, std, scale),
        augment=list(augment),
    )


def arrays_entry(train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], classes: list[str]) -> dict[str, Any]:
    """The cache entry of a decoded image dataset, with the training split's statistics."""
    mean, std = channel_stats(train[0])
    return {
        "train_x": train[0],
        "train_y": train[1],
        "test_x": test[0],
        "test_y": test[1],
        "classes": classes,
        "mean": list(mean),
        "std": list(std),
    }


def _decode_chunk(job: tuple[Sequence[str], str, tuple[int, int] | None]) -> np.ndarray | tuple[str, str]:
    """Decode image files into one (N, H, W, C) uint8 array; on failure (path, reason)."""
    from PIL import Image, UnidentifiedImageError

    paths, mode, size = job
    out = None
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                im = im.convert(mode)
                if size is not None and im.size != (size[1], size[0]):
                    im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                a = np.asarray(im)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            return path, f"cannot decode it ({exc})"
        a = a[:, :, None] if a.ndim == 2 else a
        if out is None:
            out = np.empty((len(paths), *a.shape), np.uint8)
        elif a.shape != out.shape[1:]:
            return path, f"its size is {a.shape[1]}x{a.shape[0]} but {paths[0]} is {out.shape[2]}x{out.shape[1]}"
        out[i] = a
    return out


def decode_images(
    files: Sequence[str | Path], *, mode: str = "RGB", size: tuple[int, int] | None = None, workers: int | None = None
) -> Tensor:
    """Decode image files into one uint8 tensor (N, C, H, W), in parallel processes.

    All images must have one size, or pass ``size=(height, width)`` to resize them.
    """
    check_choice("mode", mode, ("RGB", "L"))
    if not files:
        raise DatasetError("no image files to decode")
    jobs = [([str(f) for f in part], mode, size) for part in chunks(files, 1000)]
    parts = parallel_map(_decode_chunk, jobs, workers=workers)
    for part in parts:
        if isinstance(part, tuple):
            path, reason = part
            fix = (
                spelling(" Pass size=(height, width) to resize all images.", " Resize the images to one size.")
                if "size is" in reason
                else (" The file is damaged: replace it from the dataset's source.")
            )
            raise DatasetError(f"image {path}: {reason}.{fix}")
    shapes = {p.shape[1:] for p in parts}
    if len(shapes) > 1:
        raise DatasetError(
            f"the images have different sizes ({', '.join(f'{s[1]}x{s[0]}' for s in sorted(shapes))}); "
            + spelling("pass size=(height, width) to resize them", "resize them to one size")
        )
    return torch.from_numpy(np.concatenate(parts)).permute(0, 3, 1, 2).contiguous()


def scan_split(folder: Path, classes: list[str] | None = None) -> tuple[list[str], list[int], list[str]]:
    """Image files and labels of one split folder ``folder/<class>/...``.

    ``classes`` fixes the label order (a test split uses the training split's); by
    default the sorted class-folder names.
    """
    found = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes is None:
        classes = found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DatasetError(f"{folder} has class folders that the training split lacks: {', '.join(unknown[:5])}")
    files: list[str] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        if not (folder / cls).is_dir():
            continue
        these = list_files(folder / cls, IMAGE_SUFFIXES)
        files += these
        labels += [label] * len(these)
    if not files:
        raise DatasetError(
            f"no images in {folder}; expected {folder}/<class>/<image> with one of {', '.join(IMAGE_SUFFIXES)}"
        )
    return files, labels, classes


def load_image_tree(
    name: str,
    folder: Path,
    *,
    train: Sequence[str],
    test: Sequence[str],
    mode: str = "RGB",
    size: tuple[int, int] | None = None,
    augment: Sequence[Augment] = (),
    cache: bool | str | Path | None = True,
    workers: int | None = None,
) -> DataSplits:
    """An image-folder tree under ``folder``: the ``train`` split folders together form
    the training split, the ``test`` ones the test split; decoded once, then cached."""
    for split in (*train, *test):
        if not (folder / split).is_dir():
            raise DatasetError(f"{folder / split} is missing; expected the split folder {split}/<class>/<image>")
    classes: list[str] | None = None
    sides: dict[str, tuple[list[str], list[int]]] = {}
    for side, splits in (("train", train), ("test", test)):
        files, labels = [], []
        for split in splits:
            f, lab, classes = scan_split(folder / split, classes)
            files += f
            labels += lab
        sides[side] = (files, labels)
    all_files = sides["train"][0] + sides["test"][0]
    settings = {"train": list(train), "test": list(test), "mode": mode, "size": size, "classes": list(classes or [])}
    key = fingerprint(all_files, folder, settings)  # the class list too: an empty class folder changes the labels

    def build() -> dict[str, Any]:
        arrays = {
            side: (decode_images(files, mode=mode, size=size, workers=workers), torch.tensor(labels))
            for side, (files, labels) in sides.items()
        }
        return arrays_entry(arrays["train"], arrays["test"], list(classes or []))

    return splits_from_arrays(name, cached(name, key, build, cache=cache), augment=augment)


@register_dataset("image_folder")
def image_folder(
    *,
    root: str | None = None,
    download: bool = False,
    train: str | Sequence[str] = "train",
    test: str | Sequence[str] | None = None,
    mode: str = "RGB",
    size: tuple[int, int] | None = None,
    augment: bool = False,
    cache: bool | str | Path | None = True,
    workers: int | None = None,
) -> DataSplits:
    """Any image-folder tree ``root/<split>/<class>/<image>``.

    ``test`` defaults to the first of ``test``, ``val``, ``valid``, ``validation`` that
    exists. ``augment=True`` trains with random crop (padding 4) and flip.
    """
    folder = data_root(root)
    if download:
        raise DatasetError("image_folder cannot download: point root at an existing image-folder tree")
    train_splits = [train] if isinstance(train, str) else list(train)
    if test is None:
        test = next((t for t in TEST_NAMES if (folder / t).is_dir()), None)
        if test is None:
            expected = f"split folders {train_splits[0]}/ and one of {', '.join(TEST_NAMES)}/ of <class>/<image>"
            how = root_advice("the folder that holds the split folders")
            raise missing(folder, (), dataset="image folder", expected=expected, how=how)
    test_splits = [test] if isinstance(test, str) else list(test)
    name = f"image_folder:{folder.name}"
    return load_image_tree(
        name,
        folder,
        train=train_splits,
        test=test_splits,
        mode=mode,
        size=size,
        augment=crop_flip() if augment else (),
        cache=cache,
        workers=workers,
    )
